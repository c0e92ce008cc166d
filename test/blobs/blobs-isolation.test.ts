/**
 * Blob puts and big values in repeatable read and serializable transactions. Once such a transaction
 * has its snapshot (a first read, or the row lock an offloaded state takes), content committed on
 * another connection after it is invisible to it: a put there must still store its content, read it
 * back in the transaction, and commit or roll back with it.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import type { IsolationLevel, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const LIMIT = 4096;
const big = (tag: string) => ({ tag, text: tag.repeat(LIMIT) });
const LEVELS: IsolationLevel[] = ["read committed", "repeatable read", "serializable"];

forEachDriver((driver) => {
  describe("blob puts by isolation level", () => {
    let store: Store;
    beforeAll(async () => {
      store = await driver.open({ limits: { offloadAbove: LIMIT } });
    });
    const running = async () =>
      (await store.executions.start({ name: "isolated", status: "running" })).execution.id;

    for (const isolation of LEVELS) {
      it(`puts blobs after the first read of a ${isolation} transaction`, async () => {
        const bytes = randomBytes(3000);
        const streamed = randomBytes(70_000);
        const key = `iso/${isolation}`;
        const read = await store.transaction(
          async (tx) => {
            await tx.blobs.exists("anything");
            await tx.blobs.put(`${key}/bytes`, bytes);
            await tx.blobs.put(
              `${key}/stream`,
              Readable.from([streamed.subarray(0, 9), streamed.subarray(9)]),
            );
            return [await tx.blobs.get(`${key}/bytes`), await tx.blobs.get(`${key}/stream`)];
          },
          { isolation },
        );
        expect(read[0]?.equals(bytes)).toBe(true);
        expect(read[1]?.equals(streamed)).toBe(true);
        expect((await store.blobs.get(`${key}/stream`)).equals(streamed)).toBe(true);
      });

      it(`offloads big values after the first read of a ${isolation} transaction`, async () => {
        const id = await running();
        const back = await store.transaction(
          async (tx) => {
            await tx.executions.get(id);
            await tx.events.append(id, [{ type: "big", payload: big("e") }]);
            await tx.steps.record({ executionId: id, number: 0, name: "s", output: big("s") });
            await tx.executions.update(id, { state: big("a") });
            // A second state: its row lock is taken after the first one's put.
            await tx.executions.update(id, { state: big("b") });
            return {
              event: (await tx.events.get(id, 1)).payload,
              step: (await tx.steps.get(id, 0))?.output,
              state: (await tx.executions.get(id)).state,
            };
          },
          { isolation },
        );
        expect(back).toEqual({ event: big("e"), step: big("s"), state: big("b") });
        expect((await store.executions.get(id)).state).toEqual(big("b"));
        expect((await store.blobs.list(`flowstore:offloaded/${id}/state/`)).items).toHaveLength(1);
      });

      it(`rolls a ${isolation} transaction's puts back with it`, async () => {
        const key = `iso/rolled-back/${isolation}`;
        await expect(
          store.transaction(
            async (tx) => {
              await tx.blobs.exists("anything");
              await tx.blobs.put(key, randomBytes(5000));
              throw new Error("changed my mind");
            },
            { isolation },
          ),
        ).rejects.toThrow("changed my mind");
        expect(await store.blobs.exists(key)).toBe(false);
        // Every chunk left is a blob's or recorded as pending, for collectGarbage() to find.
        const { rows } = await store.query<{ n: number }>(
          `select count(*)::int as n from "${store.schema}".blob_chunks c
           where not exists (select 1 from "${store.schema}".blobs b where b.id = c.blob_id)
             and not exists (select 1 from "${store.schema}".blob_pending p where p.id = c.blob_id)`,
        );
        expect(rows[0]?.n).toBe(0);
      });
    }
  });
});
