/**
 * A worker keeps claims cheap after a burst. Each claimed job's row is rewritten and each finished
 * job's row deleted, and the index entries of those old rows stay until a VACUUM: every claim's index
 * scan steps over all of them at the head of its queue. Autovacuum comes up to a minute later, so a
 * worker that drained a burst vacuums the table itself.
 */
import { describe, expect, it } from "vitest";
import type { LeasedJob, Store } from "../../src/index.js";
import { openRecording } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const BURST = 4_000;

/** Pages a one-job claim of the queue reads (a probe job is enqueued for it to find). */
async function claimPages(
  store: Store,
  planOf: Awaited<ReturnType<typeof openRecording>>["planOf"],
  queue: string,
): Promise<number> {
  await store.jobs.enqueue({ queue, name: "probe" });
  let probe: LeasedJob[] = [];
  const plan = await planOf(
    async () => {
      probe = await store.jobs.claim({ queue, workerId: "probe", limit: 1 });
    },
    { analyze: true },
  );
  // Completed, not left leased: its lease (30 s) lapsed in the middle of a burst slowed past that by a
  // loaded machine, the worker took the probe back and counted it, and the count went past BURST.
  if (probe.length) await store.jobs.complete(probe);
  return plan.blocks;
}

/** The queue's jobs, counted by status and whether they are leased. */
async function jobsOf(store: Store, queue: string) {
  const { rows } = await store.query(
    `select status, lease_owner is not null as leased, count(*)::int as n from "${store.schema}".jobs
      where queue = $1 group by 1, 2 order by 1, 2`,
    [queue],
  );
  return rows;
}

/**
 * Runs a burst through a worker, and returns the worker once the burst is done. A worker vacuums when
 * it finds the queue drained, which may be at a later poll (a vacuum in the burst's middle holds the
 * next one off for a few seconds), so a test that shows the vacuum's effect stops the worker after.
 */
async function drainBurst(store: Store, queue: string, vacuumAfterJobs: number | undefined) {
  await store.jobs.enqueue(
    Array.from({ length: BURST }, (_, i) => ({ queue, name: "burst", payload: { i } })),
  );
  // The burst alone: a job left leased beside it (a probe claimed by hand, see claimPages) is taken
  // back by the worker once its lease lapses, and counted among the burst's completions.
  expect(await jobsOf(store, queue)).toEqual([{ status: "waiting", leased: false, n: BURST }]);
  const worker = store.jobs.work({ queue, concurrency: 8, vacuumAfterJobs, handler: () => {} });
  // About 13 s on PGlite alone, 30-40 s with both cores busy beside it. Past BURST rather than at it:
  // a count that went past (a job counted that was not the burst's) fails now, not after the wait.
  await until(() => worker.counts.completed >= BURST, 150_000).catch(async () => {
    throw new Error(
      `the burst did not drain: worker counts ${JSON.stringify(worker.counts)}, jobs ${JSON.stringify(await jobsOf(store, queue))}`,
    );
  });
  expect(worker.counts.completed).toBe(BURST);
  return worker;
}

