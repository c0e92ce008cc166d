/**
 * What a worker takes and gives: its options, the handler's signature and context, and its handle.
 * Each is generic over `Tx`, the transaction a transactional handler runs in: the worker needs of it
 * only the queue on its connection, and the store that puts the worker together names the real type.
 */

import type { Jobs, LeasedJob } from "../queue/index.js";

/** What the worker uses of a transaction: the queue, on the transaction's connection. */
export interface JobsScope {
  readonly jobs: Jobs;
}

export interface JobContext<Tx extends JobsScope = JobsScope> {
  /** Aborted when the worker stops waiting for this handler (stop timeout) or the lease is lost. */
  signal: AbortSignal;
  /** Extends the lease now (the worker also does it on its own every leaseMs / 3). */
  heartbeat(): Promise<void>;
  /** With `transactional: true`: the transaction the job completes in. */
  tx?: Tx;
}

/** A transactional handler's context: its transaction is always there. */
export interface TransactionalJobContext<Tx extends JobsScope = JobsScope> extends JobContext<Tx> {
  /** The transaction the job completes in, with what the handler writes. */
  tx: Tx;
}

/** Runs `fn` in a transaction of the store the worker belongs to. */
export type InTransaction<Tx extends JobsScope = JobsScope> = <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;

/**
 * What a handler may return instead of nothing: `{ snoozeUntil }` runs the job again at that time
 * (see `jobs.snooze`) instead of completing it.
 */
export interface JobOutcome {
  snoozeUntil: Date;
}

/**
 * Runs one job. Returning completes it (or snoozes it, see JobOutcome). Throwing fails it: the error
 * is recorded and the job retried until maxAttempts, then dead; that includes a LeaseLostError about
 * anything but this job (a timer's, another job's). Only the loss of this job's own lease records
 * nothing, since the job is no longer this worker's: that goes to onError.
 */
export type JobHandler<Tx extends JobsScope = JobsScope> = (
  job: LeasedJob,
  context: JobContext<Tx>,
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing completes its job
) => Promise<void | JobOutcome> | void | JobOutcome;

/**
 * Checked by work(), which throws ValidationError naming the option and starts nothing: the queue and
 * workerId are names (non-empty, at most 255 bytes of UTF-8, no NUL or lone surrogate), the other
 * numbers integers from 1 (stopTimeoutMs from 0) to 2,147,483,647, and vacuumAfterJobs a whole number.
 */
/** A worker with `transactional: true`, whose handler is given its transaction as `tx`. */
export interface TransactionalWorkerOptions<Tx extends JobsScope = JobsScope>
  extends Omit<WorkerOptions<Tx>, "handler" | "transactional"> {
  transactional: true;
  handler: (
    job: LeasedJob,
    context: TransactionalJobContext<Tx>,
    // biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing completes its job
  ) => Promise<void | JobOutcome> | void | JobOutcome;
}

export interface WorkerOptions<Tx extends JobsScope = JobsScope> {
  queue: string;
  handler: JobHandler<Tx>;
  /** Handlers running at once (default 8). */
  concurrency?: number;
  /**
   * Jobs held ahead, including the running ones. Fixed when given; by default it starts at
   * concurrency * 4 and doubles while claims come back full, up to 1,000 and to what the handlers
   * start in a quarter of a second (slow handlers keep it small, so a worker does not hold jobs other
   * workers could run), falling back as the queue drains. Prefetched jobs are reserved: their attempt
   * counts only when they start.
   */
  batchSize?: number;
  /**
   * Claim statements in flight at once (default 2). Each claims up to batchSize / claimConcurrency
   * jobs (the first ones after a wake-up fewer, growing fourfold from concurrency * 2); more than one
   * keeps handlers fed while a claim is on its way.
   */
  claimConcurrency?: number;
  /**
   * Lease of a running job (default 30 s), renewed while it runs; a prefetched job's lease is the
   * shorter of this and 5 s, renewed while it waits.
   */
  leaseMs?: number;
  /** Fallback poll when no notification arrives (default 1 s). */
  pollIntervalMs?: number;
  /** Move completed jobs to jobs_history instead of deleting them. */
  keepCompleted?: boolean;
  /**
   * Vacuum the jobs table once this worker has finished this many jobs since its last vacuum (default
   * 1,000; 0: never), when it has nothing left to do or, while the queue stays busy, every 30 s (and
   * never sooner than 5 s, or fifty times the last vacuum's duration, after the last). The index
   * entries of claimed and finished jobs stay until a vacuum, and every claim steps over them;
   * autovacuum may come a minute later.
   */
  vacuumAfterJobs?: number;
  /**
   * Run each handler in a transaction that also completes the job: the handler's writes through
   * `context.tx` commit if and only if the job completes, so they happen exactly once.
   */
  transactional?: boolean;
  /** Stops the worker when aborted. */
  signal?: AbortSignal;
  workerId?: string;
  /**
   * How long stop() (and the store's close(), which stops the worker) waits for running handlers before
   * releasing their jobs (default 30 s).
   */
  stopTimeoutMs?: number;
  /**
   * Called with errors the worker survives (a lost connection, a lost lease); default: a warning. While
   * the database cannot be reached, the first ConnectionError comes at once and the next ones with
   * backoff, 1 s, 2 s, 4 s... at most a minute apart, not at every poll.
   */
  onError?: (error: unknown) => void;
}

/** A running worker keeps its process alive until it is stopped (or its store closed). */
export interface Worker {
  readonly id: string;
  /** Stops claiming, waits for running handlers (up to stopTimeoutMs), releases the rest. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped. */
  readonly stopped: Promise<void>;
  /** Jobs this worker completed, failed (including retries) so far. */
  readonly counts: { completed: number; failed: number };
}
