/**
 * The job_starts table: how far each worker has got in starting the jobs it reserved. A prefetched
 * job's attempt counts from the moment its handler starts, so that a worker dying with jobs in its
 * buffer burns none of theirs. Rather than writing each job's row as it starts, a worker numbers its
 * claims (batches), starts batches in order and each batch's jobs in claim order, and keeps one row
 * here saying the last job it started. Whether a reserved job had started is then a comparison with
 * that row, made only when the job is taken back after its lease lapsed (startedRun), and by fail()
 * and release(), which count the run themselves (RUN_NOT_COUNTED).
 *
 * A row also records the worker's leaseMs, so the jobs it covers stay the worker's for that long even
 * before a heartbeat extends their own leases, which are reservations of a few seconds (startLeaseHeld).
 * How a worker sends its marks is its own affair (worker/start-marks.ts); these are the statements.
 */

import type { StoreContext } from "../core/context.js";
import { RELAXED_COMMIT, RUN_AT_US, relaxedCommit } from "./sql.js";
import { noteAdditions } from "./total-folds.js";
import { addNamedCounts } from "./totals.js";

/** Where a job stands in its worker's start order: its claim, then the claim's own order. */
export interface StartPlace {
  batch: number;
  priority: number;
  runAtUs: string;
  id: string;
}

/**
 * SQL: 1 when a claim by `claimer` takes back the job (as `alias`) from a run it must count, else 0: the
 * job is reserved, its worker had started it, and that worker is another one, or the claimer itself
 * when the job is among `letGo` (a uuid[]: runs it started and could not record the end of, see
 * StartMarks.letGo in the worker). A job a worker takes back while still running it is not counted:
 * its run counts when it ends. Only a running job can have been started; for a waiting one the
 * subquery is not run. The order (batch, priority descending, run_at, id) is the claim order.
 */
export function startedRun(context: StoreContext, alias: string, claimer: string, letGo: string): string {
  const j = alias;
  const runAtUs = RUN_AT_US.replaceAll("j.", `${j}.`);
  return `(case when ${j}.status = 'running' and ${j}.reserved_by is not null
                 and (${j}.reserved_by is distinct from ${claimer} or ${j}.id = any(${letGo}))
                 and exists (select 1 from ${context.q}.job_starts s
                              where s.worker = ${j}.reserved_by
                                and (s.batch, ${j}.priority, s.run_at_us, s.job_id)
                                    >= (${j}.reserved_batch, s.priority, ${runAtUs}, ${j}.id))
            then 1 else 0 end)`;
}

/**
 * SQL: true when the job (as `alias`) started under its worker's reservation and neither its own lease
 * nor its worker's latest start mark is older than that worker's leaseMs. Its lease ran out before a
 * heartbeat extended it (a handler holding the event loop as it started), not because the worker is
 * gone: a claim does not take it back yet. Bounded by the job's own lease too, so a job its worker let
 * go of without finishing it (its failure could not be recorded) comes back while the worker goes on.
 */
export function startLeaseHeld(context: StoreContext, alias: string): string {
  const j = alias;
  const runAtUs = RUN_AT_US.replaceAll("j.", `${j}.`);
  const window = "s.lease_ms * interval '1 millisecond'";
  return `(${j}.reserved_by is not null
           and exists (select 1 from ${context.q}.job_starts s
                       where s.worker = ${j}.reserved_by
                         and s.updated_at > now() - ${window} and ${j}.lease_expires_at > now() - ${window}
                         and (s.batch, ${j}.priority, s.run_at_us, s.job_id)
                             >= (${j}.reserved_batch, s.priority, ${runAtUs}, ${j}.id)))`;
}

/** SQL: 1 when the job's current run is not yet among its attempts (it runs under a reservation). */
export const RUN_NOT_COUNTED = "(case when reserved_by is not null then 1 else 0 end)";

/**
 * Records that `worker` has started every job up to `place` in its start order, and adds `counts` (the
 * starts the mark covers, with their waits) to `queue`'s totals in the same statement: a run counts as
 * started when its attempt does.
 */
export async function markStarted(
  context: StoreContext,
  worker: string,
  place: StartPlace,
  leaseMs: number,
  queue: string,
  counts: ReadonlyMap<string, number> = new Map(),
): Promise<void> {
  const { q } = context;
  const relaxed = relaxedCommit(context);
  await context.db.query(
    `with ${relaxed ? `${RELAXED_COMMIT}, ` : ""}${addNamedCounts(context, "$7::text", "$8::text[]", "$9::bigint[]")}
     insert into ${q}.job_starts (worker, batch, priority, run_at_us, job_id, lease_ms)
     select $1, $2, $3, $4, $5, $6${relaxed ? " from relaxed_commit" : ""}
     on conflict (worker) do update
       set batch = excluded.batch, priority = excluded.priority, run_at_us = excluded.run_at_us,
           job_id = excluded.job_id, lease_ms = excluded.lease_ms, updated_at = now()`,
    [
      worker,
      place.batch,
      place.priority,
      place.runAtUs,
      place.id,
      leaseMs,
      queue,
      [...counts.keys()],
      [...counts.values()],
    ],
    { prepare: true },
  );
  if (counts.size) noteAdditions(context, counts.size);
}

/** Those of `ids` that `worker` still holds reserved (running under its reservation). */
export async function stillReserved(
  context: StoreContext,
  worker: string,
  ids: readonly string[],
): Promise<Set<string>> {
  const { rows } = await context.db.query<{ id: string }>(
    `select id from ${context.q}.jobs where id = any($1::uuid[]) and status = 'running' and reserved_by = $2`,
    [ids, worker],
  );
  return new Set(rows.map((row) => row.id));
}

/** Removes `worker`'s row (it holds no reservation any more). */
export async function deleteStartMark(context: StoreContext, worker: string): Promise<void> {
  await context.db.query(`delete from ${context.q}.job_starts where worker = $1`, [worker]);
}

/**
 * Removes the job_starts rows of workers that hold no reservation any more (they stopped without
 * removing theirs, or died and their jobs were taken back). Returns how many went.
 */
export async function forgetIdleWorkers(context: StoreContext): Promise<number> {
  const { q } = context;
  const { rows } = await context.db.query<{ n: number }>(
    `with gone as (
       delete from ${q}.job_starts s
        where s.updated_at < now() - interval '1 minute'
          and not exists (select 1 from ${q}.jobs j where j.status = 'running' and j.reserved_by = s.worker)
       returning 1)
     select count(*)::int as n from gone`,
  );
  return rows[0]?.n ?? 0;
}
