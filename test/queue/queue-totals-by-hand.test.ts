/**
 * The queue's totals when an engine runs its own loop (claim, complete, fail by hand, no worker): each
 * call counts what it did in its own statement, so the totals and /metrics tell what each queue has
 * done whichever way its jobs ran; a worker's runs, which the worker counts itself, are not counted twice.
 */
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import type { LeasedJob, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const TOKEN = "totals-by-hand-token";

async function totalsOf(store: Store, queue: string) {
  const [totals] = await store.jobs.totals(queue);
  return totals;
}

/** The samples of /metrics for `queue`, by name without the labels. */
async function metricsOf(store: Store, queue: string): Promise<Map<string, number>> {
  const dashboard = await serveDashboard(store, { port: 0, token: TOKEN, logger: silentLogger, env: {} });
  open.push(dashboard);
  const response = await fetch(new URL("metrics", dashboard.url), {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.status).toBe(200);
  const values = new Map<string, number>();
  const label = `{queue="${queue}"}`;
  for (const line of (await response.text()).split("\n")) {
    const at = line.lastIndexOf(" ");
    const name = line.slice(0, at);
    if (name.endsWith(label)) values.set(name.slice(0, -label.length), Number(line.slice(at + 1)));
  }
  return values;
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

forEachDriver((driver) => {
  describe("queue totals of an engine's own loop", () => {
    it("count claims, completions and failures by hand, in jobs.totals() and /metrics", async () => {
      const store = await driver.open();
      const queue = "by-hand";
      await store.jobs.enqueue([
        { queue, name: "done", priority: 3 },
        { queue, name: "dies", priority: 2, maxAttempts: 1 },
        { queue, name: "held", priority: 1 },
      ]);
      const [done, dies, held] = (await store.jobs.claim({ queue, workerId: "engine", limit: 3 })) as [
        LeasedJob,
        LeasedJob,
        LeasedJob,
      ];
      expect([done.name, dies.name, held.name]).toEqual(["done", "dies", "held"]);
      await store.jobs.complete(done);
      expect((await store.jobs.fail(dies, new Error("no"))).status).toBe("dead");
      const totals = await totalsOf(store, queue);
      expect(totals).toMatchObject({
        enqueued: 3,
        started: 3,
        completed: 1,
        failed: 1,
        dead: 1,
        leaseExpired: 0,
      });
      // Each claimed job waited well under a minute since it was due.
      expect(totals?.scheduleToStart.count).toBe(3);
      expect(totals?.scheduleToStart.buckets.find((bucket) => bucket.le === 60)?.count).toBe(3);
      expect(totals?.scheduleToStart.sumSeconds).toBeLessThan(3 * 60);

      const metrics = await metricsOf(store, queue);
      expect(metrics.get("flowstore_jobs_started_total")).toBe(3);
      expect(metrics.get("flowstore_jobs_completed_total")).toBe(1);
      expect(metrics.get("flowstore_jobs_failed_total")).toBe(1);
      expect(metrics.get("flowstore_jobs_dead_total")).toBe(1);
      expect(metrics.get("flowstore_jobs_schedule_to_start_seconds_count")).toBe(3);
    });

    it("count a failure that will be retried, and leases that expired, as taken back by hand", async () => {
      const store = await driver.open();
      const queue = "retaken";
      await store.jobs.enqueue([
        { queue, name: "again", maxAttempts: 3, backoff: { baseMs: 0 } },
        { queue, name: "last", maxAttempts: 1 },
      ]);
      const [again] = (await store.jobs.claim({ queue, workerId: "engine" })) as [LeasedJob];
      expect((await store.jobs.fail(again, new Error("once"))).status).toBe("waiting");
      // Both claimed by a loop that is never heard of again, with a lease that runs out at once.
      expect(await store.jobs.claim({ queue, workerId: "gone", limit: 2, leaseMs: 1 })).toHaveLength(2);
      let retaken: LeasedJob[] = [];
      await until(async () => {
        retaken = await store.jobs.claim({ queue, workerId: "engine", limit: 2 });
        return retaken.length > 0;
      });
      // The job out of attempts went dead in that claim; the other one runs again.
      expect(retaken.map((job) => job.name)).toEqual(["again"]);
      await store.jobs.complete(retaken);
      expect(await totalsOf(store, queue)).toMatchObject({
        enqueued: 2,
        started: 4,
        completed: 1,
        failed: 1,
        dead: 1,
        leaseExpired: 2,
      });
    });

    it("count a completion kept in history, a job a release sends dead, and a long wait", async () => {
      const store = await driver.open();
      const queue = "kept";
      const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
      await store.jobs.enqueue([
        { queue, name: "kept", priority: 1 },
        { queue, name: "abandoned", maxAttempts: 1, runAt: twoHoursAgo },
      ]);
      const [kept, abandoned] = (await store.jobs.claim({ queue, workerId: "engine", limit: 2 })) as [
        LeasedJob,
        LeasedJob,
      ];
      expect([kept.name, abandoned.name]).toEqual(["kept", "abandoned"]);
      await store.jobs.complete(kept, { keepCompleted: true });
      await store.jobs.release(abandoned, { countAttempt: true });
      expect((await store.jobs.get(abandoned.id)).status).toBe("dead");
      const totals = await totalsOf(store, queue);
      expect(totals).toMatchObject({ started: 2, completed: 1, failed: 0, dead: 1 });
      // The job due two hours before its claim is past the histogram's last bound, an hour.
      const buckets = totals?.scheduleToStart.buckets ?? [];
      expect(buckets.find((bucket) => bucket.le === 3600)?.count).toBe(1);
      expect(buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 2 });
      expect(totals?.scheduleToStart.sumSeconds).toBeGreaterThanOrEqual(2 * 3600);
    });

    it("count nothing that rolled back", async () => {
      const store = await driver.open();
      const queue = "rolled-back";
      await store.jobs.enqueue({ queue, name: "n", maxAttempts: 1 });
      await expect(
        store.transaction(async (tx) => {
          const [job] = (await tx.jobs.claim({ queue, workerId: "engine" })) as [LeasedJob];
          await tx.jobs.fail(job, new Error("no"));
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await totalsOf(store, queue)).toMatchObject({ started: 0, failed: 0, dead: 0 });
    });

    for (const transactional of [false, true]) {
      it(`count a worker's runs once${transactional ? " (transactional)" : ""}`, async () => {
        const store = await driver.open();
        const queue = `worked-${transactional}`;
        await store.jobs.enqueue([
          { queue, name: "ok" },
          { queue, name: "ok" },
          { queue, name: "dies", maxAttempts: 1 },
        ]);
        const worker = store.jobs.work({
          queue,
          transactional,
          handler: (job) => {
            if (job.name === "dies") throw new Error("always");
          },
        });
        await until(() => worker.counts.completed === 2 && worker.counts.failed === 1);
        await worker.stop();
        expect(await totalsOf(store, queue)).toMatchObject({
          enqueued: 3,
          started: 3,
          completed: 2,
          failed: 1,
          dead: 1,
          leaseExpired: 0,
        });
        expect((await totalsOf(store, queue))?.scheduleToStart.count).toBe(3);
      });
    }
  });
});
