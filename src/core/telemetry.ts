/**
 * What the repositories and the worker ask of OpenTelemetry, when the store has it (see telemetry/).
 * Without it the context holds none, and each caller runs its work directly: no span, no cost.
 */

/** An enqueue, as its "send" span describes it. */
export interface SentBatch {
  /** The jobs per queue. */
  queues: ReadonlyMap<string, number>;
  /** How many jobs were given. */
  count: number;
}

/** A claimed job, as its "process" span describes it. */
export interface ProcessedJob {
  id: string;
  queue: string;
  name: string;
  attempts: number;
  executionId: string | null;
  /** The trace context its enqueue stored (W3C traceparent and tracestate, as JSON), or null. */
  traceContext: string | null;
}

/** A queue's state as the gauges report it (what jobs.stats() gives). */
export interface QueueGaugeFigures {
  queue: string;
  waiting: number;
  ready: number;
  running: number;
  dead: number;
  oldestReadyAgeSeconds: number | null;
}

export interface Telemetry {
  /** Reports the queues `read` gives as gauges at each collection, until the returned function is called. */
  observeQueues(read: () => Promise<QueueGaugeFigures[]>): () => void;
  /** Runs a store operation (`area.method`) in a span by the database client conventions. */
  operation<T>(area: string, method: string, args: readonly unknown[], run: () => T): T;
  /**
   * Runs an enqueue in a "send" span (messaging conventions); `run` gets the context to store with the
   * jobs, so their processing continues the trace, and returns the ids.
   */
  send<T extends string[]>(batch: SentBatch, run: (traceContext: string | null) => Promise<T>): Promise<T>;
  /**
   * Runs a job's handler in a "process" span: a child of the span that enqueued it, when it was
   * traced. `waitedMs`: how long the job had waited since it was due (the worker measures it).
   */
  process<T>(job: ProcessedJob, waitedMs: number, run: () => Promise<T>): Promise<T>;
}
