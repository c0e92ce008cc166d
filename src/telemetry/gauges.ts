/**
 * The queue's state as OpenTelemetry gauges, read from the database when the SDK collects (every
 * export interval), not per job: jobs by state per queue, and the age of the oldest ready job. These
 * are the same from every process on the store: aggregate them with max, not sum.
 */

import type * as Api from "@opentelemetry/api";
import type { QueueStats } from "../queue/index.js";
import * as C from "./semconv.js";

/** One queue's figures, as jobs.stats() gives them. */
export type QueueFigures = Pick<
  QueueStats,
  "queue" | "waiting" | "ready" | "running" | "dead" | "oldestReadyAgeSeconds"
>;

export const QUEUE_JOBS = "flowstore.queue.jobs";
export const QUEUE_OLDEST_READY_AGE = "flowstore.queue.oldest_ready.age";
export const JOB_STATE = "flowstore.job.state";

/** Observes the queues through `read` until the returned function is called. */
export function observeQueues(meter: Api.Meter, read: () => Promise<QueueFigures[]>): () => void {
  const jobs = meter.createObservableGauge(QUEUE_JOBS, {
    unit: "{job}",
    description: "Jobs per queue and state: waiting (due or not), ready (due now), running, dead.",
  });
  const oldest = meter.createObservableGauge(QUEUE_OLDEST_READY_AGE, {
    unit: "s",
    description: "How long the oldest ready job of each queue has waited (0 when none is ready).",
  });
  const observe: Api.BatchObservableCallback = async (result) => {
    for (const figures of await read()) {
      const queue = { [C.MESSAGING_SYSTEM]: C.SYSTEM, [C.MESSAGING_DESTINATION_NAME]: figures.queue };
      for (const state of ["waiting", "ready", "running", "dead"] as const) {
        result.observe(jobs, figures[state], { ...queue, [JOB_STATE]: state });
      }
      result.observe(oldest, figures.oldestReadyAgeSeconds ?? 0, queue);
    }
  };
  meter.addBatchObservableCallback(observe, [jobs, oldest]);
  return () => meter.removeBatchObservableCallback(observe, [jobs, oldest]);
}
