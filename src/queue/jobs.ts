/**
 * The job queue as `tx.jobs` (and, with workers added, `store.jobs`: see worker/working-jobs.ts): each
 * method is one of the queue's operations, kept by concern beside this file (enqueue, leases, admin,
 * wake-ups) and run on this scope's connection.
 */

import { batchesWrites, forReads, type StoreContext } from "../core/context.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";
import { cancel, get, list, retry } from "./admin.js";
import { claim } from "./claim.js";
import { type EnqueueBatcher, enqueue, enqueueBatcher } from "./enqueue/enqueue.js";
import { groups, limits, setGroupLimit, setLimits } from "./groups.js";
import { forget } from "./known-queues.js";
import { complete, completeMany, fail, heartbeat, release, snooze } from "./leases.js";
import { pause, paused, resume } from "./pauses.js";
import { stats } from "./stats.js";
import { type QueueTotals, totals } from "./totals.js";
import { type QueueDefinition, TypedQueue } from "./typed.js";
import type {
  ClaimOptions,
  EnqueueJob,
  Job,
  JobFilter,
  JobGroup,
  Lease,
  LeasedJob,
  QueueLimits,
  QueueLimitsChange,
  QueuePause,
  QueueStats,
  QueueStatsOptions,
  WorkerLeases,
} from "./types.js";
import { workers } from "./workers.js";

const PAUSE_KEYS = optionKeys<{ by?: string }>({ by: true });
const GROUPS_KEYS = optionKeys<{ after?: string; limit?: number }>({ after: true, limit: true });

export class Jobs {
  private batcher?: EnqueueBatcher;

  constructor(protected readonly context: StoreContext) {}

  /**
   * Adds jobs in one statement and wakes listening workers with one NOTIFY (sent when the enclosing
   * transaction, if any, commits). Returns the ids in input order; a job whose key is already waiting
   * or running gets that job's id, unless, enqueued with whileRunning: "after", it meets a running one:
   * then it waits to run after it (and the key's next enqueues get its id while it waits).
   */
  enqueue(job: EnqueueJob): Promise<string>;
  enqueue(jobs: EnqueueJob[]): Promise<string[]>;
  enqueue(input: EnqueueJob | EnqueueJob[]): Promise<string | string[]> {
    // One job at a time, outside a transaction, shares statements with the others of the moment (see
    // enqueueBatcher); a transaction's scope never makes the batcher.
    if (!Array.isArray(input) && batchesWrites(this.context)) this.batcher ??= enqueueBatcher(this.context);
    return enqueue(this.context, input, this.batcher);
  }

  /**
   * One queue with its job names and payload types, checked at compile time: `queue<{ welcome:
   * { userId: string } }>("emails").enqueue("welcome", { userId })`, or `queue(emails)` with a
   * `defineQueue` definition. Nothing is checked or added at run time.
   */
  queue<Payloads extends object = Record<string, unknown>>(
    queue: string | QueueDefinition<Payloads>,
  ): TypedQueue<Payloads> {
    return new TypedQueue(queue, this);
  }

  /**
   * Leases up to `limit` jobs of a queue: jobs whose lease expired first, then due waiting jobs by
   * priority then runAt. A job whose lease expired on its last attempt goes dead.
   */
  claim(options: ClaimOptions): Promise<LeasedJob[]> {
    return claim(this.context, options);
  }

  /**
   * Finishes jobs: deleted, or moved to jobs_history with `keepCompleted`. One statement for any number.
   * Throws LeaseLostError (listing `lost`) for leases no longer held; the others are completed.
   */
  complete(leases: Lease | Lease[], options: { keepCompleted?: boolean } = {}): Promise<void> {
    return complete(this.context, leases, options);
  }

  /**
   * complete() that reports lost leases instead of throwing: the worker's batch completer. Its jobs
   * count among the queue's completed in the same statement, as complete()'s do; `queue` says that
   * every lease is of that queue (see leases.ts).
   */
  completeMany(leases: Lease[], keepCompleted: boolean, queue?: string): Promise<string[]> {
    return completeMany(this.context, leases, keepCompleted, queue);
  }

  /**
   * Records a failed attempt. Until maxAttempts the job waits again, at `retryAt` or after exponential
   * backoff with jitter; then it is dead. Returns the job as it now stands.
   */
  fail(lease: Lease, error: unknown, options: { retryAt?: Date } = {}): Promise<Job> {
    return fail(this.context, lease, error, options);
  }

  /**
   * Hands a running job back to run again at `until`: not a failure (no error recorded, never dead for
   * it). The run counts among its attempts and maxAttempts grows by one with it. Returns the job.
   */
  snooze(lease: Lease, until: Date): Promise<Job> {
    return snooze(this.context, lease, until);
  }

