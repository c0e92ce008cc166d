/**
 * Jobs enqueued one at a time outside a transaction share statements and commits with the others of
 * the moment (src/queue/enqueue/enqueue.ts), each caller still answered as if it had gone alone: its
 * own job's id, once that job has committed. Jobs of one key never share a statement, so they meet in
 * the table as they would one after another.
 */
import { describe, expect, it } from "vitest";
import { type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { statementLog } from "../support/waiting.js";

const inserts = (sql: string[]) => sql.filter((statement) => /insert into \S+\.jobs\b/.test(statement));

async function payloads(store: Store, queue: string): Promise<unknown[]> {
  const { rows } = await store.query<{ payload: unknown }>(
    `select payload from ${store.schema}.jobs where queue = $1 order by id`,
    [queue],
  );
  return rows.map((row) => row.payload);
}

forEachDriver((driver) => {
  describe("enqueues made at the same time", () => {
    it("share statements, each answered with its own job's id", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      log.sql.length = 0;
      const ids = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.jobs.enqueue({ queue: "q", name: "n", payload: { i } })),
      );
      // The first goes out alone; the others gather while it is on its way.
      expect(inserts(log.sql).length).toBeLessThanOrEqual(3);
      expect(new Set(ids).size).toBe(20);
      for (const [i, id] of ids.entries()) expect((await store.jobs.get(id)).payload).toEqual({ i });
    });

    it("of one key meet in the table as one after another would: the first makes it, a replace replaces it", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      log.sql.length = 0;
      const [first, again, replaced, other] = await Promise.all([
        store.jobs.enqueue({ queue: "k", name: "n", key: "a", payload: 1 }),
        store.jobs.enqueue({ queue: "k", name: "n", key: "a", payload: 2 }),
        store.jobs.enqueue({ queue: "k", name: "n", key: "a", payload: 3, replace: true }),
        store.jobs.enqueue({ queue: "k", name: "n", key: "b", payload: 4 }),
      ]);
      expect([again, replaced]).toEqual([first, first]);
      expect(other).not.toBe(first);
      expect((await store.jobs.get(first as string)).payload).toBe(3);
      expect(await payloads(store, "k")).toHaveLength(2);
      // A key's three enqueues went one statement after another, never together.
      expect(inserts(log.sql).length).toBeGreaterThanOrEqual(3);
    });

    it("leave out a job refused before it is sent: the others are written, the refused one is not", async () => {
      const store = await driver.open();
      const results = await Promise.allSettled([
        store.jobs.enqueue({ queue: "v", name: "n", payload: 1 }),
        store.jobs.enqueue({ queue: "v", name: "n", payload: "bad \u0000 text" }),
        store.jobs.enqueue({ queue: "v", name: "n", payload: 3 }),
      ]);
      expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(ValidationError);
      expect((await payloads(store, "v")).sort()).toEqual([1, 3]);
    });

    it("in a transaction go with it, one statement each, and roll back with it", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      log.sql.length = 0;
      await expect(
        store.transaction(async (tx) => {
          await Promise.all([1, 2, 3].map((i) => tx.jobs.enqueue({ queue: "t", name: "n", payload: i })));
          throw new Error("rolled back");
        }),
      ).rejects.toThrow("rolled back");
      expect(inserts(log.sql)).toHaveLength(3);
      expect(await payloads(store, "t")).toEqual([]);
    });
  });
});
