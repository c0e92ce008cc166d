/**
 * Which executions retention may delete: finished (a terminal status) before the cut, with a parent that
 * is finished or gone, and no unfinished child. A running execution is never deleted and never loses its
 * parent. Only direct children are checked, so a finished grandparent of a running execution may go
 * while the finished parent between them stays.
 */

import type { SqlContext } from "../core/context.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { beforeCut, idBatch, PROBE } from "../core/planned-few.js";
import { TERMINAL_SQL } from "../core/run-status.js";

export interface PrunableFilter {
  finishedBefore: Date;
  /** Terminal statuses only. */
  statuses: string[];
}

/**
 * For a batch of the oldest (`batch`), planned to walk executions_finished from its start and to probe
 * each one's parent and children by index, whatever the plan settings (see core/planned-few.ts); for all of
 * them at once (the count), left to the planner, which may well read the table whole. An execution of
 * no parent matches no `p`, so its check needs no `parent_execution_id is null or`.
 */
function prunable(q: string, batch: boolean): string {
  return `from ${q}.executions e where ${prunableWhere(q, batch)}`;
}

/**
 * Whether the execution `e` (or the one named `alias`) may be deleted: the condition alone, with the
 * cut as $1 and the statuses as $2. Null, not false, for a run not finished (it has no completed_at).
 */
export function prunableWhere(q: string, batch = false, alias = "e"): string {
  const cut = batch ? beforeCut(`${alias}.completed_at`, "$1") : `${alias}.completed_at < $1`;
  const probe = batch ? PROBE : "";
  return `${cut} and ${alias}.status = any($2::text[])
      and not exists (select 1 from ${q}.executions p
                       where p.id = ${alias}.parent_execution_id and p.status not in ${TERMINAL_SQL} ${probe})
      and not exists (select 1 from ${q}.executions c
                       where c.parent_execution_id = ${alias}.id and c.status not in ${TERMINAL_SQL} ${probe})`;
}

/** How many executions may be deleted now. */
export async function countPrunableExecutions(
  { db, q }: SqlContext,
  filter: PrunableFilter,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n ${prunable(q, false)}`, [
    filter.finishedBefore,
    filter.statuses,
  ]);
  return rows[0]?.n ?? 0;
}

/**
 * Locks up to `limit` of them, oldest first, for the caller's transaction; rows another transaction is
 * writing are skipped (they are taken next time). Returns their ids.
 */
export async function lockPrunableExecutions(
  { db, q }: SqlContext,
  filter: PrunableFilter,
  limit: number,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select e.id ${prunable(q, true)} order by e.completed_at limit $3 for update of e skip locked`,
    [filter.finishedBefore, filter.statuses, limit],
  );
  return rows.map((row) => row.id);
}

/**
 * Retention by partition: frees the idempotency keys of these executions (which go with their range),
 * read from `executions` (their range's partition).
 */
export async function freeKeysOf(
  { db, q }: SqlContext,
  ids: ExecutionIds,
  executions = `${q}.executions`,
): Promise<number> {
  const among = amongIds("e.id", ids);
  const { rowCount } = await db.query(
    `delete from ${q}.execution_keys k using ${executions} e
      where ${among.sql} and e.idempotency_key is not null
        and k.idempotency_key = e.idempotency_key collate "C" and k.execution_id = e.id`,
    among.params,
  );
  return rowCount;
}

/**
 * Deletes executions (once what they own is gone) and their idempotency keys' registry rows, in one
 * statement; returns how many executions.
 */
export async function deleteExecutions({ db, q }: SqlContext, ids: string[]): Promise<number> {
  const sql = `with gone as (
      delete from ${q}.executions where id = any(${idBatch(1, "uuid")}) returning id, idempotency_key),
    keys as (
      delete from ${q}.execution_keys k using gone g
       where k.idempotency_key = g.idempotency_key collate "C" and k.execution_id = g.id)
    select count(*)::int as n from gone`;
  const { rows } = await db.query<{ n: number }>(sql, [ids]);
  return rows[0]?.n ?? 0;
}
