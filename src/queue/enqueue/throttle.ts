/**
 * Throttle (EnqueueJob.throttle): an enqueue of a key makes a job and opens a window of `ms`; the
 * enqueues of the key in the window return that job, counted in its `absorbed`, and make none. The
 * window is a row of job_throttles (migration 0030), taken by an upsert that replaces it only once it
 * has ended: of several enqueues racing for an ended window, in one process or many, the row's lock
 * lets exactly one take it, and the others wait for that one's commit and find the window it opened.
 * So the windows are taken in the enqueue's transaction, before its jobs are inserted: a window is
 * never open without its job, nor a job made beside an open window.
 */

import type { StoreContext } from "../../core/context.js";
import { PROBE } from "../../core/planned-few.js";
import type { ThrottleWindow } from "./enqueue-input.js";

/** A throttled slot of a batch: its window, the job it would make, and the enqueues it took in. */
export interface ThrottledSlot extends ThrottleWindow {
  slot: number;
  queue: string;
  id: string;
  absorbs: number;
}

/**
 * Takes the windows that have ended (or were never opened) for their slots; returns, for each slot
 * whose window is still open, the job that window made, whose `absorbed` count it adds to. The slots
 * not returned make their jobs. In a transaction, with the insert of those jobs.
 */
export async function takeWindows(
  context: StoreContext,
  slots: readonly ThrottledSlot[],
): Promise<Map<number, string>> {
  const t = `${context.q}.job_throttles`;
  // Keys in one order, as every enqueue takes them: two batches wait for each other, never deadlock.
  const sorted = [...slots].sort((a, b) =>
    a.queue === b.queue ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.queue < b.queue ? -1 : 1,
  );
  const { rows: taken } = await context.db.query<{ queue: string; key: string }>(
    `insert into ${t} as w (queue, key, job_id, until)
     select queue, key, job_id, now() + ms * interval '1 millisecond'
       from unnest($1::text[], $2::text[], $3::uuid[], $4::float8[]) with ordinality as s(queue, key, job_id, ms, n)
      order by n
     on conflict (queue, key) do update set job_id = excluded.job_id, until = excluded.until
       where w.until <= now()
     returning w.queue, w.key`,
    [sorted.map((s) => s.queue), sorted.map((s) => s.key), sorted.map((s) => s.id), sorted.map((s) => s.ms)],
    { prepare: true },
  );
  const opened = new Set(taken.map((row) => `${row.queue}\u0000${row.key}`));
  const open = sorted.filter((s) => !opened.has(`${s.queue}\u0000${s.key}`));
  const made = new Map<number, string>();
  if (open.length === 0) return made;
  // A later statement: it sees the windows the upsert waited for, committed since it began.
  const { rows } = await context.db.query<{ queue: string; key: string; job_id: string }>(
    `with open as (
       select * from unnest($1::text[], $2::text[], $3::int[]) as o(queue, key, absorbs)),
     windows as materialized (
       select o.queue, o.key, w.job_id, o.absorbs from open o
         cross join lateral (select job_id from ${t} w where w.queue = o.queue and w.key = o.key ${PROBE}) w),
     -- Each job through its key: a join might read the whole queue to hash it.
     counted as (
       update ${context.q}.jobs j
          set absorbed = j.absorbed + 1 + (select w.absorbs from windows w where w.job_id = j.id limit 1)
        where j.id = any(array(select job_id from windows)))
     select queue, key, job_id from windows`,
    [open.map((s) => s.queue), open.map((s) => s.key), open.map((s) => s.absorbs)],
    { prepare: true },
  );
  const jobOf = new Map(rows.map((row) => [`${row.queue}\u0000${row.key}`, row.job_id]));
  for (const s of open) {
    const id = jobOf.get(`${s.queue}\u0000${s.key}`);
    if (id) made.set(s.slot, id);
  }
  return made;
}

/** Deletes up to 1,000 windows that have ended (the workers' vacuum); returns how many. */
export async function deleteEndedWindows(context: StoreContext): Promise<number> {
  const t = `${context.q}.job_throttles`;
  const { rows } = await context.db.query<{ n: number }>(
    `with ended as (
       select queue, key from ${t} where until < now() order by until limit 1000 for update skip locked),
     gone as (
       delete from ${t} w using ended e where w.queue = e.queue and w.key = e.key
          and w.until < now()
       returning 1)
     select count(*)::int as n from gone`,
  );
  return rows[0]?.n ?? 0;
}
