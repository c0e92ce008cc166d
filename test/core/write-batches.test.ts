/**
 * Starts by name and finishes of executions made at the same time, outside a transaction, share
 * statements and commits. Each call is still answered as if it had gone alone: the same row, the same
 * error (compared here with the same call made inside a transaction, where nothing is batched), and a
 * refused call writes nothing and keeps the others of its batch from nothing.
 */
import { describe, expect, it } from "vitest";
import { WriteBatcher } from "../../src/core/write-batch.js";
import { ConflictError, NotFoundError, type Store, StoreError, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { statementLog } from "../support/waiting.js";

/** The error class a call gets when it goes alone, in a transaction rolled back after it. */
async function aloneError(store: Store, call: (scope: Store["executions"]) => Promise<unknown>) {
  const rolledBack = new Error("roll back");
  const error = await store
    .transaction(async (tx) => {
      await call(tx.executions);
      throw rolledBack;
    })
    .catch((e: unknown) => e);
  expect(error).not.toBe(rolledBack);
  return (error as Error).constructor;
}

forEachDriver((driver) => {
  describe("batched starts and finishes", () => {
    it("starts made together share a statement; a refused one fails alone, as it would alone", async () => {
      const log = statementLog();
      const store = await driver.open({ logStatements: true, logger: log });
      await store.definitions.create({ name: "draft-only", definition: {}, status: "draft" });
      const taken = (await store.executions.start({ name: "plain", idempotencyKey: "k-1" })).execution;
      const takenId = { name: "plain", id: taken.id };
      const noActive = { name: "draft-only" };
      const expected = {
        takenId: await aloneError(store, (x) => x.start(takenId)),
        noActive: await aloneError(store, (x) => x.start(noActive)),
      };
      expect(expected.takenId).toBe(ConflictError);
      expect(expected.noActive).toBe(NotFoundError);

      log.sql.length = 0;
      const good = Array.from({ length: 12 }, (_, i) =>
        store.executions.start({ name: "plain", input: { i } }),
      );
      const results = await Promise.allSettled([
        ...good,
        store.executions.start(takenId),
        store.executions.start(noActive),
        store.executions.start({ name: "plain", idempotencyKey: "k-1" }),
      ]);
      const inserts = log.sql.filter((sql) => sql.includes("insert into")).length;
      // The first goes alone, the rest together; the taken id and the taken key then go alone once
      // each (the start of a name with no active version inserts nothing, and looks the name up).
      expect(inserts).toBeLessThanOrEqual(2 + 2 + 1);
      for (const [i, result] of results.slice(0, 12).entries()) {
        expect(result).toMatchObject({
          status: "fulfilled",
          value: { created: true, execution: { input: { i } } },
        });
      }
      const [id, active, key] = results.slice(12);
      expect(id).toMatchObject({ status: "rejected", reason: expect.any(expected.takenId) });
      expect(active).toMatchObject({ status: "rejected", reason: expect.any(expected.noActive) });
      expect(key).toMatchObject({
        status: "fulfilled",
        value: { created: false, execution: { id: taken.id } },
      });
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".executions`,
      );
      expect(rows[0]?.n).toBe(13);
    });

    it("finishes made together share a statement; a stale or second finish is a conflict and writes nothing", async () => {
      const log = statementLog();
      const store = await driver.open({ logStatements: true, logger: log });
      const runs = await Promise.all(
        Array.from({ length: 10 }, () => store.executions.start({ name: "plain", status: "running" })),
      );
      const ids = runs.map((run) => run.execution.id);
      log.sql.length = 0;
      const results = await Promise.allSettled([
        ...ids
          .slice(0, 8)
          .map((id, i) => (i % 2 ? store.executions.fail(id, { i }) : store.executions.complete(id, { i }))),
        // A second finish of a run finished in the same moment: one of the two wins.
        store.executions.fail(ids[0] as string, "second"),
        store.executions.complete(ids[8] as string, "stale", { expectedVersion: 0 }),
      ]);
      const updates = log.sql.filter((sql) => sql.includes("update")).length;
      expect(updates).toBeLessThanOrEqual(2 + 2 * 2);
      for (const [i, result] of results.slice(0, 8).entries()) {
        expect(result).toMatchObject({
          status: "fulfilled",
          value: i % 2 ? { status: "failed", error: { i } } : { status: "completed", output: { i } },
        });
      }
      expect(results[8]).toMatchObject({ status: "rejected", reason: expect.any(ConflictError) });
      expect(results[9]).toMatchObject({ status: "rejected", reason: expect.any(ConflictError) });
      expect(await store.executions.get(ids[0] as string)).toMatchObject({
        status: "completed",
        output: { i: 0 },
      });
      expect(await store.executions.get(ids[8] as string)).toMatchObject({ status: "running", version: 1 });
    });

    it.skipIf(!driver.concurrent)(
      "two stores finishing the same runs at once: each run finishes once, the other call is a conflict",
      async () => {
        const one = await driver.open();
        const two = await driver.open({ schema: one.schema });
        const runs = await Promise.all(
          Array.from({ length: 24 }, () => one.executions.start({ name: "raced", status: "running" })),
        );
        const ids = runs.map((run) => run.execution.id);
        const results = await Promise.allSettled(
          ids.flatMap((id) => [one.executions.complete(id, "one"), two.executions.fail(id, "two")]),
        );
        for (const [i, id] of ids.entries()) {
          const [byOne, byTwo] = [results[2 * i], results[2 * i + 1]];
          const won = [byOne, byTwo].filter((r) => r?.status === "fulfilled");
          expect(won, id).toHaveLength(1);
          const lost = byOne?.status === "rejected" ? byOne : byTwo;
          expect(lost).toMatchObject({ status: "rejected", reason: expect.any(ConflictError) });
          const stored = await one.executions.get(id);
          expect(stored.version).toBe(2);
          expect(stored.status).toBe(byOne?.status === "fulfilled" ? "completed" : "failed");
        }
      },
    );

    it("a statement refused for one row's sake sends each write alone; any other failure is every write's", async () => {
      const store = await driver.open();
      const t = `"${store.schema}".batch_probe`;
      await store.query(`create table ${t} (x int primary key check (x >= 0))`);
      let statements = 0;
      const batcher = new WriteBatcher<number, number>(async (xs) => {
        statements++;
        const { rows } = await store.query<{ x: number }>(
          `insert into ${t} select unnest($1::int[]) returning x`,
          [xs],
        );
        const written = new Set(rows.map((row) => row.x));
        return xs.map((x) => (written.has(x) ? x : undefined));
      }, String);
      const written = await Promise.all([0, 1, -1, 2, 2].map((x) => batcher.write(x)));
      // 0 alone; then 1, -1 and 2 together, refused for -1's sake, so none of them is written and
      // each caller is told to write alone; the second 2 waits for the next batch, and writes.
      expect(written).toEqual([0, undefined, undefined, undefined, 2]);
      expect(statements).toBe(3);
      expect((await store.query(`select x from ${t} order by x`)).rows).toEqual([{ x: 0 }, { x: 2 }]);

      const broken = new WriteBatcher<number, number>(async () => {
        await store.query("select * from a_table_that_is_not_there");
        return [];
      }, String);
      const results = await Promise.allSettled([1, 2, 3].map((x) => broken.write(x)));
      for (const result of results) {
        expect(result).toMatchObject({ status: "rejected", reason: expect.any(StoreError) });
        expect((result as PromiseRejectedResult).reason).not.toBeInstanceOf(ValidationError);
      }
    });
  });
});
