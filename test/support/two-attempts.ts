/** A job of two attempts run under one worker, for tests of what counts as an attempt. */
import type { LeasedJob, Store } from "../../src/index.js";
import type { JobContext } from "../../src/worker/types.js";
import { until } from "./waiting.js";

/**
 * Runs one job of two attempts under a worker whose handler is `handler`, until the job is dead or
 * has run a third time (which a job of two attempts must never do). A short lease: a job left running
 * after a run comes back within a second.
 */
export async function runTwoAttempts(
  store: Store,
  handler: (job: LeasedJob, context: JobContext) => Promise<void> | void,
) {
  const id = await store.jobs.enqueue({ queue: "q", name: "n", maxAttempts: 2, backoff: { baseMs: 0 } });
  let runs = 0;
  const errors: unknown[] = [];
  const worker = store.jobs.work({
    queue: "q",
    leaseMs: 300,
    pollIntervalMs: 20,
    onError: (error) => errors.push(error),
    handler: (job, context) => {
      runs++;
      return handler(job, context);
    },
  });
  await until(async () => runs > 2 || (await store.jobs.get(id)).status === "dead");
  await worker.stop();
  return { job: await store.jobs.get(id), runs, errors, counts: worker.counts };
}
