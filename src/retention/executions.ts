/**
 * Which executions retention may delete: finished (a terminal status) before the cut, with a parent that
 * is finished or gone, and no unfinished child. A running execution is never deleted and never loses its
 * parent. Only direct children are checked, so a finished grandparent of a running execution may go
 * while the finished parent between them stays.
 */

import type { SqlContext } from "../core/context.js";
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
  const cut = batch ? beforeCut("e.completed_at", "$1") : "e.completed_at < $1";
  const probe = batch ? PROBE : "";
  return `from ${q}.executions e
    where ${cut} and e.status = any($2::text[])
      and not exists (select 1 from ${q}.executions p
                       where p.id = e.parent_execution_id and p.status not in ${TERMINAL_SQL} ${probe})
      and not exists (select 1 from ${q}.executions c
                       where c.parent_execution_id = e.id and c.status not in ${TERMINAL_SQL} ${probe})`;
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