  /** Extends leases (default by 30 s from now). Throws LeaseLostError listing the leases no longer held. */
  heartbeat(leases: Lease | Lease[], options: { extendMs?: number } = {}): Promise<void> {
    return heartbeat(this.context, leases, options);
  }

  /**
   * Hands jobs back: they wait again at once. The attempt does not count, unless `countAttempt` says the
   * handler did run (a worker abandoning a handler that outlived its stop timeout).
   */
  release(leases: Lease | Lease[], options: { countAttempt?: boolean } = {}): Promise<void> {
    return release(this.context, leases, options);
  }

  get(id: string): Promise<Job> {
    return get(this.context, id);
  }

  /**
   * Jobs in id (creation) order; pass the last id as `after` for the next page. Reads from the store's
   * readConnection, when it has one (outside a transaction).
   */
  list(filter: JobFilter = {}): Promise<Job[]> {
    return list(forReads(this.context), filter);
  }

  /**
   * Counts per queue (one queue, or every queue that exists, idle ones with zeros: see forget()), cheap
   * at any size: exact up to `exactUpTo` (default 10,000)
   * jobs per queue and status, estimated above it (named in `estimated`). From the store's
   * readConnection when it has one.
   */
  stats(queue?: string, options: QueueStatsOptions = {}): Promise<QueueStats[]> {
    return stats(forReads(this.context), queue, options);
  }

  /**
   * What each queue (or one queue) has done since the store began: jobs enqueued, started, completed,
   * failed, dead, taken back after a lease expired, and how long started jobs waited past their due
   * time. Each count commits with what it counts (an enqueue, a claim, a completion, a failure, a
   * worker's start mark), so a process killed outright loses none, and none falls when retention prunes.
   */
  totals(queue?: string): Promise<QueueTotals[]> {
    return totals(this.context, queue);
  }

  /**
   * Puts dead jobs back to wait, with their attempts reset. Returns the ids it revived: a dead job whose
   * dedupe key a live job holds again stays dead (retry it once the key is free).
   */
  retry(ids: string[]): Promise<string[]> {
    return retry(this.context, ids);
  }

  /**
   * Pauses a queue: no claim takes its jobs, whichever worker or process asks, until `resume`; jobs
   * still go in and can be cancelled or retried, and jobs running finish. True when this call paused
   * it. `by` is kept as who paused it.
   */
  pause(queue: string, options: { by?: string } = {}): Promise<boolean> {
    refuseUnknownKeys(options, PAUSE_KEYS);
    return pause(this.context, queue, options.by);
  }

  /** Resumes a paused queue and wakes its workers. True when it was paused. */
  resume(queue: string): Promise<boolean> {
    return resume(this.context, queue);
  }

  /**
   * The workers holding leases now, per queue: how many jobs each runs, its latest claim or heartbeat,
   * and its soonest lease expiry. From the store's readConnection when it has one.
   */
  workers(queue?: string): Promise<WorkerLeases[]> {
    return workers(forReads(this.context), queue);
  }

  /**
   * Forgets a queue that holds no job: its counts, limits, pause and groups go, and it no longer shows
   * in stats() or /metrics until it is used again. True when there was anything to forget. A queue
   * that holds jobs, whatever their status, is refused (ConflictError) and nothing is removed.
   */
  forget(queue: string): Promise<boolean> {
    return forget(this.context, queue);
  }

  /** The paused queues. */
  paused(): Promise<QueuePause[]> {
    return paused(forReads(this.context));
  }

  /**
   * Sets a queue's limits, shared by every worker in every process: `groupConcurrency`, the jobs of one
   * group running at once at most (for groups without a limit of their own, see setGroupLimit), and
   * `rate`, at most `limit` jobs claimed per `periodMs`. A field left out keeps its value; null removes
   * the limit. Returns the limits as they now stand.
   */
  setLimits(queue: string, limits: QueueLimitsChange): Promise<QueueLimits> {
    return setLimits(this.context, queue, limits);
  }

  /** A queue's limits. */
  limits(queue: string): Promise<QueueLimits> {
    return limits(forReads(this.context), queue);
  }

  /** Sets one group's concurrency limit; null: the queue's groupConcurrency applies to it again. */
  setGroupLimit(queue: string, group: string, concurrency: number | null): Promise<void> {
    return setGroupLimit(this.context, queue, group, concurrency);
  }

  /** A queue's groups in name order with their ready and running jobs (`after`: the previous page's last name). */
  groups(queue: string, options: { after?: string; limit?: number } = {}): Promise<JobGroup[]> {
    refuseUnknownKeys(options, GROUPS_KEYS);
    return groups(forReads(this.context), queue, options);
  }

  /** Removes jobs whatever their state; a worker running one then gets LeaseLostError. Returns the ids removed. */
  cancel(ids: string[]): Promise<string[]> {
    return cancel(this.context, ids);
  }
}
