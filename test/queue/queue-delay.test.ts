/**
 * delayMs and delaySeconds: a job runs no sooner than that many milliseconds (or seconds) after the
 * database's now(), the clock every time of the queue is kept by, never the client's. Per job in a
 * batch; one of runAt, delayMs and delaySeconds at most; a bad delay is a ValidationError and writes
 * nothing.
 */
import { describe, expect, it } from "vitest";
import { type EnqueueJob, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("enqueue with delayMs or delaySeconds", () => {
    it("counts from the database clock, per job of a batch", async () => {
      const store = await driver.open();
      // In a transaction now() stays at its start, while the database sleeps and the client clock
      // moves on: each run_at must be that start plus the job's delay, to the microsecond.
      const runAt = new Date("2030-01-01T00:00:00Z");
      const delays = await store.transaction(async (tx) => {
        await tx.query("select pg_sleep(0.05)");
        const ids = await tx.jobs.enqueue([
          { queue: "q", name: "a", delayMs: 1_500 },
          { queue: "q", name: "b", delayMs: 0.5 },
          { queue: "q", name: "c", delayMs: 0 },
          { queue: "q", name: "d" },
          { queue: "q", name: "e", runAt },
          { queue: "q", name: "f", delaySeconds: 90 },
          { queue: "q", name: "g", delaySeconds: 0.25 },
        ]);
        const { rows } = await tx.query<{ id: string; ms: number }>(
          `select id, (extract(epoch from run_at - now()) * 1000)::float8 as ms
             from ${store.schema}.jobs where id = any($1::uuid[])`,
          [ids],
        );
        return ids.map((id) => rows.find((row) => row.id === id)?.ms);
      });
      expect(delays.slice(0, 4)).toEqual([1_500, 0.5, 0, 0]);
      expect(delays[4]).toBeGreaterThan(0);
      expect(delays.slice(5)).toEqual([90_000, 250]);
    });

    it("keeps a job for later out of claims until due, and a delay of 0 runs at once", async () => {
      const store = await driver.open();
      const later = await store.jobs.enqueue({ queue: "q", name: "later", delayMs: 60_000 });
      const now = await store.jobs.enqueue({ queue: "q", name: "now", delayMs: 0 });
      const claimed = await store.jobs.claim({ queue: "q", workerId: "w", limit: 10 });
      expect(claimed.map((job) => job.id)).toEqual([now]);
      expect(await store.jobs.get(later)).toMatchObject({ status: "waiting" });
      expect((await store.jobs.stats("q"))[0]).toMatchObject({ waiting: 1, ready: 0, running: 1 });
    });

    it("replaces a waiting job's time with the replacing job's delay", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "n", key: "K", runAt: new Date("2030-01-01") });
      await store.transaction(async (tx) => {
        const { rows } = await tx.query<{ start: Date }>("select now() as start");
        expect(await tx.jobs.enqueue({ queue: "q", name: "n", key: "K", delayMs: 0, replace: true })).toBe(
          id,
        );
        const start = rows[0]?.start as Date;
        expect((await tx.jobs.get(id)).runAt.getTime()).toBe(start.getTime());
      });
      const [a, b] = await store.jobs.enqueue([
        { queue: "q", name: "n", key: "L", delayMs: 60_000 },
        { queue: "q", name: "n", key: "L", delayMs: 0, replace: true },
      ]);
      expect(b).toBe(a);
      expect((await store.jobs.claim({ queue: "q", workerId: "w", limit: 10 })).map((j) => j.id)).toEqual([
        id,
        a,
      ]);
    });

    it("refuses a bad delay, or a delay with runAt, with a ValidationError and writes nothing", async () => {
      const store = await driver.open();
      const bad: unknown[] = [
        -1,
        -0.001,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        1000 * 365.25 * 24 * 3600 * 1000 + 1,
        Number.MAX_VALUE,
        "1000",
        1000n,
        null,
        {},
      ];
      for (const delayMs of bad) {
        const job = { queue: "q", name: "n", delayMs } as unknown as EnqueueJob;
        await expect(store.jobs.enqueue(job), String(delayMs)).rejects.toMatchObject({
          constructor: ValidationError,
          field: "job.delayMs",
        });
        // One bad job refuses the whole batch.
        await expect(
          store.jobs.enqueue([{ queue: "q", name: "ok" }, job]),
          String(delayMs),
        ).rejects.toMatchObject({ constructor: ValidationError, field: "jobs[1].delayMs" });
      }
      for (const delaySeconds of [...bad, 365.25 * 24 * 3600 * 1000 + 1]) {
        const job = { queue: "q", name: "n", delaySeconds } as unknown as EnqueueJob;
        await expect(store.jobs.enqueue(job), String(delaySeconds)).rejects.toMatchObject({
          constructor: ValidationError,
          field: "job.delaySeconds",
        });
      }
      await expect(
        store.jobs.enqueue({ queue: "q", name: "n", delayMs: 10, runAt: new Date() }),
      ).rejects.toMatchObject({ constructor: ValidationError, field: "job.delayMs" });
      const both = await store.jobs
        .enqueue([
          { queue: "q", name: "ok" },
          { queue: "q", name: "n", delayMs: 10, delaySeconds: 1 },
        ])
        .catch((error: unknown) => error);
      expect(both).toMatchObject({ constructor: ValidationError, field: "jobs[1].delaySeconds" });
      expect((both as Error).message).toContain(
        "give one of runAt, delayMs and delaySeconds, not delayMs and delaySeconds",
      );
      expect(await store.jobs.list()).toEqual([]);
      // The longest delay is taken, and reads back as a date within the years every date keeps to.
      const longest = await store.jobs.enqueue({
        queue: "q",
        name: "n",
        delayMs: 1000 * 365.25 * 24 * 3600 * 1000,
      });
      expect((await store.jobs.get(longest)).runAt.getUTCFullYear()).toBeLessThan(9999);
    });
  });
});
