/**
 * jobs.stats() stays cheap at any size: each count is exact up to a bound read through its status's
 * index and estimated above it (named in `estimated`), the queues are found by skipping through the
 * indexes, and the oldest ready job is a probe per priority. No statement of it reads the jobs table
 * whole.
 */
import { describe, expect, it } from "vitest";
import { type LeasedJob, ValidationError } from "../../src/index.js";
import { expectNoSeqScan, openRecording } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("jobs.stats", () => {
    it("counts each status of each queue, and the oldest ready job across priorities", async () => {
      const store = await driver.open();
      const hourAgo = new Date(Date.now() - 3_600_000);
      await store.jobs.enqueue([
        { queue: "a", name: "low", priority: -5, runAt: hourAgo },
        { queue: "a", name: "high", priority: 5 },
        { queue: "a", name: "high2", priority: 5 },
        { queue: "a", name: "later", runAt: new Date(Date.now() + 60_000) },
        { queue: "b", name: "b", maxAttempts: 1 },
        { queue: "c", name: "keyed", key: "k" },
      ]);
      const [failing] = await store.jobs.claim({ queue: "b", workerId: "w" });
      await store.jobs.fail(failing as LeasedJob, new Error("no"));
      await store.jobs.claim({ queue: "c", workerId: "w" });
      await store.jobs.enqueue({ queue: "c", name: "keyed", key: "k", whileRunning: "after" });
      const stats = await store.jobs.stats();
      expect(stats.map(({ oldestReadyAgeSeconds: _, ...counts }) => counts)).toEqual([
        { queue: "a", waiting: 4, ready: 3, running: 0, dead: 0, estimated: [], paused: false },
        { queue: "b", waiting: 0, ready: 0, running: 0, dead: 1, estimated: [], paused: false },
        // The second keyed job waits blocked behind the first, which runs.
        { queue: "c", waiting: 1, ready: 0, running: 1, dead: 0, estimated: [], paused: false },
      ]);
      // The oldest ready job of "a" is the low-priority one, an hour old, behind two newer ones.
      expect(stats[0]?.oldestReadyAgeSeconds).toBeGreaterThan(3_590);
      expect(stats[1]?.oldestReadyAgeSeconds).toBeNull();
      expect(await store.jobs.stats("c")).toHaveLength(1);
      expect(await store.jobs.stats("none")).toEqual([]);
    });

    it("estimates above exactUpTo from the statistics of (queue, status), and says which", async () => {
      const store = await driver.open();
      await store.jobs.enqueue(Array.from({ length: 300 }, () => ({ queue: "big", name: "x" })));
      await store.jobs.enqueue(Array.from({ length: 3 }, () => ({ queue: "small", name: "x" })));
      await store.jobs.claim({ queue: "big", workerId: "w", limit: 20 });
      await store.query(`analyze ${store.schema}.jobs`);
      const [big, small] = await store.jobs.stats(undefined, { exactUpTo: 50 });
      expect(big?.estimated).toEqual(["waiting", "ready"]);
      // ANALYZE read every row of so small a table: the estimate is the count.
      expect(big).toMatchObject({ waiting: 280, ready: 280, running: 20 });
      expect(small).toMatchObject({ waiting: 3, ready: 3, estimated: [] });
      for (const exactUpTo of [-1, 1.5, 2_000_000]) {
        await expect(store.jobs.stats(undefined, { exactUpTo })).rejects.toBeInstanceOf(ValidationError);
      }
    });

    it("reads no table whole, however many jobs wait", async () => {
      const { store, planOf } = await openRecording(driver, (sql) => sql.includes("in_waiting"));
      for (let i = 0; i < 4; i++) {
        await store.jobs.enqueue(
          Array.from({ length: 5_000 }, (_, n) => ({ queue: `q${n % 3}`, name: "x" })),
        );
      }
      await store.query(`analyze ${store.schema}.jobs`);
      const plan = await planOf(() => store.jobs.stats(undefined, { exactUpTo: 100 }), { analyze: true });
      expectNoSeqScan(plan, "jobs.stats");
      // Three queues, five statuses: a few hundred entries of the indexes, not 20,000 rows.
      expect(plan.blocks).toBeLessThan(400);
    });
  });
});
