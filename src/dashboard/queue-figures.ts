/**
 * A queue as the dashboard shows it, on the overview as on the queues page: its jobs now (jobs.stats),
 * what it has completed and failed since the store began (jobs.totals), and its limits.
 */

import type { QueueLimits, QueueStats, Store } from "../index.js";

export interface QueueFigures extends QueueStats {
  completed: number;
  /** Failed runs: those retried and those that left the job dead. */
  failed: number;
  limits: QueueLimits;
}

export async function queueFigures(store: Store): Promise<QueueFigures[]> {
  const [queues, totals] = await Promise.all([store.jobs.stats(), store.jobs.totals()]);
  const byQueue = new Map(totals.map((t) => [t.queue, t]));
  const limits = await Promise.all(queues.map((q) => store.jobs.limits(q.queue)));
  return queues.map((q, i) => ({
    ...q,
    completed: byQueue.get(q.queue)?.completed ?? 0,
    failed: byQueue.get(q.queue)?.failed ?? 0,
    limits: limits[i] as QueueLimits,
  }));
}
