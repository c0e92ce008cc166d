/**
 * Job dependencies wake workers that poll once an hour, so only a wake-up can start the work: the
 * dependent's queue as its last dependency completes (even when it was enqueued while the completing
 * transaction was open), and the dependency's own queue after a dependent's enqueue held it locked
 * while a claim went by.
 */
import { describe, expect, it } from "vitest";
import { jobsChannel } from "../../src/core/wake.js";
import type { LeasedJob, Store, Worker } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const claimAll = async (store: Store, queue = "q") => store.jobs.claim({ queue, workerId: "w", limit: 100 });

/** True once a connection of the server LISTENs for `store`'s jobs (its worker then claims again). */
const listening = async (store: Store) => {
  const { rows } = await store.query<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where query ilike $1",
    [`listen %${jobsChannel(store.schema)}%`],
  );
  return (rows[0]?.n ?? 0) > 0;
};

forEachDriver((driver) => {
  describe("job dependencies' wake-ups", () => {
    it("wakes the workers of the dependent's queue as its last dependency completes", async () => {
      const store = await driver.open();
      const ran: string[] = [];
      // Workers that poll once an hour: only the wake-up can start the dependent.
      const workers = ["first", "then"].map((queue) =>
        store.jobs.work({
          queue,
          pollIntervalMs: 3_600_000,
          handler: async (job) => {
            ran.push(job.name);
          },
        }),
      );
      try {
        const a = await store.jobs.enqueue({ queue: "first", name: "a" });
        await store.jobs.enqueue({ queue: "then", name: "b", after: [a] });
        // Should it fail, say which job did not run and in what state each job was left.
        await until(() => ran.length === 2, 15_000).catch(async (error: Error) => {
          const left = await store.jobs.list({});
          const states = left.map(
            (job) => `${job.queue}/${job.name} ${job.status} at ${job.runAt.toISOString()}`,
          );
          throw new Error(
            `${error.message}: ran ${JSON.stringify(ran)}; jobs left: ${states.join(", ") || "none"}`,
          );
        });
        expect(ran).toEqual(["a", "b"]);
      } finally {
        await Promise.all(workers.map((worker) => worker.stop()));
      }
    });

    // A completion whose transaction began before the dependent was enqueued: its now() is earlier
    // than the dependent's run time, which must not count as "due later" (scheduled, left to the poll).
    it.skipIf(!driver.concurrent)(
      "wakes a dependent enqueued while its dependency's completing transaction was open",
      async () => {
        const store = await driver.open();
        const ran: string[] = [];
        const a = await store.jobs.enqueue({ queue: "first", name: "a" });
        const [leased] = await claimAll(store, "first");
        const worker = store.jobs.work({
          queue: "then",
          pollIntervalMs: 3_600_000,
          handler: async (job) => {
            ran.push(job.name);
          },
        });
        try {
          let b = "";
          await store.transaction(async (tx) => {
            await tx.query("select now()"); // the transaction's time is taken here
            b = await store.jobs.enqueue({ queue: "then", name: "b", after: [a] });
            await tx.jobs.complete(leased as LeasedJob);
          });
          expect(b).not.toBe("");
          // Only the wake-up can start it: the worker polls once an hour.
          await until(() => ran.length === 1, 15_000);
          expect(ran).toEqual(["b"]);
        } finally {
          await worker.stop();
        }
      },
    );

    // Enqueueing a dependent locks the job it runs after (to mark it), and a claim skips locked rows: a
    // worker whose claims came by then found its queue empty, and nothing woke it when the lock went.
    it.skipIf(!driver.concurrent)(
      "runs a job a worker's claim skipped while a dependent's enqueue held it",
      async () => {
        const store = await driver.open();
        const ran: string[] = [];
        const a = await store.jobs.enqueue({ queue: "first", name: "a" });
        let worker: Worker | undefined;
        try {
          await store.transaction(async (tx) => {
            await tx.jobs.enqueue({ queue: "then", name: "b", after: [a] }); // a is locked until commit
            worker = store.jobs.work({
              queue: "first",
              pollIntervalMs: 3_600_000,
              handler: async (job) => {
                ran.push(job.name);
              },
            });
            await until(() => listening(store), 15_000);
            // Time for the claims it sends once listening to go by while a is held.
            await new Promise((resolve) => setTimeout(resolve, 500));
            expect((await store.jobs.get(a)).status).toBe("waiting");
          });
          await until(() => ran.length === 1, 15_000);
          expect(ran).toEqual(["a"]);
        } finally {
          await worker?.stop();
        }
      },
    );
  });
});
