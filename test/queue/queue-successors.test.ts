/**
 * Keys with whileRunning: "after". While the job with a key waits (or is scheduled), enqueueing the key
 * returns it, or replaces it; while it runs and none waits, the new job is its successor: waiting, but
 * claimed only once the running job has left the queue for good (completed, dead or cancelled). A
 * failure that will be retried does not count: the retry runs first. A key never has two jobs running.
 */
import { describe, expect, it } from "vitest";
import { type EnqueueJob, type LeasedJob, type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

/** A job with key K (unless given) that runs after a running job with its key. */
const keyed = (job: Partial<EnqueueJob> = {}): EnqueueJob => ({
  queue: "q",
  name: "sync",
  key: "K",
  whileRunning: "after",
  ...job,
});

async function claimOne(store: Store): Promise<LeasedJob> {
  const [job, ...more] = await store.jobs.claim({ queue: "q", workerId: "w" });
  expect(more).toEqual([]);
  if (!job) throw new Error("nothing to claim");
  return job;
}

async function nothingToClaim(store: Store): Promise<void> {
  expect(await store.jobs.claim({ queue: "q", workerId: "w", limit: 10 })).toEqual([]);
}

/** Nothing can be claimed while `running` runs; once it completes, `next` is claimed. */
async function claimedAfter(store: Store, running: LeasedJob, next: string): Promise<LeasedJob> {
  await nothingToClaim(store);
  await store.jobs.complete(running);
  const claimed = await claimOne(store);
  expect(claimed.id).toBe(next);
  return claimed;
}

/** A job with key K (unless given), enqueued and claimed. */
async function runningJob(store: Store, job: Partial<EnqueueJob> = {}): Promise<LeasedJob> {
  const id = await store.jobs.enqueue(keyed(job));
  const running = await claimOne(store);
  expect(running.id).toBe(id);
  return running;
}

/** The job with key K running, and its successor. */
async function runningWithSuccessor(
  store: Store,
  job: Partial<EnqueueJob> = {},
): Promise<{ running: LeasedJob; successor: string }> {
  const running = await runningJob(store, { payload: "first", ...job });
  const successor = await store.jobs.enqueue(keyed({ payload: "second" }));
  expect(successor).not.toBe(running.id);
  return { running, successor };
}

forEachDriver((driver) => {
  describe("a successor behind a running job (whileRunning: after)", () => {
    it("dedupes while the job with the key waits or is scheduled, and replaces when asked", async () => {
      const store = await driver.open();
      const waiting = await store.jobs.enqueue(keyed({ payload: 1 }));
      expect(await store.jobs.enqueue(keyed({ payload: 2 }))).toBe(waiting);
      expect(await store.jobs.enqueue(keyed({ payload: 3, replace: true }))).toBe(waiting);
      expect(await store.jobs.get(waiting)).toMatchObject({ payload: 3, status: "waiting" });
      const scheduled = await store.jobs.enqueue(keyed({ key: "S", delayMs: 60_000 }));
      expect(await store.jobs.enqueue(keyed({ key: "S" }))).toBe(scheduled);
      expect(await store.jobs.list({ queue: "q" })).toHaveLength(2);
    });

    it("queues one successor while the job runs, claimed only once it completes", async () => {
      const store = await driver.open();
      const { running, successor } = await runningWithSuccessor(store);
      // Callers see the successor waiting, but not ready: no claim takes it.
      expect(await store.jobs.get(successor)).toMatchObject({ status: "waiting", payload: "second" });
      expect((await store.jobs.stats("q"))[0]).toMatchObject({ waiting: 1, ready: 0, running: 1 });
      expect((await store.jobs.list({ queue: "q", status: "waiting" })).map((j) => j.id)).toEqual([
        successor,
      ]);
      await nothingToClaim(store);
      // While it waits, the key meets it, whatever the mode: one successor at most.
      expect(await store.jobs.enqueue(keyed({ payload: "third" }))).toBe(successor);
      expect(await store.jobs.enqueue({ queue: "q", name: "sync", key: "K" })).toBe(successor);
      expect(await store.jobs.enqueue(keyed({ payload: "replaced", replace: true }))).toBe(successor);
      const next = await claimedAfter(store, running, successor);
      expect(next).toMatchObject({ payload: "replaced", attempts: 1 });
      // It holds the key in turn, and gets a successor of its own.
      const third = await store.jobs.enqueue(keyed({ payload: "third" }));
      expect(third).not.toBe(successor);
      await claimedAfter(store, next, third);
    });

    // The holder's completing transaction began before the successor was enqueued: its now() is
    // earlier than the successor's run time, which must not count as "due later" (scheduled, and left
    // to a worker's next poll, with no wake-up).
    it.skipIf(!driver.concurrent)(
      "releases a successor enqueued while the completing transaction was open as ready, not scheduled",
      async () => {
        const store = await driver.open();
        const running = await runningJob(store, { payload: "first" });
        let successor = "";
        await store.transaction(async (tx) => {
          await tx.query("select now()"); // the transaction's time is taken here
          successor = await store.jobs.enqueue(keyed({ payload: "second" }));
          await tx.jobs.complete(running);
        });
        const { rows } = await store.query<{ status: string }>(
          `select status from "${store.schema}".jobs where id = $1`,
          [successor],
        );
        expect(rows).toEqual([{ status: "waiting" }]);
      },
    );

    it("a worker runs the successor after the job it follows, woken by its release", async () => {
      const store = await driver.open();
      const seen: string[] = [];
      // A poll interval far longer than the test: only the release's notification can start the successor.
      const worker = store.jobs.work({
        queue: "q",
        concurrency: 4,
        pollIntervalMs: 600_000,
        handler: async (job) => {
          seen.push(`start ${job.payload}`);
          if (job.payload === 1) {
            // The key enqueued again while its job runs: a successor, not a second run at once.
            const next = await store.jobs.enqueue(keyed({ payload: 2 }));
            if (next === job.id) throw new Error("the running job came back");
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          seen.push(`end ${job.payload}`);
        },
      });
      await store.jobs.enqueue(keyed({ payload: 1 }));
      await until(() => seen.length === 4, 10_000);
      await worker.stop();
      expect(seen).toEqual(["start 1", "end 1", "start 2", "end 2"]);
    });

    it("refuses a whileRunning other than dedupe or after, writing nothing", async () => {
      const store = await driver.open();
      for (const whileRunning of ["later", "", "AFTER", 1, null]) {
        const job = keyed({ whileRunning: whileRunning as "after" });
        await expect(store.jobs.enqueue(job)).rejects.toMatchObject({
          constructor: ValidationError,
          field: "job.whileRunning",
        });
        await expect(store.jobs.enqueue([keyed({ key: "ok" }), job])).rejects.toMatchObject({
          constructor: ValidationError,
          field: "jobs[1].whileRunning",
        });
      }
      expect(await store.jobs.list()).toEqual([]);
    });

    it("without whileRunning, a running job's key still returns it", async () => {
      const store = await driver.open();
      const first = await store.jobs.enqueue({ queue: "q", name: "sync", key: "K" });
      await claimOne(store);
      expect(await store.jobs.enqueue({ queue: "q", name: "sync", key: "K" })).toBe(first);
      expect(await store.jobs.enqueue({ queue: "q", name: "sync", key: "K", whileRunning: "dedupe" })).toBe(
        first,
      );
      expect(await store.jobs.list({ queue: "q" })).toHaveLength(1);
    });

    it("after a failure that will be retried, the retry runs first and the successor after it", async () => {
      const store = await driver.open();
      const { running, successor } = await runningWithSuccessor(store, { backoff: { baseMs: 0 } });
      expect(await store.jobs.fail(running, new Error("try again"))).toMatchObject({ status: "waiting" });
      // The retry waits; a key enqueued now meets the successor, the job that runs last.
      expect(await store.jobs.enqueue(keyed({ payload: "again", replace: true }))).toBe(successor);
      const retry = await claimOne(store);
      expect(retry).toMatchObject({ id: running.id, attempts: 2, payload: "first" });
      await nothingToClaim(store);
      // Failing again with a retry later: still the retry's turn, not the successor's.
      const retryAt = new Date(Date.now() + 60_000);
      await store.jobs.fail(retry, new Error("later"), { retryAt });
      await nothingToClaim(store);
      await store.query(`update ${store.schema}.jobs set run_at = now() where id = $1`, [running.id]);
      const third = await claimOne(store);
      expect(third.id).toBe(running.id);
      await store.jobs.complete(third, { keepCompleted: true });
      expect(await claimOne(store)).toMatchObject({ id: successor, payload: "again" });
    });

    it("runs the successor once the running job goes dead, by failing or by its lease expiring", async () => {
      const store = await driver.open();
      const { running, successor } = await runningWithSuccessor(store, { maxAttempts: 1 });
      expect(await store.jobs.fail(running, new Error("fatal"))).toMatchObject({ status: "dead" });
      const next = await claimOne(store);
      expect(next.id).toBe(successor);
      // The successor now runs on its last attempt; its own successor waits for it.
      const third = await store.jobs.enqueue(keyed({ payload: "third" }));
      await store.query(`update ${store.schema}.jobs set max_attempts = 1 where id = $1`, [successor]);
      await store.query(
        `update ${store.schema}.jobs set lease_expires_at = now() - interval '1 second' where id = $1`,
        [successor],
      );
      // This claim finds the lease expired on the last attempt: the job goes dead, its successor is free.
      await nothingToClaim(store);
      expect((await store.jobs.get(successor)).status).toBe("dead");
      expect((await claimOne(store)).id).toBe(third);
    });

    it("runs the successor once the running job is cancelled or handed back and completed", async () => {
      const store = await driver.open();
      const { running, successor } = await runningWithSuccessor(store);
      // Handed back, the job waits again and runs again before its successor.
      await store.jobs.release(running);
      const again = await claimOne(store);
      expect(again.id).toBe(running.id);
      await store.jobs.cancel([running.id]);
      const next = await claimOne(store);
      expect(next.id).toBe(successor);
      // A cancelled successor leaves its place free for the next one.
      const third = await store.jobs.enqueue(keyed());
      expect(await store.jobs.cancel([third])).toEqual([third]);
      const fourth = await store.jobs.enqueue(keyed());
      expect(fourth).not.toBe(third);
      await claimedAfter(store, next, fourth);
    });

    it("a successor enqueued for later becomes scheduled, not ready, when its turn comes", async () => {
      const store = await driver.open();
      const running = await runningJob(store);
      const later = await store.jobs.enqueue(keyed({ delayMs: 60_000 }));
      await store.jobs.complete(running);
      await nothingToClaim(store);
      expect(await store.jobs.get(later)).toMatchObject({ status: "waiting" });
      expect((await store.jobs.stats("q"))[0]).toMatchObject({ waiting: 1, ready: 0 });
    });

    it("in a batch, a key takes one slot, and keys of other jobs go their own way", async () => {
      const store = await driver.open();
      const held = (await runningJob(store, { key: "A" })).id;
      const waiting = await store.jobs.enqueue(keyed({ key: "B" }));
      const ids = await store.jobs.enqueue([
        keyed({ key: "A", payload: 1 }),
        keyed({ key: "B", payload: 2 }),
        keyed({ key: "A", payload: 3, replace: true }),
        { queue: "q", name: "plain" },
      ]);
      expect(ids[0]).not.toBe(held);
      expect(ids[2]).toBe(ids[0]);
      expect(ids[1]).toBe(waiting);
      expect(await store.jobs.get(ids[0] as string)).toMatchObject({ payload: 3, key: "A" });
      // Ready: B's job and the plain one; A's successor waits for A's running job.
      const ready = await store.jobs.claim({ queue: "q", workerId: "w", limit: 10 });
      expect(ready.map((j) => j.id).sort()).toEqual([waiting, ids[3]].sort());
    });

    it("enqueued in a transaction that rolls back, no successor is left", async () => {
      const store = await driver.open();
      const running = await runningJob(store, { key: "T" });
      await expect(
        store.transaction(async (tx) => {
          await tx.jobs.enqueue(keyed({ key: "T" }));
          throw new Error("rolled back");
        }),
      ).rejects.toThrow("rolled back");
      expect(await store.jobs.list({ queue: "q" })).toHaveLength(1);
      await store.jobs.complete(running);
      await nothingToClaim(store);
    });

    if (driver.concurrent) {
      it("makes one successor under 20 concurrent enqueues, while its job runs or as it completes", async () => {
        const store = await driver.open({ pool: { max: 21 } });
        const enqueueMany = () =>
          Promise.all(Array.from({ length: 20 }, (_, i) => store.jobs.enqueue(keyed({ payload: i }))));
        const first = await store.jobs.enqueue(keyed());
        const running = await claimOne(store);
        const ids = await enqueueMany();
        expect(new Set(ids).size).toBe(1);
        expect(ids[0]).not.toBe(first);
        expect(await store.jobs.list({ queue: "q" })).toHaveLength(2);
        // Completing the running job while the key is enqueued again: whatever comes first, the
        // enqueues meet the successor (waiting or blocked), and nothing else is made.
        const successor = ids[0] as string;
        const [more] = await Promise.all([enqueueMany(), store.jobs.complete(running)]);
        expect(new Set(more)).toEqual(new Set([successor]));
        expect((await store.jobs.list({ queue: "q" })).map((job) => job.id)).toEqual([successor]);
        expect((await claimOne(store)).id).toBe(successor);
      });

      it("never runs two jobs with one key at once, with several claimers and enqueuers", async () => {
        const store = await driver.open({ pool: { max: 12 } });
        const keys = ["k0", "k1", "k2", "k3"];
        const running = new Map<string, string>(); // key -> the job a claimer holds with it
        const overlaps: string[] = [];
        const done = new Set<string>();
        const enqueued = new Set<string>();
        let enqueuing = true;
        // Each key starts out running, so the first enqueues of each key make successors for certain.
        // Retried at once (no backoff), so the test never waits for a retry to come due.
        const job = (key: string, payload?: unknown) =>
          keyed({ key, payload, maxAttempts: 3, backoff: { baseMs: 0 } });
        await store.jobs.enqueue(keys.map((key) => job(key)));
        const first = await store.jobs.claim({ queue: "q", workerId: "first", limit: keys.length });
        expect(first).toHaveLength(keys.length);
        for (const held of first) running.set(held.key as string, held.id);
        const successors = await store.jobs.enqueue(keys.map((key) => job(key)));
        const { rows: blocked } = await store.query<{ n: number }>(
          `select count(*)::int as n from ${store.schema}.jobs where id = any($1::uuid[]) and status = 'blocked'`,
          [successors],
        );
        expect(blocked[0]?.n).toBe(keys.length);
        for (const id of successors) enqueued.add(id);
        const releaseFirst = (async () => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          for (const held of first) {
            running.delete(held.key as string);
            await store.jobs.complete(held);
            done.add(held.id);
          }
        })();
        const enqueuers = Array.from({ length: 3 }, async (_, e) => {
          for (let i = 0; i < 60; i++) {
            const key = keys[(i + e) % keys.length] as string;
            const id = await store.jobs.enqueue(job(key, { e, i }));
            enqueued.add(id);
          }
        });
        const claimers = Array.from({ length: 6 }, async (_, w) => {
          for (let round = 0; ; round++) {
            const jobs = await store.jobs.claim({ queue: "q", workerId: `w${w}`, limit: 2 });
            if (jobs.length === 0) {
              if (!enqueuing && ((await store.jobs.stats("q"))[0]?.waiting ?? 0) === 0) return;
              await new Promise((resolve) => setTimeout(resolve, 5));
              continue;
            }
            for (const claimed of jobs) {
              const key = claimed.key as string;
              const other = running.get(key);
              if (other !== undefined) overlaps.push(`${key}: ${other} and ${claimed.id}`);
              running.set(key, claimed.id);
            }
            await new Promise((resolve) => setTimeout(resolve, 1));
            for (const [i, claimed] of jobs.entries()) {
              // Let go of the key before the job ends: its successor cannot be claimed before that.
              running.delete(claimed.key as string);
              // Now and then a run fails and is retried: the retry, too, runs alone.
              if ((round + i + w) % 4 === 0 && claimed.attempts < claimed.maxAttempts) {
                await store.jobs.fail(claimed, new Error("retry me"));
              } else {
                await store.jobs.complete(claimed);
                done.add(claimed.id);
              }
            }
          }
        });
        await Promise.all([...enqueuers, releaseFirst]);
        enqueuing = false;
        await Promise.all(claimers);
        expect(overlaps).toEqual([]);
        // Every id an enqueue returned ran to completion; nothing is left behind.
        expect([...enqueued].filter((id) => !done.has(id))).toEqual([]);
        expect(await store.jobs.list({ queue: "q" })).toEqual([]);
      });
    }
  });
});
