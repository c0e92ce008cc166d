/**
 * Which runs are still going, read by id: for calls on Citus that cannot join a row with its run in one
 * statement (a signal's holder, a pruned run's parent), and so read the runs after the rows.
 */

import { TERMINAL_SQL } from "../core/run-status.js";
import type { Queryable } from "../db/driver.js";

/** The ids among these runs that have not finished (one statement, on the shards that hold them). */
export async function liveRuns(db: Queryable, q: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(
    `select id from ${q}.executions where id = any($1::uuid[]) and status not in ${TERMINAL_SQL}`,
    [[...new Set(ids)]],
  );
  return new Set(rows.map((row) => row.id));
}

/** The ids among these runs that have a child still going (children found by parent_execution_id). */
export async function runsWithLiveChildren(
  db: Queryable,
  q: string,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(
    `select distinct parent_execution_id as id from ${q}.executions
      where parent_execution_id = any($1::uuid[]) and status not in ${TERMINAL_SQL}`,
    [[...ids]],
  );
  return new Set(rows.map((row) => row.id));
}
