/**
 * A transaction's handle is good for that transaction only. Kept past its end it refuses every call
 * with TransactionEndedError and writes nothing (on a pool it would otherwise run on a connection lent
 * to someone else's transaction); a call left running when the callback returns is waited for, never
 * sent after the commit; and a commit the server turns into a rollback is an error, not a success.
 */
import { describe, expect, it } from "vitest";
import { StoreError, type Transaction, TransactionEndedError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("a finished transaction's handle", () => {
    it("refuses every call once its transaction committed, and writes nothing", async () => {
      // One connection: a kept handle would reach the connection the next transaction holds.
      const store = await driver.open({ pool: { max: 1 } });
      let kept: Transaction | undefined;
      await store.transaction(async (tx) => {
        kept = tx;
        await tx.kv.set("p", "inside", "a");
      });
      const tx = kept as Transaction;
      await expect(tx.kv.set("p", "after", "b")).rejects.toBeInstanceOf(TransactionEndedError);
      await expect(tx.query("select 1")).rejects.toBeInstanceOf(TransactionEndedError);
      await expect(tx.transaction(async () => 1)).rejects.toBeInstanceOf(TransactionEndedError);
      // The same while another transaction holds the pool's one connection and then rolls back.
      await expect(
        store.transaction(async (other) => {
          await other.kv.set("p", "other", "c");
          const late = await tx.kv.set("p", "late", "d").then(
            () => "written",
            (error: unknown) => error,
          );
          expect(late).toBeInstanceOf(TransactionEndedError);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect((await store.kv.list("p")).items.map((e) => e.key)).toEqual(["inside"]);
      const error = await tx.kv.get("p", "inside").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as TransactionEndedError).code).toBe("TRANSACTION_ENDED");
      expect((error as Error).message).toMatch(/transaction .*ended/);
    });

    it("refuses once its transaction rolled back", async () => {
      const store = await driver.open();
      let kept: Transaction | undefined;
      await expect(
        store.transaction(async (tx) => {
          kept = tx;
          throw new Error("no");
        }),
      ).rejects.toThrow("no");
      await expect((kept as Transaction).kv.set("p", "k", "1")).rejects.toBeInstanceOf(TransactionEndedError);
      expect((await store.kv.list("p")).items).toEqual([]);
    });

    it("waits for a call still running when the callback returns, and commits it", async () => {
      const store = await driver.open({ pool: { max: 1 } });
      let written: Promise<unknown> | undefined;
      await store.transaction(async (tx) => {
        // Not awaited, and several statements (a savepoint, two writes, its release): every one must
        // still go before the commit, on this transaction.
        written = tx.transaction(async (inner) => {
          await inner.kv.set("p", "unawaited-1", "n1");
          await inner.kv.set("p", "unawaited-2", "n2");
          return "done";
        });
      });
      await expect(written).resolves.toBe("done");
      expect((await store.kv.list("p")).items.map((e) => e.key)).toEqual(["unawaited-1", "unawaited-2"]);
    });

    it("fails a commit that the server turned into a rollback", async () => {
      const store = await driver.open();
      await store.query(`create table "${store.schema}".items (id int primary key)`);
      await expect(
        store.transaction(async (tx) => {
          await tx.query(`insert into "${store.schema}".items values (1)`);
          // A failed statement whose error is caught leaves the transaction aborted on the server.
          await tx.query(`insert into "${store.schema}".items values (1)`).catch(() => {});
        }),
      ).rejects.toBeInstanceOf(StoreError);
      const { rows } = await store.query(`select * from "${store.schema}".items`);
      expect(rows).toEqual([]);
    });
  });
});
