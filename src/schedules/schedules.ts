/**
 * Cron schedules: each enqueues a job into its queue at every tick of its cron expression, read in
 * its time zone, exactly once whichever processes dispatch (see dispatch.ts). A schedule is a row
 * keyed by its name holding its next tick; `set` creates or replaces it, a dispatcher
 * (`startDispatcher`, in any number of processes) enqueues what is due.
 */

import { startBackgroundLoop } from "../core/background.js";
import { forReads, type StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import { integerOption, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { OutageReporter } from "../core/outage.js";
import { refuseOnReadOnly } from "../core/read-only.js";
import { parseCron } from "./cron.js";
import { dispatchDue, nextRunAfter, waitForNext } from "./dispatch.js";
import { checkName, checkSchedule } from "./input.js";
import { COLUMNS, type ScheduleRow, toSchedule } from "./rows.js";
import type { Schedule, SetSchedule } from "./types.js";
import { checkTimeZone, nextTick } from "./zones.js";

export interface ScheduleDispatcherOptions {
  /** Schedules one pass takes at most (default 100); a full pass goes again at once. */
  limit?: number;
  /** The longest wait between passes (default 1 s), so schedules set meanwhile are not missed. */
  pollIntervalMs?: number;
  signal?: AbortSignal;
  onError?: (e: unknown) => void;
}

const DISPATCH_KEYS = optionKeys<{ limit?: number }>({ limit: true });
const DISPATCHER_KEYS = optionKeys<ScheduleDispatcherOptions>({
  limit: true,
  pollIntervalMs: true,
  signal: true,
  onError: true,
});
const TICKS_KEYS = optionKeys<{ timeZone?: string; after?: Date; count?: number }>({
  timeZone: true,
  after: true,
  count: true,
});

export class Schedules {
  constructor(protected readonly context: StoreContext) {}

  private get t(): string {
    return `${this.context.q}.schedules`;
  }

  /**
   * Creates the schedule, or replaces the one of that name. Its next tick is the first after now (by
   * the database's clock); a schedule replaced with the same cron and time zone keeps its next tick,
   * so setting schedules as a process starts loses none of the ticks missed while it was down. A
   * paused schedule stays paused.
   */
  async set(input: SetSchedule): Promise<Schedule> {
    const schedule = checkSchedule(input, this.context.limits);
    const { rows: clock } = await this.context.db.query<{ now: Date }>("select now() as now");
    const next = nextTick(schedule.fields, schedule.timeZone, (clock[0] as { now: Date }).now);
    if (next === null) {
      throw new ValidationError(`cron ${JSON.stringify(schedule.cron)} has no tick in the next 30 years`, {
        field: "cron",
      });
    }
    const { rows } = await this.context.db.query<ScheduleRow>(
      `insert into ${this.t} as s (name, cron, time_zone, queue, job_name, payload, job_options, missed,
                                   backfill_limit, next_run_at)
       values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10)
       on conflict (name) do update
         set cron = excluded.cron, time_zone = excluded.time_zone, queue = excluded.queue,
             job_name = excluded.job_name, payload = excluded.payload, job_options = excluded.job_options,
             missed = excluded.missed, backfill_limit = excluded.backfill_limit,
             next_run_at = case when s.cron = excluded.cron and s.time_zone = excluded.time_zone
                                then s.next_run_at else excluded.next_run_at end,
             version = s.version + 1, updated_at = now()
       returning ${COLUMNS}`,
      [
        schedule.name,
        schedule.cron,
        schedule.timeZone,
        schedule.queue,
        schedule.jobName,
        schedule.payload,
        schedule.jobOptions,
        schedule.missed,
        schedule.backfillLimit,
        next,
      ],
    );
    return toSchedule(rows[0] as ScheduleRow);
  }

  async get(name: string): Promise<Schedule> {
    const { rows } = await this.context.db.query<ScheduleRow>(
      `select ${COLUMNS} from ${this.t} where name = $1`,
      [checkName(name)],
    );
    const row = rows[0];
    if (!row) throw new NotFoundError(`schedule ${JSON.stringify(name)} not found`);
    return toSchedule(row);
  }

  /** Every schedule, by name; from the store's readConnection when it has one (outside a transaction). */
  async list(): Promise<Schedule[]> {
    const { rows } = await forReads(this.context).db.query<ScheduleRow>(
      `select ${COLUMNS} from ${this.t} order by name`,
    );
    return rows.map(toSchedule);
  }

  /** Deletes the schedule (the jobs it enqueued stay); false when there was none. */
  async delete(name: string): Promise<boolean> {
    const { rowCount } = await this.context.db.query(`delete from ${this.t} where name = $1`, [
      checkName(name),
    ]);
    return rowCount > 0;
  }

  /** Stops enqueueing the schedule's ticks until `resume`; false when it was paused already (or is none). */
  async pause(name: string): Promise<boolean> {
    const { rowCount } = await this.context.db.query(
      `update ${this.t} set paused_at = now(), version = version + 1, updated_at = now()
        where name = $1 and paused_at is null`,
      [checkName(name)],
    );
    return rowCount > 0;
  }

  /**
   * Enqueues the schedule's ticks again, from the first after now: the ticks that came while it was
   * paused are not back-filled. False when it was not paused (or is none).
   */
  async resume(name: string): Promise<boolean> {
    const { rows } = await this.context.db.query<{ cron: string; time_zone: string; now: Date }>(
      `select cron, time_zone, now() as now from ${this.t} where name = $1 and paused_at is not null`,
      [checkName(name)],
    );
    const row = rows[0];
    if (!row) return false;
    // Only if it was not set to another expression meanwhile, whose next tick this would not be.
    const { rowCount } = await this.context.db.query(
      `update ${this.t} set paused_at = null, next_run_at = $2, version = version + 1, updated_at = now()
        where name = $1 and paused_at is not null and cron = $3 and time_zone = $4`,
      [name, nextRunAfter(row.cron, row.time_zone, row.now), row.cron, row.time_zone],
    );
    return rowCount > 0 ? true : this.resume(name);
  }

  /**
   * Enqueues the jobs of up to `limit` due schedules (100 by default), each tick once, and moves
   * their next ticks on; returns how many jobs it enqueued. In a transaction, only if it commits.
   */
  async dispatchDue(options: { limit?: number } = {}): Promise<number> {
    refuseUnknownKeys(options, DISPATCH_KEYS);
    const limit = integerOption(options.limit, "limit", { min: 1, max: 10_000, fallback: 100 });
    return dispatchDue(this.context, limit);
  }

  /**
   * Runs `dispatchDue` until stopped: at once while schedules are due, else when the next one is, and
   * at most `pollIntervalMs` (default 1 s) later, so schedules set meanwhile are not late. Run one in
   * every process that should dispatch (any number: a tick is enqueued once). Like a worker it keeps
   * the process alive until stopped, and the store's close() stops it first; while the database
   * cannot be reached its errors are reported with backoff, as a worker's are.
   */
  startDispatcher(options: ScheduleDispatcherOptions = {}): { stop(): Promise<void> } {
    refuseOnReadOnly(this.context, "schedules.startDispatcher()");
    refuseUnknownKeys(options, DISPATCHER_KEYS);
    const limit = integerOption(options.limit, "limit", { min: 1, max: 10_000, fallback: 100 });
    const pollIntervalMs = integerOption(options.pollIntervalMs, "pollIntervalMs", {
      min: 1,
      fallback: 1_000,
    });
    // Outside any transaction this repository was reached from: the loop outlives it.
    const context = { ...this.context, db: this.context.driver, reads: this.context.driver };
    const outage = new OutageReporter(context.logger, "flowstore schedules", options.onError);
    return startBackgroundLoop(
      context.driver,
      async () => {
        try {
          const enqueued = await dispatchDue(context, limit);
          outage.ok();
          if (enqueued >= limit) return 0;
          const waitMs = await waitForNext(context);
          // A due schedule another dispatcher holds: look again shortly, not at once.
          return waitMs === null ? pollIntervalMs : Math.min(pollIntervalMs, Math.max(10, Math.ceil(waitMs)));
        } catch (error) {
          outage.error(error);
          return pollIntervalMs;
        }
      },
      options.signal,
    );
  }
}

/**
 * The next `count` ticks (default 5) of a cron expression in a time zone (default UTC) after `after`
 * (default now, by this process's clock): to check an expression before setting it.
 */
export function nextCronTicks(
  cron: string,
  options: { timeZone?: string; after?: Date; count?: number } = {},
): Date[] {
  refuseUnknownKeys(options, TICKS_KEYS);
  const fields = parseCron(cron);
  const zone = checkTimeZone(options.timeZone);
  const count = integerOption(options.count, "count", { min: 1, max: 1000, fallback: 5 });
  const ticks: Date[] = [];
  let tick = nextTick(fields, zone, options.after ?? new Date());
  for (; tick && ticks.length < count; tick = nextTick(fields, zone, tick)) ticks.push(tick);
  return ticks;
}
