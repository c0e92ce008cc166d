/**
 * The timed part of the claims bench: one round (enqueue a ready job untimed, then claim + complete
 * timed) and the quantiles of the rounds' times.
 */
import { performance } from "node:perf_hooks";
import type { Store } from "../../src/index.js";
import { QUEUE, WORKER } from "./queue-under-test.js";

/** The q-th quantile (nearest rank, as lib.ts's percentiles) of a list of milliseconds. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/**
 * One round: enqueue one ready job (not timed; in `group` if given), then claim + complete (timed). The
 * claim must hand out exactly that job. Returns the milliseconds of claim + complete.
 */
export async function round(store: Store, i: number, group?: string): Promise<number> {
  const id = await store.jobs.enqueue({ queue: QUEUE, name: "probe", payload: { i }, group });
  const started = performance.now();
  const claimed = await store.jobs.claim({ queue: QUEUE, workerId: WORKER, limit: 1 });
  const job = claimed[0];
  if (job) await store.jobs.complete(job);
  const elapsed = performance.now() - started;
  if (claimed.length !== 1 || job?.id !== id) {
    throw new Error(`round ${i}: the claim returned ${JSON.stringify(claimed.map((j) => j.id))}, not ${id}`);
  }
  return elapsed;
}
