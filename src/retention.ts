/**
 * Retention: `store.prune()` deletes finished executions with everything that belongs to them, a batch
 * at a time, each batch in a short transaction of its own, so no lock is held longer than one batch.
 *
 * An execution is pruned when it finished (a terminal status) before the cut, its parent (if any) is
 * finished or gone, and none of its child executions is unfinished: a running execution is never
 * deleted and never loses its parent. Only direct children are checked, so a finished grandparent
 * of a running execution may go while the finished parent between them stays.
 *
 * Completed jobs kept in jobs_history whose execution is none or gone go by their own completion time,
 * when the prune includes completed executions; expired key-value entries are swept last.
 */

import type { Queryable } from "./db/driver.js";
import { ValidationError } from "./errors.js";
import { checkOneOrMany } from "./repositories/input.js";
import { type RunStatus, TERMINAL_STATUSES } from "./repositories/run-status.js";

export interface PruneOptions {
  /** Executions that finished before this moment go. */
  finishedBefore: Date;
  /** Only these terminal statuses (default: completed, failed, cancelled, timed_out). */
  statuses?: RunStatus[];
  /** Executions per batch (default 500, at most 10,000). */
  batchSize?: number;
  /** Called after each committed batch with the totals so far. */
  onProgress?: (progress: PruneResult) => void | Promise<void>;
  /** Stops after the batch in progress. */
  signal?: AbortSignal;
}

/** How many rows of each kind were deleted. */
export interface PruneResult {
  executions: number;
  tasks: number;
  componentState: number;
  correlations: number;
  timers: number;
  jobs: number;
  /** Completed-job records: the pruned executions', and those of no (or a gone) execution older than the cut. */
  jobsHistory: number;
  blobs: number;
  /** Expired key-value entries swept (they were already invisible), after the executions. */
  expiredKv: number;
  /** Transactions committed. */
  batches: number;
}

export interface PruneContext {
  readonly db: Queryable;
  /** The quoted schema name. */
  readonly q: string;
  /** Removes blob content outside PostgreSQL recorded as garbage (after each batch commits). */
  collectGarbage(): Promise<unknown>;
  /** Deletes expired key-value entries in batches of `batchSize`; returns how many. */
  sweepExpiredKv(batchSize: number): Promise<number>;
}

const TERMINAL_SQL = `('completed', 'failed', 'cancelled', 'timed_out')`;

function candidates(q: string): string {
  return `from ${q}.executions e
    where e.completed_at < $1 and e.status = any($2::text[])
      and (e.parent_execution_id is null or not exists (
            select 1 from ${q}.executions p where p.id = e.parent_execution_id and p.status not in ${TERMINAL_SQL}))
      and not exists (
            select 1 from ${q}.executions c where c.parent_execution_id = e.id and c.status not in ${TERMINAL_SQL})`;
}

/** Checks prune options; throws ValidationError before anything is deleted. */
export function checkPruneOptions(options: PruneOptions): {
  before: Date;
  statuses: string[];
  batchSize: number;
} {
  const before = options?.finishedBefore;
  if (!(before instanceof Date) || Number.isNaN(before.getTime())) {
    throw new ValidationError("finishedBefore must be a valid Date", { field: "finishedBefore" });
  }
  const statuses = checkOneOrMany(
    options.statuses ?? [...TERMINAL_STATUSES],
    TERMINAL_STATUSES,
    "statuses",
  ) as string[];
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new ValidationError("batchSize must be an integer from 1 to 10000", { field: "batchSize" });
  }
  return { before, statuses, batchSize };
}

/** How many executions a prune with these options would remove now. */
export async function countPrunable(
  context: Pick<PruneContext, "db" | "q">,
  options: PruneOptions,
): Promise<number> {
  const { before, statuses } = checkPruneOptions(options);
  const { rows } = await context.db.query<{ n: number }>(
    `select count(*)::int as n ${candidates(context.q)}`,
    [before, statuses],
  );
  return rows[0]?.n ?? 0;
}

