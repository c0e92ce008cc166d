/**
 * jobs.workers(): who holds the queue's leases, how many jobs each runs, its latest claim or heartbeat
 * and its soonest lease expiry, and a worker's claims so far; a worker that completes its jobs drops out.
 */
import { describe, expect, it } from "vitest";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("jobs.workers", () => {
    it("lists each worker's leases per queue, and forgets a worker once its jobs are done", async () => {
      const store = await driver.open();
      await store.jobs.enqueue([
        { queue: "a", name: "1" },
        { queue: "a", name: "2" },
        { queue: "a", name: "3" },
        { queue: "b", name: "4" },
      ]);
      const before = new Date(Date.now() - 1_000);
      const first = await store.jobs.claim({ queue: "a", workerId: "w1", limit: 2, leaseMs: 60_000 });
      await store.jobs.claim({ queue: "a", workerId: "w2", limit: 1, leaseMs: 30_000 });
      await store.jobs.claim({ queue: "b", workerId: "w1", limit: 1 });
      const listed = await store.jobs.workers();
      expect(listed.map(({ workerId, queue, running }) => ({ workerId, queue, running }))).toEqual([
        { workerId: "w1", queue: "a", running: 2 },
        { workerId: "w2", queue: "a", running: 1 },
        { workerId: "w1", queue: "b", running: 1 },
      ]);
      const w2 = listed[1];
      expect(w2?.lastSeenAt.getTime()).toBeGreaterThan(before.getTime());
      expect(w2?.nextExpiryAt.getTime()).toBeGreaterThan(Date.now() + 20_000);
      expect(w2?.nextExpiryAt.getTime()).toBeLessThan(Date.now() + 40_000);
      expect(w2?.claims).toBeNull();
      await store.jobs.complete(first);
      expect((await store.jobs.workers("a")).map((w) => w.workerId)).toEqual(["w2"]);
    });

    it("counts a worker's claims, growing with each claim that brings it jobs", async () => {
      const store = await driver.open();
      const release: Array<() => void> = [];
      const worker = store.jobs.work({
        queue: "slow",
        workerId: "counted",
        concurrency: 4,
        handler: () => new Promise<void>((resolve) => release.push(resolve)),
      });
      const claimsNow = async () => (await store.jobs.workers("slow"))[0]?.claims ?? 0;
      await store.jobs.enqueue({ queue: "slow", name: "1" });
      await until(() => release.length === 1);
      const first = await claimsNow();
      expect(first).toBeGreaterThanOrEqual(1);
      await store.jobs.enqueue({ queue: "slow", name: "2" });
      await until(() => release.length === 2);
      expect(await claimsNow()).toBeGreaterThan(first);
      for (const done of release) done();
      await worker.stop();
    });
  });
});
