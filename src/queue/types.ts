/** The queue's public shapes: what callers enqueue, and the jobs and leases they get back. */

export type JobStatus = "waiting" | "running" | "dead";

export interface EnqueueJob {
  queue: string;
  name: string;
  payload?: unknown;
  /** Higher runs first (default 0). */
  priority?: number;
  /** Not before this time (default: now). */
  runAt?: Date;
  /** Not before this many milliseconds from now by the database clock (not with runAt). */
  delayMs?: number;
  /** Not before this many seconds from now by the database clock, as pg-boss's `startAfter` (not with runAt or delayMs). */
  delaySeconds?: number;
  /** Attempts before the job goes dead (default 25). */
  maxAttempts?: number;
  /** Retry delay: baseMs * 2^(attempt-1), capped at maxMs, with jitter (default 1 s .. 1 h). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Dedupe key: while a job with this key waits or runs in the queue, enqueueing it again returns that job. */
  key?: string;
  /** With a key: replace the waiting job's payload, priority and runAt instead of keeping it. */
  replace?: boolean;
  /**
   * With a key, when the job with it is running and none waits: "dedupe" (default) returns the running
   * job; "after" enqueues this one to run once the running job has left the queue for good (completed,
   * dead or cancelled; a retry of it runs first). Never two jobs with one key run at once, except that
   * cancelling the running one frees its key at once, though its handler may still be finishing.
   */
  whileRunning?: "dedupe" | "after";
  executionId?: string;
  /** Default: a new UUIDv7. */
  id?: string;
  /**
   * The job's group within its queue (a tenant, a customer, an account). Claims share the queue fairly
   * between groups, least recently served first, and run at most the group's concurrency limit of its
   * jobs at once (see jobs.setLimits and jobs.setGroupLimit). Jobs without a group are served as one
   * more group, and are not limited.
   */
  group?: string;
  /**
   * Debounce: the enqueues of `key` that come while its job waits become that one job, the last of
   * them: each gives it its payload and priority and moves its run time to `ms` after itself (never
   * past `maxMs` after the first enqueue, when given). An enqueue that comes while the job runs makes
   * one to run after it, debounced alike. Not with key, replace, whileRunning, runAt, delayMs,
   * delaySeconds or throttle.
   */
  debounce?: { key: string; ms: number; maxMs?: number };
  /**
   * Throttle: an enqueue of `key` makes a job, and the enqueues of `key` in the `ms` after it return
   * that job (counted in its `absorbed`) instead of making one; the first one after the window makes
   * the next job. Not with key, replace, whileRunning or debounce.
   */
  throttle?: { key: string; ms: number };
  /**
   * Job dependencies: the ids of jobs this one runs after. It waits (its `waitingFor` counting them)
   * until each has completed; one already gone from the queue counts as completed. If one goes dead,
   * this job goes dead too, its error naming it; if one is cancelled, this job is cancelled too. Each
   * must be a job enqueued before this one, or earlier in the same batch (by the `id` given it there).
   * Not with key, replace, whileRunning, debounce or throttle.
   */
  after?: string[];
}

export interface Job {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  status: JobStatus;
  priority: number;
  runAt: Date;
  attempts: number;
  maxAttempts: number;
  key: string | null;
  executionId: string | null;
  /** The job's group within its queue, or null (see EnqueueJob.group). */
  group: string | null;
  lastError: JobError | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /**
   * The trace the job was enqueued in (W3C `traceparent` and `tracestate`, as JSON), stored when the
   * enqueuing store had OpenTelemetry; the worker's "process" span continues it. Null otherwise.
   */
  traceContext: string | null;
  /**
   * How many enqueues the job took in after its own: with `debounce` each moved it, with `throttle`
   * each returned it, with `key` and `replace: true` each replaced it.
   */
  absorbed: number;
  /** How many of the jobs it runs after (EnqueueJob.after) have not completed yet: 0 once it may run. */
  waitingFor: number;
}

export interface JobError {
  message: string;
  stack?: string;
  [detail: string]: unknown;
}

/** A claimed job: whoever holds `leaseToken` may complete, fail, heartbeat or release it. */
export interface LeasedJob extends Job {
  leaseToken: string;
}

export interface Lease {
  id: string;
  leaseToken: string;
}

