/**
 * Dispatching: due schedules become jobs. One transaction locks the due rows with FOR UPDATE SKIP
 * LOCKED (another dispatcher passes over them), enqueues a job per tick to enqueue (one enqueue
 * batch: one NOTIFY) and moves each schedule's next_run_at past now. Whoever dispatches, and however
 * many processes do, a tick is enqueued once: a second dispatcher finds the row locked, or, once the
 * first has committed, no longer due. Each job also carries the dedupe key `schedule:<name>:<tick>`,
 * so a tick whose job still waits or runs cannot be enqueued beside it, whatever happens to the
 * schedule's row (set again, say, to an earlier next tick).
 */

import type { StoreContext } from "../core/context.js";
import { inTransaction } from "../core/context.js";
import { MAX_DATE } from "../core/input.js";
import { toJson } from "../core/payload.js";
import { type EnqueueJob, Jobs } from "../queue/index.js";
import { type CronFields, parseCron } from "./cron.js";
import { TICK_KEY } from "./input.js";
import { COLUMNS, type ScheduleRow } from "./rows.js";
import type { ScheduleTick } from "./types.js";
import { nextTick, ticksUntil } from "./zones.js";

/** Parsed expressions by their text: a dispatcher parses each once. */
const parsed = new Map<string, CronFields>();

function fieldsOf(cron: string): CronFields {
  let fields = parsed.get(cron);
  if (!fields) {
    if (parsed.size >= 1000) parsed.clear();
    fields = parseCron(cron);
    parsed.set(cron, fields);
  }
  return fields;
}

/** The dedupe key of a schedule's job for a tick. */
export function tickKey(name: string, tick: Date): string {
  return `schedule:${name}:${tick.toISOString()}`;
}

/** The schedule's next tick after `after`; one that never comes again is parked at the last storable date. */
export function nextRunAfter(cron: string, timeZone: string, after: Date): Date {
  return nextTick(fieldsOf(cron), timeZone, after) ?? MAX_DATE;
}

/** Enqueues the jobs of up to `limit` due schedules; returns how many jobs (ticks) it enqueued. */
export async function dispatchDue(context: StoreContext, limit: number): Promise<number> {
  return context.db.transaction(async (tx) => {
    const { rows } = await tx.query<ScheduleRow & { now: Date }>(
      `select ${COLUMNS}, now() as now from ${context.q}.schedules
        where next_run_at <= now() and paused_at is null
        order by next_run_at limit $1
        for update skip locked`,
      [limit],
    );
    if (rows.length === 0) return 0;
    const jobs: EnqueueJob[] = [];
    const moved = { names: [] as string[], next: [] as Date[], last: [] as Date[], broken: [] as boolean[] };
    for (const row of rows) {
      moved.names.push(row.name);
      try {
        const ticks = ticksOf(row);
        const rowJobs = ticks.map((tick, i) => jobOf(row, tick, i < ticks.length - 1));
        // The enqueue checks every job before it sends any: one this store refuses would fail them all.
        const latest = rowJobs.at(-1);
        if (latest) toJson(latest.payload, "payload", context.limits);
        jobs.push(...rowJobs);
        moved.next.push(nextRunAfter(row.cron, row.time_zone, row.now));
        moved.last.push(ticks.at(-1) ?? row.next_run_at);
        moved.broken.push(false);
      } catch (error) {
        // A row this process cannot read (an expression or zone it does not know, a payload over its
        // limits) would stop every dispatch at it: it is paused instead, and said so.
        context.logger.warn(
          { schedule: row.name, error: String(error) },
          "flowstore schedules: a schedule that cannot be dispatched was paused",
        );
        moved.next.push(row.next_run_at);
        moved.last.push(row.last_run_at ?? row.next_run_at);
        moved.broken.push(true);
      }
    }
    if (jobs.length > 0) await new Jobs(inTransaction(context, tx)).enqueue(jobs);
    await tx.query(
      `update ${context.q}.schedules s
          set next_run_at = m.next,
              last_run_at = case when m.broken then s.last_run_at else m.last end,
              last_dispatched_at = case when m.broken then s.last_dispatched_at else now() end,
              paused_at = case when m.broken then now() end
         from unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bool[]) as m(name, next, last, broken)
        where s.name = m.name`,
      [moved.names, moved.next, moved.last, moved.broken],
    );
    return jobs.length;
  });
}

/** The ticks of a due schedule to enqueue now: the latest that came due, or (backfill) the latest few. */
function ticksOf(row: ScheduleRow & { now: Date }): Date[] {
  const keep = row.missed === "backfill" ? row.backfill_limit : 1;
  return ticksUntil(fieldsOf(row.cron), row.time_zone, row.next_run_at, row.now, keep);
}

function jobOf(row: ScheduleRow, tick: Date, backfilled: boolean): EnqueueJob {
  const info: ScheduleTick = { name: row.name, tick: tick.toISOString(), backfilled };
  return {
    ...row.job_options,
    queue: row.queue,
    name: row.job_name,
    payload: { ...row.payload, [TICK_KEY]: info },
    key: tickKey(row.name, tick),
    runAt: tick,
  };
}

/** Milliseconds until the next unpaused schedule is due, by the database's clock; null when none is. */
export async function waitForNext(context: StoreContext): Promise<number | null> {
  const { rows } = await context.db.query<{ wait_ms: number }>(
    `select (extract(epoch from next_run_at - now()) * 1000)::float8 as wait_ms
       from ${context.q}.schedules where paused_at is null order by next_run_at limit 1`,
  );
  const row = rows[0];
  return row ? Number(row.wait_ms) : null;
}
