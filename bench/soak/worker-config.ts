/**
 * What the orchestrator (run.ts) and a worker process (worker.ts) agree on: the queue, the config a
 * worker gets as its one argument, and the pool application_name its sessions carry. Its own file so
 * the worker child imports only this, not the orchestrator.
 */

/** The queue the soak's jobs go to. */
export const SOAK_QUEUE = "soak";

/** What the orchestrator passes to a worker process as its one argument, as JSON. */
export interface WorkerConfig {
  url: string;
  schema: string;
  queue: string;
  /** The orchestrator's number for the process: unique in a run, unlike a pid, which may be reused. */
  serial: number;
  concurrency: number;
  leaseMs: number;
  rssEveryMs: number;
}

/** The workers' pool application_name: the run waits for their sessions to end before reading stats. */
export const WORKER_APPLICATION_NAME = "flowstore-soak-worker";
