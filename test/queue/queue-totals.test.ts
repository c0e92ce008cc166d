/**
 * The queue's totals: enqueues (and due timers moved into the queue) count the jobs they add, in
 * their own statement (so a rolled-back enqueue counts nothing and a key's duplicate is not a new job); workers count what they start,
 * complete, fail, see go dead and take back after a lease expired, with how long each job waited
 * since it was due, and add it when they stop; those writes also sum the enqueues' additions in.
 * (Claims, completions and failures by hand count themselves: queue-totals-by-hand.test.ts.)
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

async function totalsOf(store: Store, queue: string) {
  const [totals] = await store.jobs.totals(queue);
  return totals;
}

forEachDriver((driver) => {
  describe("queue totals", () => {
    it("counts the jobs an enqueue adds, not a key's duplicates nor a rolled-back enqueue", async () => {
      const store = await driver.open();
      expect(await store.jobs.totals("fresh")).toEqual([]);
      await store.jobs.enqueue([
        { queue: "fresh", name: "a" },
        { queue: "fresh", name: "b", key: "k" },
        { queue: "other", name: "c" },
      ]);
      await store.jobs.enqueue({ queue: "fresh", name: "b again", key: "k" });
      await expect(
        store.transaction(async (tx) => {
          await tx.jobs.enqueue({ queue: "fresh", name: "rolled back" });
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect((await totalsOf(store, "fresh"))?.enqueued).toBe(2);
      expect((await store.jobs.totals()).map((t) => [t.queue, t.enqueued])).toEqual([
        ["fresh", 2],
        ["other", 1],
      ]);
    });

    it("counts the jobs due timers put in the queue", async () => {
      const store = await driver.open();
      await store.timers.schedule({ name: "remind", queue: "timed", fireAt: new Date(Date.now() - 1_000) });
      await store.timers.schedule({ name: "later", queue: "timed", fireAt: new Date(Date.now() + 60_000) });
      expect(await store.timers.dispatchDue()).toBe(1);
      expect((await totalsOf(store, "timed"))?.enqueued).toBe(1);
    });

    it("counts what a worker starts, completes, fails and sees go dead, and how long jobs waited", async () => {
      const store = await driver.open();
      const queue = "counted";
      await store.jobs.enqueue([
        { queue, name: "ok" },
        { queue, name: "ok" },
        { queue, name: "once", backoff: { baseMs: 0 } },
        { queue, name: "dies", maxAttempts: 1 },
      ]);
      let failedOnce = false;
      const worker = store.jobs.work({
        queue,
        handler: (job) => {
          if (job.name === "dies") throw new Error("always");
          if (job.name === "once" && !failedOnce) {
            failedOnce = true;
            throw new Error("once");
          }
        },
      });
      await until(
        async () => (await store.jobs.stats(queue))[0]?.waiting === 0 && worker.counts.completed === 3,
      );
      await worker.stop();
      const totals = await totalsOf(store, queue);
      expect(totals).toMatchObject({
        enqueued: 4,
        started: 5,
        completed: 3,
        failed: 2,
        dead: 1,
        leaseExpired: 0,
      });
      const wait = totals?.scheduleToStart;
      expect(wait?.count).toBe(5);
      expect(wait?.buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 5 });
      // Cumulative, and every job here started within a minute of being due.
      const counts = wait?.buckets.map((bucket) => bucket.count) ?? [];
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(wait?.buckets.find((bucket) => bucket.le === 60)?.count).toBe(5);
      expect(wait?.sumSeconds).toBeGreaterThanOrEqual(0);
      expect(wait?.sumSeconds).toBeLessThan(5 * 60);
      // The worker's write summed the enqueues' additions into the totals.
      const { rows } = await store.query(
        `select count(*)::int as n from "${store.schema}".queue_total_additions`,
      );
      expect(rows[0]?.n).toBe(0);
    });

    it("counts leases that expired, and a job that went dead with one", async () => {
      const store = await driver.open();
      const queue = "expiring";
      await store.jobs.enqueue([
        { queue, name: "retried", maxAttempts: 3 },
        { queue, name: "last", maxAttempts: 1 },
      ]);
      // A loop that claims by hand (which counts its starts) and is never heard of again.
      expect(await store.jobs.claim({ queue, workerId: "gone", limit: 2, leaseMs: 1 })).toHaveLength(2);
      await until(async () => {
        const { rows } = await store.query<{ n: number }>(
          `select count(*)::int as n from "${store.schema}".jobs where lease_expires_at < now()`,
        );
        return rows[0]?.n === 2;
      });
      const worker = store.jobs.work({ queue, handler: () => {} });
      await until(() => worker.counts.completed === 1);
      await worker.stop();
      expect(await totalsOf(store, queue)).toMatchObject({
        enqueued: 2,
        started: 3,
        completed: 1,
        dead: 1,
        leaseExpired: 2,
      });
      expect((await store.jobs.stats(queue))[0]).toMatchObject({ dead: 1, running: 0, waiting: 0 });
    });
  });
});
