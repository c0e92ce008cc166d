/**
 * Which executions retention may delete: finished (a terminal status) before the cut, with a parent that
 * is finished or gone, and no unfinished child. A running execution is never deleted and never loses its
 * parent. Only direct children are checked, so a finished grandparent of a running execution may go
 * while the finished parent between them stays.
 */

import type { SqlContext } from "../context.js";
import { TERMINAL_SQL } from "./run-status.js";

export interface PrunableFilter {
  finishedBefore: Date;
  /** Terminal statuses only. */
  statuses: string[];
}

function prunable(q: string): string {
  return `from ${q}.executions e
    where e.completed_at < $1 and e.status = any($2::text[])
      and (e.parent_execution_id is null or not exists (
            select 1 from ${q}.executions p where p.id = e.parent_execution_id and p.status not in ${TERMINAL_SQL}))
      and not exists (
            select 1 from ${q}.executions c where c.parent_execution_id = e.id and c.status not in ${TERMINAL_SQL})`;
}

/** How many executions may be deleted now. */
export async function countPrunableExecutions(
  { db, q }: SqlContext,
  filter: PrunableFilter,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n ${prunable(q)}`, [
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
    `select e.id ${prunable(q)} order by e.completed_at limit $3 for update of e skip locked`,
    [filter.finishedBefore, filter.statuses, limit],
  );
  return rows.map((row) => row.id);
}

/** Deletes executions (once what they own is gone); returns how many. */
export async function deleteExecutions({ db, q }: SqlContext, ids: string[]): Promise<number> {
  return (await db.query(`delete from ${q}.executions where id = any($1::uuid[])`, [ids])).rowCount;
}
