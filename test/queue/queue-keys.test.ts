/**
 * Dedupe keys within one enqueue batch: a batch must leave the table as the same jobs enqueued one call
 * at a time would. A later occurrence of a key with `replace: true` replaces the earlier one's payload,
 * priority and runAt, whether the key is new to the table or a job with it already waits there.
 */
import { describe, expect, it } from "vitest";
import type { EnqueueJob, Job, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

async function waitingWithKey(store: Store, key: string): Promise<Job[]> {
  const jobs = await store.jobs.list({ queue: "q", limit: 100 });
  return jobs.filter((job) => job.key === key);
}

const later = (ms: number) => new Date(Date.now() + ms);

forEachDriver((driver) => {
  describe("dedupe keys within one batch", () => {
    it("a later occurrence with replace replaces a key new to the table", async () => {
      const store = await driver.open();
      const runAt = later(60_000);
      const ids = await store.jobs.enqueue([
        { queue: "q", name: "n", key: "K", payload: 1, priority: 1 },
        { queue: "q", name: "n", key: "K", replace: true, payload: 2, priority: 7, runAt },
      ]);
      expect(ids[0]).toBe(ids[1]);
      const [job, ...others] = await waitingWithKey(store, "K");
      expect(others).toEqual([]);
      expect(job).toMatchObject({ id: ids[0], payload: 2, priority: 7, status: "waiting" });
      expect(job?.runAt.getTime()).toBe(runAt.getTime());
    });

    it("a later occurrence with replace replaces a job already waiting with the key", async () => {
      const store = await driver.open();
      const waiting = await store.jobs.enqueue({ queue: "q", name: "n", key: "K", payload: 0 });
      const runAt = later(60_000);
      const ids = await store.jobs.enqueue([
        { queue: "q", name: "n", key: "K", payload: 1, priority: 1 },
        { queue: "q", name: "n", key: "K", replace: true, payload: 2, priority: 7, runAt },
      ]);
      expect(ids).toEqual([waiting, waiting]);
      const [job, ...others] = await waitingWithKey(store, "K");
      expect(others).toEqual([]);
      expect(job).toMatchObject({ id: waiting, payload: 2, priority: 7, status: "waiting" });
      expect(job?.runAt.getTime()).toBe(runAt.getTime());
    });

    it("replace wins whichever occurrence carries it, as one call per job would have it", async () => {
      const store = await driver.open();
      // Each case runs against a table where the key is new, and one where a job with it waits.
      const cases: { name: string; batch: Omit<EnqueueJob, "queue" | "name" | "key">[] }[] = [
        { name: "first replaces", batch: [{ replace: true, payload: 1 }, { payload: 2 }] },
        { name: "middle replaces", batch: [{ payload: 1 }, { replace: true, payload: 2 }, { payload: 3 }] },
        { name: "last replaces", batch: [{ payload: 1 }, { payload: 2 }, { replace: true, payload: 3 }] },
        {
          name: "all replace",
          batch: [
            { replace: true, payload: 1 },
            { replace: true, payload: 2 },
          ],
        },
        { name: "none replaces", batch: [{ payload: 1 }, { payload: 2 }] },
      ];
      for (const { name, batch } of cases) {
        for (const existing of [false, true]) {
          const key = `${name}:${existing}`;
          const jobs = batch.map((job) => ({ queue: "q", name: "n", key, ...job }));
          // The same jobs one call at a time, under another key: what the batch must match.
          const oneByOne = `${key}:one-by-one`;
          if (existing) {
            await store.jobs.enqueue({ queue: "q", name: "n", key, payload: 0 });
            await store.jobs.enqueue({ queue: "q", name: "n", key: oneByOne, payload: 0 });
          }
          for (const job of jobs) await store.jobs.enqueue({ ...job, key: oneByOne });
          const ids = await store.jobs.enqueue(jobs);
          expect(new Set(ids).size, key).toBe(1);
          const [expected] = await waitingWithKey(store, oneByOne);
          const found = await waitingWithKey(store, key);
          expect(
            found.map((job) => [job.id, job.payload]),
            key,
          ).toEqual([[ids[0], expected?.payload]]);
        }
      }
    });

    it("replace in a batch leaves a running job alone, as it does one call at a time", async () => {
      const store = await driver.open();
      const running = await store.jobs.enqueue({ queue: "q", name: "n", key: "K", payload: 0 });
      await store.jobs.claim({ queue: "q", workerId: "w" });
      const ids = await store.jobs.enqueue([
        { queue: "q", name: "n", key: "K", payload: 1 },
        { queue: "q", name: "n", key: "K", replace: true, payload: 2 },
      ]);
      expect(ids).toEqual([running, running]);
      expect(await store.jobs.get(running)).toMatchObject({ status: "running", payload: 0 });
    });

    it("a batch of ten or more (sent as arrays) leaves the same jobs as small batches (sent as records)", async () => {
      const executionId = "01890a5d-ac96-774b-bcce-b302099a8057";
      const jobs: EnqueueJob[] = [
        { queue: "q", name: "a", payload: { x: 1, text: 'with "quotes", é and \\' }, priority: 3 },
        { queue: "q", name: "b" },
        { queue: "q", name: "c", payload: null },
        { queue: "q", name: "d", runAt: new Date("2031-01-01T00:00:00Z") },
        { queue: "q", name: "e", delayMs: 1_500 },
        { queue: "q", name: "f", delaySeconds: 90 },
        { queue: "q", name: "g", key: "k1", payload: 1 },
        { queue: "q", name: "g", key: "k1", payload: 2 },
        { queue: "q", name: "g", key: "k2", payload: 1 },
        { queue: "q", name: "g", key: "k2", payload: 3, replace: true, priority: 9 },
        { queue: "q", name: "h", executionId, maxAttempts: 3, backoff: { baseMs: 10, maxMs: 100 } },
        { queue: "s", name: "next", key: "k3", whileRunning: "after", payload: "second" },
      ];
      const leftBy = async (batchSize: number) => {
        const store = await driver.open();
        // A running job with key k3, for the last job to follow.
        await store.jobs.enqueue({ queue: "s", name: "first", key: "k3" });
        await store.jobs.claim({ queue: "s", workerId: "w", limit: 1 });
        const ids: string[] = [];
        for (let i = 0; i < jobs.length; i += batchSize) {
          ids.push(...(await store.jobs.enqueue(jobs.slice(i, i + batchSize))));
        }
        const { rows } = await store.query(
          `select queue, name, payload, status, priority, max_attempts, backoff_base_ms, backoff_max_ms, key,
                  execution_id, case when name <> 'd' then (extract(epoch from run_at - created_at) * 1000)::float8 end as delay_ms,
                  case when name = 'd' then run_at end as run_at
             from "${store.schema}".jobs order by queue, name, key, payload::text`,
        );
        return { rows, repeats: ids.map((id) => ids.indexOf(id)) };
      };
      // In pairs, so that each key's two jobs still share a batch.
      const small = await leftBy(2);
      const large = await leftBy(jobs.length);
      expect(large).toEqual(small);
      expect(small.repeats).toEqual([0, 1, 2, 3, 4, 5, 6, 6, 8, 8, 10, 11]);
      expect(small.rows).toHaveLength(11); // twelve jobs, two of them deduped, and the running one
      expect(small.rows).toContainEqual(expect.objectContaining({ name: "next", status: "blocked" }));
      expect(small.rows).toContainEqual(
        expect.objectContaining({ name: "g", key: "k2", payload: 3, priority: 9 }),
      );
      expect(small.rows).toContainEqual(expect.objectContaining({ name: "f", delay_ms: 90_000 }));
    });
  });
});
