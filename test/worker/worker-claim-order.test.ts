/**
 * A worker starts the jobs of a claim in claim order (priority first, then run time, then id), whatever
 * order the database hands the claimed rows back in: the claim's UPDATE returns the jobs it took back
 * after a lapsed lease before the ready ones, and the worker's start marks count on that order.
 */
import { describe, expect, it } from "vitest";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("a worker's claim order", () => {
    it("starts a lapsed lease's job after the ready jobs of a higher priority claimed with it", async () => {
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "order", name: "lapsed", priority: 0 });
      // Claimed by hand by a worker that went away: its lease lapses at once.
      const [lapsed] = await store.jobs.claim({ queue: "order", workerId: "gone", leaseMs: 1 });
      expect(lapsed?.name).toBe("lapsed");
      await store.jobs.enqueue([
        { queue: "order", name: "urgent", priority: 5, runAt: new Date(Date.now() - 2_000) },
        { queue: "order", name: "later", priority: 5, runAt: new Date(Date.now() - 1_000) },
        { queue: "order", name: "low", priority: 1 },
      ]);
      await until(async () => {
        const { rows } = await store.query<{ lapsed: boolean }>(
          `select lease_expires_at < now() as lapsed from ${store.schema}.jobs where id = $1`,
          [lapsed?.id],
        );
        return rows[0]?.lapsed === true;
      });

      const started: string[] = [];
      // One claim of all four (a worker's first claim asks for twice its concurrency), and the names
      // taken as each handler starts, in the order the worker starts them.
      const worker = store.jobs.work({
        queue: "order",
        concurrency: 2,
        claimConcurrency: 1,
        handler: (job) => {
          started.push(job.name);
        },
      });
      await until(() => worker.counts.completed === 4);
      await worker.stop();
      expect(started).toEqual(["urgent", "later", "low", "lapsed"]);
    });
  });
});
