/**
 * History for the history bench: finished runs spread evenly over consecutive days of the store's
 * ranges, each with 5 events (and their head), 5 step checkpoints and one completed-job record, written
 * by `insert … select … from generate_series` a day at a time. Ids are UUIDv7s of their run's start, as
 * the store makes them, so each day lands in its own range's partitions.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { HistoryRange } from "../../src/partitions/index.js";
import { uuidFloor } from "../../src/partitions/index.js";
import { log, ms } from "../lib.js";

export const EVENTS_PER_RUN = 5;
export const STEPS_PER_RUN = 5;
const DAY_MS = 86_400_000;

/** The id of the `i`-th run (of `perDay`) on the day that starts at `start`: what the seeding wrote. */
export function runId(start: Date, i: number, perDay: number): string {
  const at = new Date(start.getTime() + Math.floor((i * DAY_MS) / perDay));
  return `${uuidFloor(at).slice(0, 14)}7000-8000-${i.toString(16).padStart(12, "0")}`;
}

/** SQL for the same id, of `i` (an SQL expression) on the day starting at $1. */
function idSql(s: string, perDay: number): string {
  return `(substr(${s}.uuid_floor($1::timestamptz + (i::bigint * ${DAY_MS} / ${perDay}) * interval '1 millisecond')::text, 1, 14)
           || '7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid`;
}

/** Writes `perDay` runs on each of `days`; returns the seconds it took. */
export async function seedHistory(
  url: string,
  schema: string,
  days: HistoryRange[],
  perDay: number,
): Promise<number> {
  const s = `"${schema}"`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  try {
    await client.query("set synchronous_commit = off");
    for (const [d, day] of days.entries()) {
      const t0 = performance.now();
      const params = [day.startsAt, perDay];
      await client.query(
        `insert into ${s}.executions (id, name, status, input, output, metadata, created_at, started_at, completed_at, updated_at)
         select id, 'order', 'completed', jsonb_build_object('order', i, 'customer', 'c-' || (i % 5000)),
                jsonb_build_object('ok', true, 'total', i % 997), '{"region": "eu"}', t, t, t + interval '1 minute', t + interval '1 minute'
           from generate_series(0, $2::int - 1) i,
                lateral (select ${idSql(s, perDay)} as id,
                                $1::timestamptz + (i::bigint * ${DAY_MS} / ${perDay}) * interval '1 millisecond' as t) x`,
        params,
      );
      const runs = `from ${s}.executions e where e.id >= ${s}.uuid_floor($1::timestamptz)
                      and e.id < ${s}.uuid_floor($1::timestamptz + interval '1 day') and $2::int > 0`;
      await client.query(
        `insert into ${s}.event_heads (execution_id, last_seq) select e.id, ${EVENTS_PER_RUN} ${runs}`,
        params,
      );
      await client.query(
        `insert into ${s}.events (execution_id, seq, type, payload, created_at)
         select e.id, k, 'step_completed', jsonb_build_object('step', k, 'result', repeat('r', 120)),
                e.created_at + k * interval '1 second'
           ${runs.replace("from", `from generate_series(1, ${EVENTS_PER_RUN}) k,`)}`,
        params,
      );
      await client.query(
        `insert into ${s}.steps (execution_id, step_number, name, output, created_at)
         select e.id, k, 'step-' || k, jsonb_build_object('value', k, 'note', repeat('s', 120)),
                e.created_at + k * interval '1 second'
           ${runs.replace("from", `from generate_series(0, ${STEPS_PER_RUN - 1}) k,`)}`,
        params,
      );
      await client.query(
        `insert into ${s}.jobs_history (id, queue, name, payload, priority, attempts, execution_id, created_at, completed_at)
         select e.id, 'orders', 'charge', '{"amount": 10}', 0, 1, e.id, e.created_at, e.created_at + interval '30 seconds'
           ${runs}`,
        params,
      );
      log(
        `  day ${d + 1} of ${days.length} (range ${day.name}): ${perDay.toLocaleString("en-US")} runs in ${ms(performance.now() - t0)}`,
      );
    }
    const t0 = performance.now();
    await client.query("vacuum analyze");
    log(`  vacuum analyze: ${ms(performance.now() - t0)}`);
  } finally {
    await client.end();
  }
  return (performance.now() - started) / 1000;
}

/** History rows per run: events and steps (the heads, executions and job records besides). */
export const HISTORY_ROWS_PER_RUN = EVENTS_PER_RUN + STEPS_PER_RUN;
