/**
 * The queue's side of retention and recovery: prune() deletes old dead jobs from the hot table, and
 * retry() revives dead jobs without tripping over a dedupe key that a newer job holds again.
 */
import { describe, expect, it } from "vitest";
import type { EnqueueJob, PruneResult, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const DAY = 24 * 60 * 60 * 1000;

/** Enqueues the jobs with one attempt each, claims and fails them: they are dead, in input order. */
async function deadJobs(store: Store, jobs: Array<Omit<EnqueueJob, "maxAttempts">>): Promise<string[]> {
  const ids: string[] = [];
  for (const job of jobs) {
    const id = await store.jobs.enqueue({ ...job, maxAttempts: 1 });
    const [leased] = await store.jobs.claim({ queue: job.queue, workerId: "w" });
    expect(leased?.id).toBe(id);
    await store.jobs.fail(leased as NonNullable<typeof leased>, new Error("gave up"));
    ids.push(id);
  }
  return ids;
}

/** Makes the jobs look last changed `days` ago. */
async function age(store: Store, ids: string[], days: number): Promise<void> {
  await store.query(
    `update ${store.schema}.jobs set updated_at = now() - $2::int * interval '1 day', created_at = now() - $2::int * interval '1 day'
      where id = any($1::uuid[])`,
    [ids, days],
  );
}

async function statusOf(store: Store, ids: string[]): Promise<Record<string, string>> {
  const { rows } = await store.query<{ id: string; status: string }>(
    `select id, status from ${store.schema}.jobs where id = any($1::uuid[])`,
    [ids],
  );
  return Object.fromEntries(rows.map((row) => [row.id, row.status]));
}

forEachDriver((driver) => {
  describe("prune and dead jobs", () => {
    /** Dead jobs on both sides of the cut, old live jobs, and old dead jobs of a running or a gone execution. */
    async function world(store: Store) {
      const def = await store.definitions.create({ name: "d", definition: {}, status: "active" });
      const { execution: running } = await store.executions.start({
        definitionId: def.id,
        status: "running",
      });
      const oldDead = await deadJobs(
        store,
        Array.from({ length: 5 }, (_, i) => ({ queue: `q${i % 2}`, name: `old-${i}` })),
      );
      // Its execution is gone (or never was): it goes by its own age, like completed-job history.
      const [ofGone] = await deadJobs(store, [
        { queue: "q0", name: "of-gone", executionId: crypto.randomUUID() },
      ]);
      // Its execution is still running: it stays with the execution, however old.
      const [ofRunning] = await deadJobs(store, [
        { queue: "q0", name: "of-running", executionId: running.id },
      ]);
      const youngDead = await deadJobs(store, [{ queue: "q0", name: "young" }]);
      const live = await store.jobs.enqueue([
        { queue: "q0", name: "waiting" },
        { queue: "q1", name: "running" },
      ]);
      await store.jobs.claim({ queue: "q1", workerId: "w" });
      const goes = [...oldDead, ofGone as string];
      await age(store, [...goes, ofRunning as string, ...live], 40);
      await age(store, youngDead, 1);
      return { goes, stays: [ofRunning as string, ...youngDead, ...live] };
    }

    it("deletes dead jobs last changed before the cut, in batches, and leaves the rest", async () => {
      const store = await driver.open();
      const { goes, stays } = await world(store);
      const seen: Array<Pick<PruneResult, "deadJobs" | "batches">> = [];
      const result = await store.prune({
        finishedBefore: new Date(Date.now() - 30 * DAY),
        batchSize: 2,
        onProgress: async (progress) => {
          // Between batches, outside any transaction: each batch is committed.
          const { rows } = await store.query<{ n: number }>(
            `select count(*)::int as n from ${store.schema}.jobs where id = any($1::uuid[])`,
            [goes],
          );
          expect(rows[0]?.n).toBe(goes.length - progress.deadJobs);
          seen.push({ deadJobs: progress.deadJobs, batches: progress.batches });
        },
      });
      expect(result).toMatchObject({ executions: 0, jobs: 0, deadJobs: 6, batches: 3 });
      expect(seen).toEqual([
        { deadJobs: 2, batches: 1 },
        { deadJobs: 4, batches: 2 },
        { deadJobs: 6, batches: 3 },
      ]);
      expect(await statusOf(store, goes)).toEqual({});
      expect(Object.values(await statusOf(store, stays)).sort()).toEqual([
        "dead",
        "dead",
        "running",
        "waiting",
      ]);
      // A later cut takes the young one too; the running execution's and the live ones stay.
      expect((await store.prune({ finishedBefore: new Date() })).deadJobs).toBe(1);
      expect(Object.keys(await statusOf(store, stays))).toHaveLength(3);
    });

    it("leaves dead jobs alone when the prune leaves failed executions alone", async () => {
      const store = await driver.open();
      const { goes } = await world(store);
      const result = await store.prune({
        finishedBefore: new Date(Date.now() - 30 * DAY),
        statuses: ["completed", "cancelled"],
      });
      expect(result.deadJobs).toBe(0);
      expect(Object.keys(await statusOf(store, goes))).toHaveLength(goes.length);
      expect(
        (await store.prune({ finishedBefore: new Date(Date.now() - 30 * DAY), statuses: ["failed"] }))
          .deadJobs,
      ).toBe(goes.length);
    });

    it("counts the dead jobs of a pruned execution with its jobs", async () => {
      const store = await driver.open();
      const def = await store.definitions.create({ name: "d", definition: {}, status: "active" });
      const { execution } = await store.executions.start({ definitionId: def.id, status: "running" });
      const [dead] = await deadJobs(store, [{ queue: "q", name: "step", executionId: execution.id }]);
      await store.executions.fail(execution.id, { message: "step died" });
      const result = await store.prune({ finishedBefore: new Date(Date.now() + 1_000) });
      expect(result).toMatchObject({ executions: 1, jobs: 1, deadJobs: 0 });
      expect(await statusOf(store, [dead as string])).toEqual({});
    });

    it("stops after the batch in progress when the signal aborts", async () => {
      const store = await driver.open();
      const { goes } = await world(store);
      const stop = new AbortController();
      const result = await store.prune({
        finishedBefore: new Date(Date.now() - 30 * DAY),
        batchSize: 2,
        signal: stop.signal,
        onProgress: () => stop.abort(),
      });
      expect(result).toMatchObject({ deadJobs: 2, batches: 1 });
      expect(Object.keys(await statusOf(store, goes))).toHaveLength(goes.length - 2);
    });
  });

  describe("retry and dedupe keys", () => {
    it("revives the dead jobs it can and leaves dead those whose key a live job holds again", async () => {
      const store = await driver.open();
      const [keyed, plain, keyedRunning, free] = await deadJobs(store, [
        { queue: "q", name: "sync", key: "user-1" },
        { queue: "q", name: "plain" },
        { queue: "q", name: "sync", key: "user-2" },
        { queue: "q", name: "sync", key: "user-3" },
      ]);
      // New jobs took user-1 (waiting) and user-2 (running); user-3 is free. The same key in another queue is no clash.
      const waiting = await store.jobs.enqueue({ queue: "q", name: "sync", key: "user-1" });
      await store.jobs.enqueue({
        queue: "q",
        name: "sync",
        key: "user-2",
        runAt: new Date(Date.now() - 1_000),
      });
      await store.jobs.claim({ queue: "q", workerId: "w" });
      await store.jobs.enqueue({ queue: "other", name: "sync", key: "user-3" });
      const ids = [keyed, plain, keyedRunning, free] as string[];
      const revived = await store.jobs.retry(ids);
      expect(revived.sort()).toEqual([plain, free].sort());
      expect(await statusOf(store, ids)).toEqual({
        [keyed as string]: "dead",
        [plain as string]: "waiting",
        [keyedRunning as string]: "dead",
        [free as string]: "waiting",
      });
      expect((await store.jobs.get(waiting)).status).toBe("waiting");
      // Once the key is free again, the skipped job can be revived.
      await store.jobs.cancel([waiting]);
      expect(await store.jobs.retry([keyed as string])).toEqual([keyed]);
    });

    it("revives only one of several dead jobs sharing a key, the newest", async () => {
      const store = await driver.open();
      const [older, newer, other] = await deadJobs(store, [
        { queue: "q", name: "sync", key: "user-1", payload: 1 },
        { queue: "q", name: "sync", key: "user-1", payload: 2 },
        { queue: "q", name: "sync", key: "user-2" },
      ]);
      const ids = [older, newer, other] as string[];
      expect((await store.jobs.retry(ids)).sort()).toEqual([newer, other].sort());
      expect(await statusOf(store, ids)).toEqual({
        [older as string]: "dead",
        [newer as string]: "waiting",
        [other as string]: "waiting",
      });
      // Asked again, the older one stays dead while the newer one holds the key.
      expect(await store.jobs.retry(ids)).toEqual([]);
    });
  });
});
