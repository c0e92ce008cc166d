/** Looking at the queue and acting on it from outside a worker: get, list, retry and cancel (stats: stats.ts). */

import type { SqlContext, StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { isUuid } from "../core/ids.js";
import { integerOption, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { beforeCut, PROBE } from "../core/planned-few.js";
import { wakeQueues } from "../core/wake.js";
import { JOB_COLUMNS, type JobRow, toJob } from "./sql.js";
import type { Job, JobFilter } from "./types.js";

/**
 * A job as callers see it. A successor kept out of the ready set until the job before it ends
 * ('blocked', see enqueue/enqueue.ts) is waiting, as a job scheduled for later is.
 */
function asJob(row: JobRow): Job {
  const job = toJob(row);
  return (row.status as string) === "blocked" ? { ...job, status: "waiting" } : job;
}

export async function get(context: StoreContext, id: string): Promise<Job> {
  const t = `${context.q}.jobs`;
  if (!isUuid(id)) throw new ValidationError("job id must be a UUID", { field: "id" });
  const { rows } = await context.db.query<JobRow>(`select ${JOB_COLUMNS} from ${t} where id = $1`, [id]);
  const row = rows[0];
  if (!row) throw new NotFoundError(`job ${id} not found (it may have completed)`);
  return asJob(row);
}

const FILTER_KEYS = optionKeys<JobFilter>({
  queue: true,
  status: true,
  name: true,
  executionId: true,
  after: true,
  limit: true,
});

/**
 * Jobs in creation order: by created_at, then id (ids a caller gives need not follow it). `after`, the
 * last job of the page before, starts the page just past that job's place in the same order, so pages
 * neither skip nor repeat a job; a job that is gone took its place with it (NotFoundError). The place
 * is a value computed once (an InitPlan), so that the index jobs_created (0036) starts the page there.
 */
export async function list(context: StoreContext, filter: JobFilter = {}): Promise<Job[]> {
  refuseUnknownKeys(filter, FILTER_KEYS);
  const t = `${context.q}.jobs`;
  const limit = integerOption(filter.limit, "limit", { min: 1, fallback: 100 });
  const after = filter.after;
  if (after !== undefined && !isUuid(after)) {
    throw new ValidationError("after must be a job id", { field: "after" });
  }
  const values: unknown[] = [
    filter.queue ?? null,
    filter.status ?? null,
    filter.name ?? null,
    filter.executionId ?? null,
    limit,
  ];
  if (after !== undefined) values.push(after);
  const { rows } = await context.db.query<JobRow>(
    `select ${JOB_COLUMNS} from ${t}
      where ($1::text is null or queue = $1) and ($2::text is null or status = $2 or ($2 = 'waiting' and status in ('scheduled', 'blocked', 'pending')))
        and ($3::text is null or name = $3) and ($4::uuid is null or execution_id = $4)
        ${after === undefined ? "" : `and (created_at, id) > ((select a.created_at from ${t} a where a.id = $6), $6::uuid)`}
      order by created_at, id limit $5`,
    values,
  );
  if (rows.length === 0 && after !== undefined) await requireJob(context, after);
  return rows.map(asJob);
}

/** An empty page after a job that is gone is not the end of the list: its place is unknown. */
async function requireJob({ db, q }: SqlContext, id: string): Promise<void> {
  const { rows } = await db.query(`select 1 from ${q}.jobs where id = $1`, [id]);
  if (rows.length > 0) return;
  throw new NotFoundError(
    `job ${id} (after) is not in the queue: it completed or was removed, and its place in creation order went with it; list from the start, or after another job`,
  );
}

/**
 * Puts dead jobs back to wait, with their attempts reset. Returns the ids it revived.
 *
 * A dead job frees its dedupe key, so a newer job may hold the same (queue, key) again, and only one
 * job per key may wait or run (the jobs_key index). Such a dead job is skipped: it stays dead and its id
 * is not returned, while the others are revived; retry it once the key is free. Of several dead jobs
 * with one key in the same call, only the newest (by created_at, then id) is revived.
 *
 * One statement. Should a job with the key be enqueued by another session in the instant between this
 * statement's check and its write, the unique index still refuses it: a ConflictError, nothing changed,
 * and calling again skips that job.
 */
export async function retry(context: StoreContext, ids: string[]): Promise<string[]> {
  const t = `${context.q}.jobs`;
  const { rows } = await context.db.query<{ id: string; queue: string }>(
    `update ${t} j set status = 'waiting', attempts = 0, run_at = now(), updated_at = now()
      where j.status = 'dead' and j.id in (
        -- One per (queue, key): jobs without a key are each their own group.
        select distinct on (d.queue, coalesce(d.key, d.id::text)) d.id
          from ${t} d
         where d.id = any($1::uuid[]) and d.status = 'dead'
           and (d.key is null or not exists (
                 select 1 from ${t} l
                  where l.queue = d.queue and l.key = d.key and l.status in ('waiting', 'scheduled', 'running')))
         order by d.queue, coalesce(d.key, d.id::text), d.created_at desc, d.id desc)
     returning j.id, j.queue`,
    [checkIds(ids)],
  );
  await wakeQueues(
    context.db,
    context.schema,
    rows.map((row) => row.queue),
  );
  return rows.map((row) => row.id);
}

/**
 * Removes jobs whatever their state; a worker running one then gets LeaseLostError. Returns the ids
 * removed. The jobs waiting to run after one of them are removed with it (migration 0031).
 */
export async function cancel(context: StoreContext, ids: string[]): Promise<string[]> {
  return (await removeJobs(context, "id = any($1::uuid[])", [checkIds(ids)])).ids;
}

/**
 * Deletes the jobs matching `where`, as cancelled. A job deleted while running counts as completed
 * for the jobs that run after it (migration 0031), unless the transaction says it is removing jobs
 * (the setting flowstore.removing, local to it): then its delete cancels them.
 */
async function removeJobs(
  { db, q }: SqlContext,
  where: string,
  params: unknown[],
): Promise<{ ids: string[]; count: number }> {
  return db.transaction(async (tx) => {
    await tx.query("select set_config('flowstore.removing', 'on', true)");
    // A job removed while it waited on dependencies takes its edges with it; one removed while its
    // group was held for it (strict order, migration 0032) ends the hold.
    const { rows } = await tx.query<{ ids: string[] | null; count: number }>(
      `with gone as (delete from ${q}.jobs where ${where} returning id, queue, group_name, status),
       unlinked as (delete from ${q}.job_dependencies d using gone g where d.job_id = g.id and g.status = 'pending'),
       unheld as (
         update ${q}.job_groups h set held_until = null
           from (select distinct queue, group_name from gone where group_name is not null and status = 'waiting') g
          where h.queue = g.queue and h.name = g.group_name and h.held_until > now())
       select array_agg(id)::text[] as ids, count(*)::int as count from gone`,
      params,
    );
    // A completion later in the caller's transaction is one again.
    await tx.query("select set_config('flowstore.removing', '', true)");
    return { ids: rows[0]?.ids ?? [], count: rows[0]?.count ?? 0 };
  });
}

function checkIds(ids: string[]): string[] {
  if (!Array.isArray(ids) || !ids.every(isUuid))
    throw new ValidationError("ids must be an array of UUIDs", { field: "ids" });
  return ids;
}

/**
 * Retention: deletes the jobs of these executions, waiting or running, and their completed records
 * (unless `history` is false: retention by partition drops those with their range).
 */
export async function deleteJobsOf(
  { db, q }: SqlContext,
  executionIds: ExecutionIds,
  { history: withHistory = true }: { history?: boolean } = {},
): Promise<{ jobs: number; jobsHistory: number }> {
  const among = amongIds("execution_id", executionIds);
  const jobs = (await removeJobs({ db, q }, among.sql, among.params)).count;
  if (!withHistory) return { jobs, jobsHistory: 0 };
  const history = await db.query(`delete from ${q}.jobs_history where ${among.sql}`, among.params);
  return { jobs, jobsHistory: history.rowCount };
}

/**
 * Retention: deletes up to `limit` completed-job records (kept with `keepCompleted`) that finished before
 * the cut and whose execution is none or gone (the others go with their execution). Oldest first, over
 * the completed_at index; rows another prune is deleting are skipped, not waited for. Returns how many.
 */
export async function deleteOrphanedJobHistory(
  { db, q }: SqlContext,
  before: Date,
  limit: number,
): Promise<number> {
  const { rowCount } = await db.query(
    // Materialized, so the batch is chosen once: as an IN (subquery) the planner may run the LIMIT ...
    // SKIP LOCKED again for each row, each run taking rows the previous ones already deleted.
    `with batch as materialized (
       select h.id from ${q}.jobs_history h
        where ${beforeCut("h.completed_at", "$1")}
          and not exists (select 1 from ${q}.executions e where e.id = h.execution_id ${PROBE})
        order by h.completed_at limit $2 for update of h skip locked)
     delete from ${q}.jobs_history d using batch where d.id = batch.id`,
    [before, limit],
  );
  return rowCount;
}

/**
 * Retention: deletes up to `limit` dead jobs whose last change (the moment they went dead, unless revived
 * since) is before the cut and whose execution is none or gone; a dead job of an execution that still
 * exists stays with it and goes when the execution is pruned (deleteJobsOf). Over the jobs_dead partial
 * index (dead jobs only); no ORDER BY, which would sort every dead job older than the cut on each batch.
 * Rows another prune is deleting, or a retry is reviving, are skipped, not waited for. Returns how many.
 *
 * The batch is picked in a materialized CTE: as `id in (select ... limit)`, the planner may rescan the
 * subquery once per row (a nested-loop semi-join), and each rescan skips the rows this very statement
 * has deleted and locks the next ones, so one "batch" would take every dead job.
 */
export async function deleteOldDeadJobs({ db, q }: SqlContext, before: Date, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `with batch as materialized (
       select j.id from ${q}.jobs j
        where j.status = 'dead' and ${beforeCut("j.updated_at", "$1")}
          and not exists (select 1 from ${q}.executions e where e.id = j.execution_id ${PROBE})
        limit $2 for update of j skip locked)
     delete from ${q}.jobs d using batch where d.id = batch.id`,
    [before, limit],
  );
  return rowCount;
}