export async function prune(context: PruneContext, options: PruneOptions): Promise<PruneResult> {
  const { before, statuses, batchSize } = checkPruneOptions(options);
  const { q } = context;
  const total: PruneResult = {
    executions: 0,
    tasks: 0,
    componentState: 0,
    correlations: 0,
    timers: 0,
    jobs: 0,
    jobsHistory: 0,
    blobs: 0,
    expiredKv: 0,
    batches: 0,
  };
  for (;;) {
    if (options.signal?.aborted) break;
    const batch = await context.db.transaction(async (tx) => {
      // Locked, and skipped if another transaction is writing them: they are taken next time.
      const { rows } = await tx.query<{ id: string }>(
        `select e.id ${candidates(q)} order by e.completed_at limit $3 for update of e skip locked`,
        [before, statuses, batchSize],
      );
      const ids = rows.map((row) => row.id);
      if (ids.length === 0) return undefined;
      const count = async (sql: string) => (await tx.query(sql, [ids])).rowCount;
      const { rows: blobs } = await tx.query<{ id: string; backend: string; location: string | null }>(
        `delete from ${q}.blobs where execution_id = any($1::uuid[]) returning id, backend, location`,
        [ids],
      );
      const inPostgres = blobs.filter((b) => b.backend === "postgres").map((b) => b.id);
      const elsewhere = blobs.filter((b) => b.backend !== "postgres");
      if (inPostgres.length) {
        await tx.query(`delete from ${q}.blob_chunks where blob_id = any($1::uuid[])`, [inPostgres]);
      }
      if (elsewhere.length) {
        // Removed from their backend once this commits (as a replaced blob's content is).
        await tx.query(
          `insert into ${q}.blob_garbage (id, backend, location)
           select * from unnest($1::uuid[], $2::text[], $3::text[]) on conflict (id) do nothing`,
          [
            elsewhere.map((b) => b.id),
            elsewhere.map((b) => b.backend),
            elsewhere.map((b) => b.location ?? b.id),
          ],
        );
      }
      return {
        blobs: blobs.length,
        external: elsewhere.length,
        jobs: await count(`delete from ${q}.jobs where execution_id = any($1::uuid[])`),
        jobsHistory: await count(`delete from ${q}.jobs_history where execution_id = any($1::uuid[])`),
        // Through the unique index on (coalesce(execution_id, ...), name).
        timers: await count(
          `delete from ${q}.timers
           where coalesce(execution_id, '00000000-0000-0000-0000-000000000000'::uuid) = any($1::uuid[])`,
        ),
        // These three would go by cascade; deleted first so they can be counted.
        tasks: await count(`delete from ${q}.tasks where execution_id = any($1::uuid[])`),
        componentState: await count(`delete from ${q}.component_state where execution_id = any($1::uuid[])`),
        correlations: await count(`delete from ${q}.correlations where execution_id = any($1::uuid[])`),
        executions: await count(`delete from ${q}.executions where id = any($1::uuid[])`),
      };
    });
    if (!batch) break;
    const { external, ...counts } = batch;
    for (const [name, n] of Object.entries(counts)) total[name as keyof PruneResult] += n;
    total.batches++;
    if (external) await context.collectGarbage();
    await options.onProgress?.({ ...total });
    if (batch.executions < batchSize) break;
  }
  if (!options.signal?.aborted && statuses.includes("completed")) {
    await sweepJobHistory(context, before, batchSize, total, options);
  }
  if (!options.signal?.aborted) total.expiredKv = await context.sweepExpiredKv(batchSize);
  return total;
}

/**
 * Completed jobs kept with `keepCompleted` whose execution is none or gone (the others go with their
 * execution) and that finished before the cut: a batch per statement, oldest first, over the
 * completed_at index; rows another prune is deleting are skipped, not waited for.
 */
async function sweepJobHistory(
  context: PruneContext,
  before: Date,
  batchSize: number,
  total: PruneResult,
  options: PruneOptions,
): Promise<void> {
  const { db, q } = context;
  for (;;) {
    if (options.signal?.aborted) break;
    const { rowCount } = await db.query(
      `delete from ${q}.jobs_history where id in (
         select h.id from ${q}.jobs_history h
          where h.completed_at < $1
            and (h.execution_id is null
                 or not exists (select 1 from ${q}.executions e where e.id = h.execution_id))
          order by h.completed_at limit $2 for update of h skip locked)`,
      [before, batchSize],
    );
    if (rowCount === 0) break;
    total.jobsHistory += rowCount;
    total.batches++;
    await options.onProgress?.({ ...total });
    if (rowCount < batchSize) break;
  }
}