// What a vacuum removes depends on every transaction running on the server: not the shared one.
forEachDriver(
  (driver) => {
    describe("a worker after a burst", () => {
      it("leaves a claim reading a handful of pages, as on a fresh queue", { timeout: 200_000 }, async () => {
        const { store, planOf } = await openRecording(driver, (sql) => /update .*jobs j/is.test(sql));
        const fresh = await claimPages(store, planOf, "burst");
        // Autovacuum may not do the worker's work instead (PGlite runs none).
        await store.query(`alter table ${store.schema}.jobs set (autovacuum_enabled = false)`);
        const worker = await drainBurst(store, "burst", undefined);
        // The worker goes on while the claims are measured (a probe it takes first is fine: a claim
        // that finds none reads the same index).
        let pages = Number.POSITIVE_INFINITY;
        await until(async () => {
          pages = await claimPages(store, planOf, "burst");
          return pages <= fresh + 10;
        }).catch(async () => {
          // What to look at should it fail: whether, and when, the table was vacuumed.
          const { rows } = await store.query(
            `select n_dead_tup, vacuum_count, last_vacuum, clock_timestamp() as now from pg_stat_user_tables
              where schemaname = $1 and relname = 'jobs'`,
            [store.schema],
          );
          throw new Error(
            `a claim after the burst read ${pages} pages, against ${fresh} on a fresh queue (jobs: ${JSON.stringify(rows[0])})`,
          );
        });
        expect(pages).toBeLessThanOrEqual(fresh + 10);
        await worker.stop();
      });

      // A vacuum before the last completions land leaves their rows (they are not dead yet), and the
      // worker does not vacuum again until vacuumAfterJobs more jobs have finished.
      it.skipIf(!driver.concurrent)("vacuums only once its last completions have landed", async () => {
        const store = await driver.open();
        const jobs = `"${store.schema}".jobs`;
        await store.query(`alter table ${jobs} set (autovacuum_enabled = false)`);
        await store.jobs.enqueue([
          ...Array.from({ length: 20 }, (_, i) => ({ queue: "landed", name: "burst", payload: { i } })),
          { queue: "landed", name: "last", priority: -1 },
        ]);
        let lastStarted!: (id: string) => void;
        const last = new Promise<string>((resolve) => (lastStarted = resolve));
        let locked!: () => void;
        const lockTaken = new Promise<void>((resolve) => (locked = resolve));
        const worker = store.jobs.work({
          queue: "landed",
          concurrency: 1,
          pollIntervalMs: 50,
          vacuumAfterJobs: 5,
          handler: async (job) => {
            if (job.name !== "last") return;
            lastStarted(job.id);
            await lockTaken;
          },
        });
        try {
          const lastId = await last;
          // The last job's completion waits for this transaction's lock on its row, while the worker,
          // with nothing else to do, polls ten times or more.
          const releasedAt = await store.transaction(async (tx) => {
            await tx.query(`select 1 from ${jobs} where id = $1 for update`, [lastId]);
            locked();
            await new Promise((resolve) => setTimeout(resolve, 600));
            const { rows } = await tx.query<{ at: Date }>("select clock_timestamp() as at");
            return rows[0]?.at as Date;
          });
          await until(async () => {
            const { rows } = await store.query<{ after: boolean }>(
              `select coalesce(last_vacuum >= $1, false) as after from pg_stat_user_tables
                where schemaname = $2 and relname = 'jobs'`,
              [releasedAt, store.schema],
            );
            return rows[0]?.after === true;
          }, 15_000);
          expect(worker.counts.completed).toBe(21);
        } finally {
          await worker.stop();
        }
      });

      it("does not vacuum with vacuumAfterJobs: 0, so a claim steps over the burst's old entries", {
        timeout: 360_000,
      }, async () => {
        const { store, planOf } = await openRecording(driver, (sql) => /update .*jobs j/is.test(sql));
        // Nor may autovacuum (PGlite runs none).
        await store.query(`alter table ${store.schema}.jobs set (autovacuum_enabled = false)`);
        const fresh = await claimPages(store, planOf, "unvacuumed");
        await (await drainBurst(store, "unvacuumed", 0)).stop();
        // The burst's jobs leave dozens of index pages of old entries behind (autovacuum is a minute
        // away): well past the handful over a fresh queue's that the vacuumed queue is held to above.
        expect(await claimPages(store, planOf, "unvacuumed")).toBeGreaterThan(fresh + 20);
      });

      it("refuses a vacuumAfterJobs that is not a whole number of jobs", async () => {
        const store = await driver.open();
        for (const vacuumAfterJobs of [-1, 1.5, Number.NaN]) {
          expect(() => store.jobs.work({ queue: "q", vacuumAfterJobs, handler: () => {} })).toThrow(
            /vacuumAfterJobs/,
          );
        }
      });
    });
  },
  { ownServer: true },
);
