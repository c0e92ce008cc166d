/**
 * The locks a change of partitions (a range made, a range dropped) holds: every partitioned table with
 * all its partitions, exclusively, and the two tables its moves write through foreign keys
 * (correlations, deleted and put back with their runs; definitions, which a run put back is checked
 * against), against writes. All are taken first, before the change reads or writes a row, so that once
 * it has them it never waits on anyone: the application's sessions can wait on it, never it on them.
 *
 * While it takes them it may wait, holding the ones it has; a session of the application may then wait
 * on those while holding one it wants. So it waits at most LOCK_BUDGET_MS for all of them together,
 * under half the server's deadlock_timeout: it lets go (lock_timeout, 55P03) before a session waiting on
 * it would be checked for a deadlock, and that session is never the one the server rolls back. The
 * change is then tried again a little later, and in the end left for later: the application comes first.
 *
 * They are taken in the order the application's statements take them: executions first (an append
 * reads its run, then bumps event_heads and inserts into events), then what references it.
 */

import { sqlStateOf } from "../core/errors.js";
import type { Queryable } from "../db/driver.js";
import { PARTITIONED_TABLES } from "./tables.js";

/** The longest a change waits for all its locks together (less when deadlock_timeout is under twice it). */
export const LOCK_BUDGET_MS = 200;

/**
 * Takes the locks of a change of partitions, in the caller's transaction; fails with 55P03 (lock not
 * available) when they could not all be had in time. In one round trip: a lock has and waits are
 * timed on the server. What the change does after runs under a lock_timeout as short: it should wait
 * on nothing, and if something unforeseen holds it up, it lets go rather than become a deadlock's party.
 */
export async function lockForChange(db: Queryable, q: string): Promise<void> {
  const statements = [
    ...PARTITIONED_TABLES.map((table) => `lock table ${q}.${table.name} in access exclusive mode`),
    // Read meanwhile (correlations by key, definitions by every start): only their writes wait.
    `lock table ${q}.correlations in exclusive mode`,
    `lock table ${q}.definitions in exclusive mode`,
  ];
  // Schema names are plain identifiers (validateSchemaName): nothing in these texts needs escaping.
  await db.query(`do $lock$
    declare
      budget interval := least(interval '${LOCK_BUDGET_MS} milliseconds',
                               current_setting('deadlock_timeout')::interval / 2);
      deadline timestamptz := clock_timestamp() + budget;
      statement text;
    begin
      foreach statement in array array['${statements.join("', '")}'] loop
        perform set_config('lock_timeout',
          greatest(1, ceil(extract(epoch from deadline - clock_timestamp()) * 1000))::bigint::text, true);
        execute statement;
      end loop;
      perform set_config('lock_timeout', ceil(extract(epoch from budget) * 1000)::bigint::text, true);
    end
    $lock$`);
}

/** The change did not get its locks in time (or lost a deadlock nonetheless): it may be tried again. */
export function lostLocks(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state === "55P03" || state === "40P01";
}

/**
 * Runs `change` (a transaction that starts with lockForChange) until it gets its locks, at most
 * `attempts` times, pausing a random while that doubles between attempts (up to 2 s) so that the
 * sessions that queued behind its locks get through; then throws what the last attempt threw.
 */
export async function withLockRetries<T>(attempts: number, change: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await change();
    } catch (error) {
      if (!lostLocks(error) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt) * Math.random()));
    }
  }
}
