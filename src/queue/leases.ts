/**
 * Leases once claimed (see claim.ts): every completion, failure, snooze, heartbeat and release checks
 * the lease token, so a worker that lost its lease changes nothing.
 */

import type { StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { errorJson, integerOption, optionalDate, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { jobsChannel, wakeQueues, wakeStatement } from "../core/wake.js";
import { checkLease, leaseLost, uuidArray } from "./checks.js";
import { RUN_NOT_COUNTED } from "./job-starts.js";
import {
  JOB_COLUMNS,
  type JobRow,
  PREPARED_COMPLETION_MAX,
  RELAXED_COMMIT,
  relaxedCommit,
  toJob,
} from "./sql.js";
import { noteAdditions } from "./total-folds.js";
import { countRows } from "./totals.js";
import type { Job, Lease } from "./types.js";

/** The first server_version_num whose generic plans cost `= any($1)` on an index as a few descents. */
const GENERIC_ARRAY_PROBES_FROM = 170000;

const COMPLETE_KEYS = optionKeys<{ keepCompleted?: boolean }>({ keepCompleted: true });
const FAIL_KEYS = optionKeys<{ retryAt?: Date }>({ retryAt: true });
const HEARTBEAT_KEYS = optionKeys<{ extendMs?: number }>({ extendMs: true });
const RELEASE_KEYS = optionKeys<{ countAttempt?: boolean }>({ countAttempt: true });

/**
 * Finishes jobs: deleted, or moved to jobs_history with `keepCompleted`. One statement for any number.
 * Throws LeaseLostError (listing `lost`) for leases no longer held; the others are completed.
 */
export async function complete(
  context: StoreContext,
  leases: Lease | Lease[],
  options: { keepCompleted?: boolean } = {},
): Promise<void> {
  refuseUnknownKeys(options, COMPLETE_KEYS);
  const list = Array.isArray(leases) ? leases : [leases];
  const lost = await completeMany(context, list, options.keepCompleted === true);
  if (lost.length) throw leaseLost(lost, "complete");
}

/**
 * complete() that reports lost leases instead of throwing (the worker's batch completer). The jobs it
 * completes count among their queue's completed in the same statement, whoever claimed them: a
 * completion that commits is counted, whatever becomes of its process after. `queue`, when every lease
 * is of that queue (a worker's), makes the count one row for the batch without reading each job's queue.
 */
export async function completeMany(
  context: StoreContext,
  leases: Lease[],
  keepCompleted: boolean,
  queue?: string,
): Promise<string[]> {
  const t = `${context.q}.jobs`;
  if (leases.length === 0) return [];
  // The worker's hot path: no regex per lease. A malformed id or token still fails the uuid[] cast
  // in the database, and then nothing at all is completed.
  const ids = uuidArray(
    leases.map((lease) => lease?.id),
    "lease.id",
  );
  const tokens = uuidArray(
    leases.map((lease) => lease?.leaseToken),
    "lease.leaseToken",
  );
  const relaxed = relaxedCommit(context);
  // By primary key, with the token among the batch's tokens. A lease token is a random UUID a claim
  // gives the jobs it leases (cleared when a lease ends), so a job whose token is one of this worker's
  // claims' is leased to this worker still; pairing ids with tokens by position adds nothing. Joining
  // unnest(ids, tokens) instead let the planner hash every running job of the queue for each batch:
  // 4 ms against 0.7 ms for 500 of 4,500.
  // A job under a lease is never dead: `status <> 'dead'` changes nothing but the planner's sums. On a
  // fresh store's empty table (planned as ten pages of rows) it tips the generic plan to the primary
  // key, where a scan of the table came out a hair cheaper, and a plan made then is kept as it grows.
  const removed = (columns: string) => `delete from ${t} j${relaxed ? " using relaxed_commit" : ""}
      where j.id = any($1::uuid[]) and j.lease_token = any($2::uuid[]) and j.status <> 'dead'
      returning ${columns}`;
  // One row of additions per queue of the batch: the count commits with the jobs' deletes, or neither
  // does. A worker's batch is counted under its queue ($3), with no job's queue read back nor grouped.
  // Measured against the DELETE alone (batches of 200, on a loaded machine): about a tenth more for the
  // statement, a millisecond a batch there, a fraction of a microsecond a job on an idle server.
  const one = queue !== undefined && !keepCompleted;
  const count = one
    ? `counted as (insert into ${context.q}.queue_total_additions (queue, name, n)
         select $3::text, 'completed', count(*) from done having count(*) > 0)`
    : countRows(context, "done", [["completed", "true"]]);
  const head = `with ${relaxed ? `${RELAXED_COMMIT},` : ""} done as (${removed(keepCompleted ? "j.*" : one ? "j.id" : "j.id, j.queue")}),
     ${count}`;
  const sql = keepCompleted
    ? `${head}
       insert into ${context.q}.jobs_history (id, queue, name, payload, priority, attempts, key, execution_id, created_at)
       select id, queue, name, payload, priority, attempts + ${RUN_NOT_COUNTED}, key, execution_id, created_at from done
       -- A caller may reuse a job id: the newer completion replaces the older record.
       on conflict (id) do update
         set queue = excluded.queue, name = excluded.name, payload = excluded.payload,
             priority = excluded.priority, attempts = excluded.attempts, key = excluded.key,
             execution_id = excluded.execution_id, created_at = excluded.created_at, completed_at = now()
       returning id`
    : `${head}
       select id from done`;
  // A named statement runs one generic plan for any arrays, and that plan tests each row's token
  // against the batch's tokens one by one. Planned for its own arrays, the statement hashes them: for
  // batches of 1,000 that halves the completion's cost (4.6 against 8.3 µs a job). Small batches keep
  // the prepared statement, whose planning saved outweighs a short scan, on PostgreSQL 17 and later.
  // Before 17 a generic plan costs `id = any($1)` as ten descents of the index, so one made on a fresh
  // store's table (never analyzed: ten pages, by the planner's guess) reads the whole table, and goes
  // on reading it as the table grows until autovacuum analyzes it: 23 ms a batch at 100,000 jobs on
  // PostgreSQL 14, against 0.06 ms by the index. There each batch is planned for itself (about 0.1 ms).
  const { rows } = await context.db.query<{ id: string }>(sql, one ? [ids, tokens, queue] : [ids, tokens], {
    prepare:
      leases.length <= PREPARED_COMPLETION_MAX &&
      (context.driver.serverVersion ?? 0) >= GENERIC_ARRAY_PROBES_FROM,
  });
  if (rows.length > 0) noteAdditions(context, 1);
  if (rows.length === leases.length) return [];
  const done = new Set(rows.map((row) => row.id));
  // Rows come back in lower case and a lease given twice is one row: compare ids as UUIDs, or a job
  // just completed would be reported lost.
  return leases.map((lease) => lease.id).filter((id) => !done.has(id.toLowerCase()));
}

/**
 * Whether job `x` keeps its place in its group when it fails or is snoozed: it has a group, and its
 * queue keeps strict order (migration 0032).
 */
function strictOrder(context: StoreContext, x: string): string {
  return `(${x}.group_name is not null and coalesce(
             (select l.strict_order from ${context.q}.queue_limits l where l.queue = ${x}.queue), false))`;
}

/**
 * A CTE that holds the groups of the `rows` (a CTE returning id, queue, group_name, hold) until `hold`,
 * each for its row's job.
 */
function holdGroups(context: StoreContext, rows: string): string {
  return `held as (
       update ${context.q}.job_groups g set held_until = r.hold, held_for = r.id
         from ${rows} r where r.hold is not null and g.queue = r.queue and g.name = r.group_name)`;
}

/**
 * Records a failed attempt. Until maxAttempts the job waits again, at `retryAt` or after exponential
 * backoff with jitter; then it is dead. Returns the job as it now stands. In a queue with strict order
 * a grouped job keeps its place in its group (its stored run time stays) and holds its group until
 * the retry: the job returned has that time as its `runAt`.
 */
export async function fail(
  context: StoreContext,
  lease: Lease,
  error: unknown,
  options: { retryAt?: Date } = {},
): Promise<Job> {
  refuseUnknownKeys(options, FAIL_KEYS);
  const t = `${context.q}.jobs`;
  checkLease(lease);
  const retryAt = optionalDate(options.retryAt, "retryAt");
  // Backoff is base * 2^(attempts - 1), at most backoff_max_ms. The exponent stops at 31: both
  // columns are int4, so from there on any base of 1 ms or more already reaches the cap (and a base
  // of 0 stays 0), while an uncapped exponent overflows float8 after about 1,025 attempts (sooner
  // with a large base) and the failure would not be recorded.
  // A run under a worker's reservation is not among the attempts yet: it counts here.
  const attempts = `(attempts + ${RUN_NOT_COUNTED})`;
  const { rows } = await context.db.query<JobRow & { hold: Date | null }>(
    `with failed as (
     update ${t}
        set status = case when ${attempts} >= max_attempts then 'dead'
                          -- In strict order the job keeps its place, ready, and holds its group (below).
                          when before.strict then 'waiting'
                          -- A retry later waits apart from the ready set until it is due.
                          when $4::timestamptz is not null then case when $4 > now() then 'scheduled' else 'waiting' end
                          when least(backoff_base_ms, backoff_max_ms) > 0 then 'scheduled'
                          else 'waiting' end,
            run_at = case when ${attempts} >= max_attempts or before.strict then run_at else before.retry_at end,
            attempts = ${attempts},
            last_error = $3::jsonb,
            lease_owner = null, lease_token = null, lease_expires_at = null,
            reserved_by = null, reserved_batch = null, updated_at = now()
       -- The job as it was.
       from (select ${strictOrder(context, "x")} as strict,
                    coalesce($4::timestamptz, now() + least(x.backoff_max_ms::float8,
                      x.backoff_base_ms * power(2, least(greatest(${attempts} - 1, 0), 31)))
                      * (0.75 + random() * 0.5) * interval '1 millisecond') as retry_at
               from ${t} x where x.id = $1) before
      where id = $1 and lease_token = $2 and status = 'running'
     returning ${JOB_COLUMNS},
               case when before.strict and status = 'waiting' then before.retry_at end as hold),
     ${holdGroups(context, "failed")},
     ${countRows(context, "failed", [
       ["failed", "true"],
       ["dead", "e.status = 'dead'"],
     ])}
     select ${JOB_COLUMNS}, hold from failed`,
    [lease.id, lease.leaseToken, errorJson(error, context.limits), retryAt],
  );
  const row = rows[0];
  if (!row) throw leaseLost([lease.id], "fail");
  noteAdditions(context, row.status === "dead" ? 2 : 1);
  const job = toJob(row);
  return row.hold ? { ...job, runAt: row.hold } : job;
}

/**
 * Hands a running job back to run again at `until` (River's snooze): not a failure, so no error is
 * recorded and the job never goes dead for it. The run counts among its attempts, and its maxAttempts
 * grows by one with it, so snoozing uses up none of the attempts failures may take. A job due at once
 * wakes the queue's workers. Returns the job as it now stands.
 */
export async function snooze(context: StoreContext, lease: Lease, until: Date): Promise<Job> {
  const t = `${context.q}.jobs`;
  checkLease(lease);
  const runAt = optionalDate(until, "until");
  if (runAt === null) throw new ValidationError("until must be a Date", { field: "until" });
  const { rows } = await context.db.query<JobRow>(
    `with snoozed as (
       update ${t}
          -- In strict order the job keeps its place, ready, and holds its group (below).
          set status = case when before.strict or $3::timestamptz <= now() then 'waiting' else 'scheduled' end,
              run_at = case when before.strict then run_at else $3::timestamptz end,
              attempts = attempts + ${RUN_NOT_COUNTED},
              max_attempts = max_attempts + 1,
              lease_owner = null, lease_token = null, lease_expires_at = null,
              reserved_by = null, reserved_batch = null, updated_at = now()
         from (select ${strictOrder(context, "x")} as strict from ${t} x where x.id = $1) before
        where id = $1 and lease_token = $2 and status = 'running'
       returning ${JOB_COLUMNS}, case when before.strict then $3::timestamptz end as hold
     ),
     ${holdGroups(context, "snoozed")},
     -- The subquery is named: before PostgreSQL 16, a subquery in FROM without a name is refused.
     woken as (${wakeStatement("$4::text", "(select queue from snoozed where status = 'waiting' and hold is null) due")})
     select snoozed.* from snoozed cross join (select count(*) from woken) w`,
    [lease.id, lease.leaseToken, runAt, jobsChannel(context.schema)],
  );
  const row = rows[0];
  if (!row) throw leaseLost([lease.id], "snooze");
  return toJob(row);
}

/** Extends leases (default by 30 s from now). Throws LeaseLostError listing the leases no longer held. */
export async function heartbeat(
  context: StoreContext,
  leases: Lease | Lease[],
  options: { extendMs?: number } = {},
): Promise<void> {
  refuseUnknownKeys(options, HEARTBEAT_KEYS);
  const { lost } = await extendLeases(context, Array.isArray(leases) ? leases : [leases], options);
  if (lost.length) throw leaseLost(lost, "heartbeat");
}

/**
 * heartbeat() that tells which leases it extended (ids in lower case) and which are lost. A lease
 * neither extended nor lost is held still, by a row another transaction was writing (see below).
 */
export async function extendLeases(
  context: StoreContext,
  leases: Lease[],
  options: { extendMs?: number } = {},
): Promise<{ extended: Set<string>; lost: string[] }> {
  const t = `${context.q}.jobs`;
  const list = leases.map(checkLease);
  if (list.length === 0) return { extended: new Set(), lost: [] };
  const extendMs = integerOption(options.extendMs, "extendMs", { min: 1, fallback: 30_000 });
  const ids = list.map((l) => l.id);
  const tokens = list.map((l) => l.leaseToken);
  // Rows are locked in id order, as every statement that locks several jobs does, and a row another
  // transaction holds is skipped rather than waited for: that is a completion deleting it, or a claim
  // taking it after its lease expired. Waiting could deadlock with a batch completion, and would at
  // best extend a lease that is ending anyway.
  const { rows } = await context.db.query<{ id: string }>(
    `update ${t} j set lease_expires_at = now() + $3::int * interval '1 millisecond', updated_at = now()
      where j.id in (
        select x.id from ${t} x join unnest($1::uuid[], $2::uuid[]) as c(id, token)
                                 on x.id = c.id and x.lease_token = c.token
         where x.status = 'running'
         order by x.id for update of x skip locked)
     returning j.id`,
    [ids, tokens, extendMs],
    { prepare: true },
  );
  const extended = new Set(rows.map((row) => row.id));
  if (rows.length === list.length) return { extended, lost: [] };
  // Skipped is not lost: only a job no longer running under its token is.
  const { rows: held } = await context.db.query<{ id: string }>(
    `select j.id from ${t} j join unnest($1::uuid[], $2::uuid[]) as c(id, token)
                            on j.id = c.id and j.lease_token = c.token
      where j.status = 'running'`,
    [ids, tokens],
  );
  const stillHeld = new Set(held.map((row) => row.id));
  // Lower case, as the rows come back: an upper-case lease that was extended is not lost.
  return { extended, lost: ids.filter((id) => !stillHeld.has(id.toLowerCase())) };
}

/**
 * Hands jobs back: they wait again at once. The attempt does not count, unless `countAttempt` says the
 * handler did run (a worker abandoning a handler that outlived its stop timeout).
 */
export async function release(
  context: StoreContext,
  leases: Lease | Lease[],
  options: { countAttempt?: boolean } = {},
): Promise<void> {
  refuseUnknownKeys(options, RELEASE_KEYS);
  const t = `${context.q}.jobs`;
  const list = (Array.isArray(leases) ? leases : [leases]).map(checkLease);
  if (list.length === 0) return;
  // The attempts once handed back: the run leaves them, or is counted if it ran (a run under a
  // reservation is not among them yet; one from claim() is).
  const attempts = `greatest(j.attempts - 1 + ${RUN_NOT_COUNTED} + (case when $3::bool then 1 else 0 end), 0)`;
  // Handed back after it ran, a job may go dead: counted here, whoever hands it back (a worker counts
  // no such job itself). Handed back unrun, it cannot, and the statement counts nothing.
  const countDead = options.countAttempt === true;
  const { rows } = await context.db.query<{ id: string; queue: string }>(
    `${countDead ? "with released as (" : ""}update ${t} j
        set status = case when $3::bool and ${attempts} >= j.max_attempts then 'dead' else 'waiting' end,
            last_error = case when $3::bool and ${attempts} >= j.max_attempts
                              then jsonb_build_object('message', 'abandoned on its last attempt: the handler outlived the worker''s stop timeout')
                              else j.last_error end,
            attempts = ${attempts},
            lease_owner = null, lease_token = null, lease_expires_at = null,
            reserved_by = null, reserved_batch = null, updated_at = now()
      where j.id in (
        -- In id order, the lock order of every statement that locks several jobs.
        select x.id from ${t} x join unnest($1::uuid[], $2::uuid[]) as c(id, token)
                                 on x.id = c.id and x.lease_token = c.token
         where x.status = 'running'
         order by x.id for update of x)
     returning j.id, j.queue${
       countDead
         ? `, j.status),
     ${countRows(context, "released", [["dead", "e.status = 'dead'"]])}
     select id, queue from released`
         : ""
     }`,
    [list.map((l) => l.id), list.map((l) => l.leaseToken), countDead],
  );
  if (countDead && rows.length) noteAdditions(context, 1);
  await wakeQueues(
    context.db,
    context.schema,
    rows.map((row) => row.queue),
  );
  if (rows.length !== list.length) {
    // Compared in lower case, as the rows come back, and a lease given twice is one row: only a lease
    // not released at all is lost (else a job just released would be reported lost).
    const released = new Set(rows.map((row) => row.id));
    const lost = list.filter((l) => !released.has(l.id.toLowerCase())).map((l) => l.id);
    if (lost.length) throw leaseLost(lost, "release");
  }
}
