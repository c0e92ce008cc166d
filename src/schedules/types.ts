/** The public shapes of cron schedules: what callers set, and what they read back. */

/** What a schedule does with the ticks that came and went while nothing dispatched. */
export type MissedTicks = "skip" | "backfill";

export interface SetSchedule {
  /** Unique; setting a name again replaces its schedule. */
  name: string;
  /**
   * A cron expression: five fields (minute hour day-of-month month day-of-week), or six with seconds
   * first, or a macro (@hourly, @daily, @weekly, @monthly, @yearly).
   */
  cron: string;
  /** An IANA time zone the expression's times are read in (default "UTC"). */
  timeZone?: string;
  /** The queue each tick's job goes to. */
  queue: string;
  /** The job's name (default: the schedule's name). */
  jobName?: string;
  /**
   * A JSON object (default {}). Each job's payload is this object with `_schedule` added: the
   * schedule's name, the tick (ISO 8601) and whether the job was back-filled.
   */
  payload?: Record<string, unknown>;
  /**
   * Ticks that came due while no dispatcher ran: "skip" (default) enqueues only the latest of them,
   * "backfill" each of them, oldest first, up to `backfillLimit` (the latest ones).
   */
  missed?: MissedTicks;
  /** With missed: "backfill", the most ticks one dispatch enqueues for a schedule (default 100). */
  backfillLimit?: number;
  /** Each job's priority (default 0). */
  priority?: number;
  /** Each job's attempts before it goes dead (default 25). */
  maxAttempts?: number;
  /** Each job's retry delays. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Each job's group in its queue (see EnqueueJob.group). */
  group?: string;
}

/** The jobs' options a schedule keeps. */
export interface ScheduleJobOptions {
  priority?: number;
  maxAttempts?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  group?: string;
}

export interface Schedule {
  name: string;
  cron: string;
  timeZone: string;
  queue: string;
  jobName: string;
  payload: Record<string, unknown>;
  missed: MissedTicks;
  backfillLimit: number;
  jobOptions: ScheduleJobOptions;
  /** The next tick to enqueue (while paused: the one it would be). */
  nextRunAt: Date;
  /** The latest tick enqueued, if any. */
  lastRunAt: Date | null;
  /** When that tick was enqueued (by the database's clock). */
  lastDispatchedAt: Date | null;
  /** Set while the schedule is paused. */
  pausedAt: Date | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What `_schedule` in a scheduled job's payload holds. */
export interface ScheduleTick {
  name: string;
  /** The tick, as an ISO 8601 instant. */
  tick: string;
  /** True when the job was enqueued for a tick missed while nothing dispatched. */
  backfilled: boolean;
}
