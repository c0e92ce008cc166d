/**
 * A run's end sent under a lease the worker's own claim has just renewed: the worker took its running
 * job back (the lease lapsed while the handler ran) and learns of it only after the handler's snooze,
 * or its transactional completion, went out under the old lease and was refused. The job is still this
 * worker's, and the run happened: it counts among the job's attempts, as a failure's run does in the
 * same race (see worker-unrecorded-runs.test.ts).
 */
import { describe, expect, it } from "vitest";
import type { Job, LeasedJob, Store } from "../../src/index.js";
import type { JobOutcome } from "../../src/worker/types.js";
import { isClaim } from "../support/claim-answers.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

/**
 * Lets the running job's lease lapse until a claim of its worker has taken it back in the database, with
 * that claim's answer held back; the answer comes a little after the handler has ended. (A claim already
 * on its way when answers began to be held may take the job back unheld: the worker then sees the new
 * lease at once, and that one is let lapse in turn.)
 */
async function takenBackUnseen(store: Store, running: LeasedJob): Promise<void> {
  const { driver } = store;
  const query = driver.query.bind(driver);
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => {
    answer = resolve;
  });
  let held = false;
  driver.query = (async (text: string, values?: readonly unknown[], options?: object) => {
    const result = await query(text, values, options);
    const holdsJob = result.rows.some((row) => (row as { id?: string }).id === running.id);
    if (holdsJob && isClaim(text)) {
      held = true;
      await answered;
    }
    return result;
  }) as typeof driver.query;
  await until(async () => {
    await store.query(
      `update ${store.schema}.jobs set lease_expires_at = now() - interval '1 minute'
        where id = $1 and lease_token = $2`,
      [running.id, running.leaseToken],
    );
    return held;
  });
  setTimeout(answer, 200);
}

/**
 * Runs one job of two attempts (no backoff) under a worker with a short lease: its first run ends with
 * `firstRun`'s outcome, every later run fails. Goes on until the job is dead or has run four times.
 */
async function run(
  store: Store,
  options: { transactional: boolean },
  firstRun: (job: LeasedJob) => Promise<JobOutcome | undefined>,
): Promise<{ runs: number; job: Job }> {
  const id = await store.jobs.enqueue({ queue: "q", name: "n", maxAttempts: 2, backoff: { baseMs: 0 } });
  let runs = 0;
  const worker = store.jobs.work({
    queue: "q",
    leaseMs: 300,
    pollIntervalMs: 20,
    transactional: options.transactional,
    onError: () => {},
    handler: async (job) => {
      if (++runs === 1) return firstRun(job);
      throw new Error("handler failed");
    },
  });
  await until(async () => runs > 3 || (await store.jobs.get(id)).status === "dead");
  await worker.stop();
  return { runs, job: await store.jobs.get(id) };
}

forEachDriver((driver) => {
  describe("a run whose end went out under a lease the worker's own claim renewed", () => {
    it("counts a snoozed run", async () => {
      const store = await driver.open();
      const ran = await run(store, { transactional: false }, async (job) => {
        await takenBackUnseen(store, job);
        return { snoozeUntil: new Date() };
      });
      // The snooze counts its run and adds an attempt: three runs in all, each counted.
      expect({ runs: ran.runs, status: ran.job.status, attempts: ran.job.attempts }).toEqual({
        runs: 3,
        status: "dead",
        attempts: 3,
      });
      expect(ran.job.maxAttempts).toBe(3);
    });

    // On PGlite the handler's transaction holds the one connection: no claim runs while it is open.
    it.skipIf(!driver.concurrent)("counts a transactional run whose completion was refused", async () => {
      const store = await driver.open();
      const ran = await run(store, { transactional: true }, async (job) => {
        await takenBackUnseen(store, job);
        return undefined;
      });
      // The first run's transaction rolled back, and counts; the second fails on the last attempt.
      expect({ runs: ran.runs, status: ran.job.status, attempts: ran.job.attempts }).toEqual({
        runs: 2,
        status: "dead",
        attempts: 2,
      });
    });
  });
});
