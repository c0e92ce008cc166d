/**
 * A worker holds the jobs it prefetches under a reservation of a few seconds, and extends a job's lease
 * to leaseMs at its heartbeats once the job has started. A handler that holds the event loop right
 * after it starts delays that heartbeat: the job must stay its worker's for leaseMs all the same, as
 * long as the worker's start marks say it started it, and go to another worker once they are stale.
 * And a prefetched job whose reservation ran out meanwhile is not started: another worker may have it.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

/**
 * Lets the job's own lease run out `ago` earlier, and claims its queue as another worker would, in one
 * transaction (so that the worker's heartbeat cannot extend the lease in between).
 */
async function expireAndClaim(store: Store, jobId: string, ago = "1 second") {
  return store.transaction(async (tx) => {
    await tx.query(`update ${store.schema}.jobs set lease_expires_at = now() - $2::interval where id = $1`, [
      jobId,
      ago,
    ]);
    return tx.jobs.claim({ queue: "q", workerId: "another worker", limit: 10 });
  });
}

forEachDriver((driver) => {
  describe("started jobs' leases", () => {
    it("keeps a started job its worker's after its reservation ran out, while the worker's start marks are fresh", async () => {
      const store = await driver.open();
      const [id] = await store.jobs.enqueue([{ queue: "q", name: "slow" }]);
      let runs = 0;
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const errors: unknown[] = [];
      const worker = store.jobs.work({
        queue: "q",
        leaseMs: 60_000,
        onError: (error) => errors.push(error),
        handler: async () => {
          runs++;
          await finished;
        },
      });
      const starts = async () =>
        (await store.query<{ job_id: string }>(`select job_id from ${store.schema}.job_starts`)).rows;
      await until(async () => runs === 1 && (await starts()).some((row) => row.job_id === id));

      // The reservation ran out before a heartbeat extended the lease: the job started, so it stays.
      expect(await expireAndClaim(store, id as string)).toEqual([]);
      finish();
      await until(() => worker.counts.completed === 1);
      await worker.stop();
      expect(runs).toBe(1);
      expect(errors).toEqual([]);
    });

    it.skipIf(!driver.concurrent)(
      "does not start a prefetched job whose reservation ran out while a handler held the event loop",
      async () => {
        const store = await driver.open();
        const ids = await store.jobs.enqueue([
          { queue: "q", name: "a" },
          { queue: "q", name: "b" },
        ]);
        // Another worker, in another session: it takes the prefetched job once its reservation is out.
        const other = new pg.Client({ connectionString: (await driver.connection()) as string });
        await other.connect();
        const take = (id: string) =>
          other.query(`select pg_sleep(1.3);
            update ${store.schema}.jobs set lease_token = gen_random_uuid(), lease_owner = 'another worker',
                   lease_expires_at = now() + interval '1 minute', reserved_by = null
             where id = '${id}' and status = 'running' and lease_expires_at < clock_timestamp()`);
        const runs: string[] = [];
        let prefetched: string | undefined;
        const worker = store.jobs.work({
          queue: "q",
          concurrency: 1,
          batchSize: 2,
          // Reservations of a second, renewed every third of one.
          leaseMs: 1_000,
          onError: () => {},
          handler: async (job) => {
            runs.push(job.id);
            if (runs.length > 1) return;
            // The first job to start holds the event loop while the other one waits in the buffer.
            prefetched = ids.find((id) => id !== job.id) as string;
            await until(async () => (await store.jobs.get(prefetched as string)).status === "running");
            const taking = take(prefetched);
            await until(async () => {
              const { rows } = await store.query<{ n: number }>(
                "select count(*)::int as n from pg_stat_activity where state = 'active' and query like 'select pg_sleep(1.3)%'",
              );
              return rows[0]?.n === 1;
            });
            const blockedUntil = Date.now() + 1_600;
            while (Date.now() < blockedUntil); // as CPU-bound work does
            await taking;
          },
        });
        await until(() => worker.counts.completed === 1);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await worker.stop();
        await other.end();
        expect(runs).toEqual([ids.find((id) => id !== prefetched)]);
        expect((await store.jobs.get(prefetched as string)).leaseOwner).toBe("another worker");
      },
    );

    it.each([
      [
        "its worker's start marks are stale",
        "update %s.job_starts set updated_at = now() - interval '2 minutes'",
        "1 second",
      ],
      ["its own lease ran out longer than leaseMs ago", "select 1", "2 minutes"],
    ])("lets another worker take a started job once %s", async (_, sql, ago) => {
      const store = await driver.open();
      const [id] = await store.jobs.enqueue([{ queue: "q", name: "stuck" }]);
      let runs = 0;
      const worker = store.jobs.work({
        queue: "q",
        leaseMs: 60_000,
        // The handler never ends: stop() gives up on it at once.
        stopTimeoutMs: 50,
        onError: () => {},
        handler: async () => {
          runs++;
          await new Promise(() => {});
        },
      });
      await until(async () => {
        const { rows } = await store.query<{ job_id: string }>(
          `select job_id from ${store.schema}.job_starts`,
        );
        return runs === 1 && rows.some((row) => row.job_id === id);
      });
      // The worker is gone as far as anyone can tell, or it let go of the job long ago.
      await store.query(sql.replace("%s", store.schema));
      const taken = await expireAndClaim(store, id as string, ago);
      expect(taken.map((job) => [job.id, job.attempts])).toEqual([[id, 2]]);
      await worker.stop();
    });
  });
});