export interface ClaimOptions {
  queue: string;
  workerId: string;
  /** How many jobs at most (default 1). */
  limit?: number;
  /** How long the lease lasts before another worker may take the job (default 30 s). */
  leaseMs?: number;
}

export interface JobFilter {
  queue?: string;
  status?: JobStatus;
  name?: string;
  executionId?: string;
  /**
   * Keyset pagination: the id of the last job of the previous page; the page goes on past its place in
   * creation order (a job that has left the queue is a NotFoundError: its place went with it).
   */
  after?: string;
  limit?: number;
}

export interface QueueStats {
  queue: string;
  waiting: number;
  /** Waiting and due now. */
  ready: number;
  running: number;
  dead: number;
  /** Seconds the oldest ready job has waited, or null when none is ready. */
  oldestReadyAgeSeconds: number | null;
  /**
   * The counts that are estimates: more than `exactUpTo` jobs (default 10,000) of the queue had that
   * status, and the planner's statistics gave the figure. Empty when every count is exact.
   */
  estimated: QueueCount[];
  /** The queue is paused: no claim takes its jobs (see jobs.pause). */
  paused: boolean;
}

export interface QueueStatsOptions {
  /** Count exactly up to this many jobs per queue and status (default 10,000, at most 1,000,000). */
  exactUpTo?: number;
}

/** The leases one worker holds in one queue (jobs.workers). */
export interface WorkerLeases {
  /** The workerId it claimed with. */
  workerId: string;
  queue: string;
  /** Jobs it holds running. */
  running: number;
  /** Its latest claim or heartbeat among them. */
  lastSeenAt: Date;
  /** When the first of its leases runs out, unless it heartbeats. */
  nextExpiryAt: Date;
  /**
   * For a worker of `jobs.work`: its claims so far (the claim number of the latest that brought one of
   * its running jobs), which grows with each claim; null for leases taken with `jobs.claim`.
   */
  claims: number | null;
}

/** A paused queue: no claim takes its jobs until it is resumed. */
export interface QueuePause {
  queue: string;
  pausedAt: Date;
  /** Who paused it, as the caller of pause() said. */
  pausedBy: string | null;
}

/** A count of QueueStats. */
export type QueueCount = "waiting" | "ready" | "running" | "dead";

/** What a queue has done since the store began (jobs.totals()). */
export interface QueueTotals {
  queue: string;
  enqueued: number;
  started: number;
  completed: number;
  /** Failed runs, those retried and those that left the job dead. */
  failed: number;
  /** Jobs that went dead: out of attempts, by a failure or by a lease that expired on the last one. */
  dead: number;
  /** Jobs taken back by a claim after the lease of the worker running them expired. */
  leaseExpired: number;
  /** How long started jobs had waited since they were due, as a histogram in seconds. */
  scheduleToStart: {
    /** Cumulative: how many waited at most `le` seconds; the last bound is Infinity (all of them). */
    buckets: { le: number; count: number }[];
    sumSeconds: number;
    count: number;
  };
}

/** A queue's limits (jobs.setLimits, jobs.limits). */
export interface QueueLimits {
  /** Jobs of one group running at once, at most, for groups without a limit of their own; null: none. */
  groupConcurrency: number | null;
  /** Jobs claimed from the queue, at most `limit` per `periodMs` (fixed windows); null: no limit. */
  rate: { limit: number; periodMs: number } | null;
  /**
   * Strict order per group: each group runs one job at a time, in its order (priority, then run time,
   * then enqueue), and a job that failed and will be retried, or was snoozed, holds the group's later
   * jobs until it completes or goes dead. Jobs without a group are not ordered so.
   */
  strictOrder: boolean;
}

/** What jobs.setLimits changes: a field left out keeps its value, null removes that limit. */
export interface QueueLimitsChange {
  groupConcurrency?: number | null;
  rate?: { limit: number; periodMs: number } | null;
  strictOrder?: boolean;
}

/** A group of a queue as the claims see it (jobs.groups). */
export interface JobGroup {
  queue: string;
  name: string;
  /** Its own concurrency limit, or null when the queue's groupConcurrency (if any) applies. */
  concurrency: number | null;
  /** Waiting jobs of the group, ready now. */
  ready: number;
  /** Running jobs of the group (including a worker's prefetched ones). */
  running: number;
  /** When a claim last served the group, or null if none has yet. */
  servedAt: Date | null;
}
