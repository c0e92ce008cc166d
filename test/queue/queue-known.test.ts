/**
 * Which queues exist: a queue is listed by jobs.stats() (and so by the dashboard, the command and
 * /metrics) from its first enqueue, its limits or its pause, idle or not, until retention removes its
 * counts (idle since the prune's cut, holding no job, no limits, no pause) or it is forgotten
 * (jobs.forget). Its counts never fall while it exists, whatever retention removes of its jobs.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const DAY = 24 * 60 * 60 * 1000;

/** Claims and ends each ready job of `queue` by hand: completed (kept in history), or failed for good. */
async function runByHand(store: Store, queue: string): Promise<void> {
  for (;;) {
    const [job] = await store.jobs.claim({ queue, workerId: "hand" });
    if (!job) return;
    if (job.name === "fails") await store.jobs.fail(job, new Error("gave up"));
    else await store.jobs.complete(job, { keepCompleted: true });
  }
}

/** Folds the counts' additions into queue_totals: a worker does as it stops. */
async function fold(store: Store): Promise<void> {
  await store.jobs.work({ queue: "fold", handler: () => {} }).stop();
}

async function names(store: Store): Promise<string[]> {
  return (await store.jobs.stats()).map((q) => q.queue);
}

forEachDriver((driver) => {
  describe("queues that exist", () => {
    it("lists idle queues: drained ones, one with limits only, one paused only", async () => {
      const store = await driver.open();
      await store.jobs.enqueue([
        { queue: "orders", name: "place" },
        { queue: "orders", name: "place" },
      ]);
      await runByHand(store, "orders");
      await store.jobs.setLimits("ledger", { strictOrder: true });
      await store.jobs.pause("held");
      await store.jobs.enqueue({ queue: "busy", name: "waits" });
      expect(await names(store)).toEqual(["busy", "held", "ledger", "orders"]);
      const [orders] = await store.jobs.stats("orders");
      expect(orders).toMatchObject({
        queue: "orders",
        waiting: 0,
        ready: 0,
        running: 0,
        dead: 0,
        paused: false,
      });
      expect((await store.jobs.stats("held"))[0]).toMatchObject({ waiting: 0, paused: true });
      expect((await store.jobs.limits("ledger")).strictOrder).toBe(true);
      // Still so once the counts are folded into the totals.
      await fold(store);
      expect(await names(store)).toEqual(["busy", "held", "ledger", "orders"]);
      // A queue never used is none of them.
      expect(await store.jobs.stats("never")).toEqual([]);
    });

    it("keeps a queue's counts when retention prunes its jobs, and forgets the queue once idle past the cut", async () => {
      const store = await driver.open();
      await store.jobs.enqueue([
        { queue: "media", name: "transcode" },
        { queue: "media", name: "transcode" },
        { queue: "media", name: "fails", maxAttempts: 1 },
      ]);
      await runByHand(store, "media");
      await store.jobs.enqueue({ queue: "ledger", name: "post" });
      await runByHand(store, "ledger");
      await store.jobs.setLimits("ledger", { strictOrder: true });
      const counts = { enqueued: 3, started: 3, completed: 2, failed: 1, dead: 1 };
      expect((await store.jobs.totals("media"))[0]).toMatchObject(counts);
      // The history and the dead job are old; the counts are not.
      await store.query(`update ${store.schema}.jobs_history set completed_at = now() - interval '2 days'`);
      await store.query(`update ${store.schema}.jobs set updated_at = now() - interval '2 days'`);
      const first = await store.prune({ finishedBefore: new Date(Date.now() - DAY) });
      expect(first).toMatchObject({ jobsHistory: 3, deadJobs: 1, queues: 0 });
      expect((await store.jobs.totals("media"))[0]).toMatchObject(counts);
      expect((await store.jobs.stats("media"))[0]).toMatchObject({ queue: "media", waiting: 0, dead: 0 });

      // Now the counts are old too: the queue goes with them, but not one with limits.
      await fold(store);
      await store.query(`update ${store.schema}.queue_totals set updated_at = now() - interval '2 days'`);
      const second = await store.prune({ finishedBefore: new Date(Date.now() - DAY) });
      expect(second.queues).toBe(1);
      expect(await names(store)).toEqual(["ledger"]);
      expect(await store.jobs.totals("media")).toEqual([]);
      expect((await store.jobs.totals("ledger"))[0]).toMatchObject({ enqueued: 1, completed: 1 });
    });

    it("forgets a queue on request, and refuses while it holds jobs, removing nothing", async () => {
      const store = await driver.open();
      const [done, dead] = await store.jobs.enqueue([
        { queue: "imports", name: "row" },
        { queue: "imports", name: "fails", maxAttempts: 1 },
      ]);
      await store.jobs.setLimits("imports", { groupConcurrency: 2 });
      await store.jobs.pause("imports");
      const refused = await store.jobs.forget("imports").catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ConflictError);
      expect((refused as Error).message).toContain("imports still holds jobs");
      expect((await store.jobs.stats("imports"))[0]).toMatchObject({ waiting: 2, paused: true });
      expect((await store.jobs.limits("imports")).groupConcurrency).toBe(2);
      expect((await store.jobs.totals("imports"))[0]?.enqueued).toBe(2);

      await store.jobs.resume("imports");
      await runByHand(store, "imports");
      expect(await store.jobs.stats("imports")).toMatchObject([{ dead: 1 }]);
      await expect(store.jobs.forget("imports")).rejects.toBeInstanceOf(ConflictError);
      expect(await store.jobs.cancel([dead as string])).toEqual([dead]);
      expect(done).toBeTypeOf("string");
      expect(await store.jobs.forget("imports")).toBe(true);
      expect(await store.jobs.stats()).toEqual([]);
      expect(await store.jobs.totals("imports")).toEqual([]);
      expect(await store.jobs.limits("imports")).toEqual({
        groupConcurrency: null,
        rate: null,
        strictOrder: false,
      });
      expect(await store.jobs.forget("imports")).toBe(false);
      await expect(store.jobs.forget("")).rejects.toBeInstanceOf(ValidationError);
    });
  });
});
