/**
 * Dedupe keys within one enqueue batch: a batch must leave the table as the same jobs enqueued one call
 * at a time would. A later occurrence of a key with `replace: true` replaces the earlier one's payload,
 * priority and runAt, whether the key is new to the table or a job with it already waits there.
 */
import { describe, expect, it } from "vitest";
import type { EnqueueJob, Job, Store } from "../src/index.js";
import { forEachDriver } from "./harness.js";

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
  });
});
