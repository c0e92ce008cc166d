/**
 * Dropping a range: its partitions go whole, in one transaction, with the runs that must stay (still
 * going, finished after the cut, or kept for another reason the caller gives) set aside first and put
 * back after, into the default partitions. A run that outlives its range is never lost: it moves.
 *
 * The caller says which runs stay by a query that finds them through indexes (the runs still going,
 * those finished after the cut...), so the work grows with the runs that stay, not with the range: the
 * runs that go are never listed, only counted and, where a table outside the partitions holds rows of
 * theirs, joined with.
 *
 * In two steps, so that the tables are held exclusively only for the few statements of the drop:
 * 1. Without locks: the runs that stay are found, and what the others own outside the partitioned
 *    tables is deleted (onGone).
 * 2. Then, in a savepoint, the partitioned tables are locked (reads and writes wait meanwhile; the drop
 *    waits at most locks.ts's budget for all of them, then lets go and tries again a little later). The
 *    runs that stay are found again: one that did not stay in step 1 and does now (a finished run made
 *    to run again meanwhile) lost what step 1 deleted, so the whole transaction fails with
 *    RangeChangedError, to be tried again. The runs that stay are set aside with all they own, the
 *    partitions dropped, the runs put back.
 *
 * A statement that waited on the lock then runs on the tables as they are after the drop: a write to a
 * run that moved goes to the default partition.
 */

import { StoreError } from "../core/errors.js";
import type { ExecutionIds } from "../core/id-set.js";
import type { Queryable } from "../db/driver.js";
import { type Aside, putBack, setAside } from "./aside.js";
import { lockForChange, withLockRetries } from "./locks.js";
import { partitionOf, putBackOrder } from "./ranges.js";
import { CORRELATIONS, EXECUTION_TABLES, EXECUTIONS, JOBS_HISTORY, PARTITIONED_TABLES } from "./tables.js";

export interface DropRangeOptions {
  /** A query of the ids (as `id`) of the range's executions that stay. */
  readonly keepExecutions: string;
  /**
   * A query of the ids (as `id`) of the range's completed-job records that stay; it may read the runs
   * that stay from the temporary table flowstore_keep.
   */
  readonly keepJobsHistory: string;
  /** Parameters of keepExecutions. */
  readonly params: unknown[];
  /** Parameters of keepJobsHistory. */
  readonly historyParams: unknown[];
  /** Called once, unless no run goes, with the range's executions that go (a query of their ids). */
  readonly onGone: (ids: ExecutionIds) => Promise<void>;
}

export interface DroppedRange {
  /** Executions that went with the range. */
  readonly executions: number;
  /** Executions moved to the default partitions, with all they own. */
  readonly keptExecutions: number;
  /** Completed-job records moved to the default partition. */
  readonly keptJobsHistory: number;
}

/** A run listed to go changed before the drop: the transaction must be rolled back and tried again. */
export class RangeChangedError extends StoreError {
  constructor(range: string) {
    super(`a run of range ${range} changed while the range was being dropped; try again`);
  }
}

/** How many times the drop tries for the tables' locks (locks.ts) before it gives up. */
const LOCK_ATTEMPTS = 30;

/** Drops the range named `range` inside the caller's transaction `db`. */
export async function dropRange(
  db: Queryable,
  q: string,
  range: string,
  options: DropRangeOptions,
): Promise<DroppedRange> {
  const executions = partitionOf(q, EXECUTIONS, range);
  await db.query(
    `create temporary table flowstore_keep on commit drop as ${options.keepExecutions}`,
    options.params,
  );
  await db.query("alter table flowstore_keep add primary key (id)");
  const { rows } = await db.query<{ total: number; kept: number }>(
    `select (select count(*) from ${executions})::int as total, (select count(*) from flowstore_keep)::int as kept`,
  );
  const gone = (rows[0]?.total ?? 0) - (rows[0]?.kept ?? 0);
  const keeps = (rows[0]?.kept ?? 0) > 0;
  if (gone > 0) {
    // When none stays, every run of the range goes: no anti-join with the runs that stay, which the
    // server can then leave out (a join of the partition with itself by its key).
    await options.onGone({
      select: keeps
        ? `select e.id from ${executions} e where e.id not in (select id from flowstore_keep)`
        : `select e.id from ${executions} e`,
    });
  }
  // The drop, in a savepoint tried again while another session holds a table too long.
  const kept = await withLockRetries(LOCK_ATTEMPTS, () =>
    db.transaction((tx) => dropLocked(tx, q, range, options, keeps)),
  );
  return { executions: gone, ...kept };
}

/** Step 2, under the tables' exclusive locks; returns what it kept. */
async function dropLocked(
  db: Queryable,
  q: string,
  range: string,
  options: DropRangeOptions,
  keeps: boolean,
): Promise<Omit<DroppedRange, "executions">> {
  await lockForChange(db, q);
  // Written to a table, then compared, as step 1 wrote flowstore_keep: measured at a million runs, the
  // same query as a SELECT with the comparison and a LIMIT took 15 to 50 ms where this takes 2 to 5,
  // all of it while the tables are locked.
  await db.query(
    `create temporary table flowstore_keep_now on commit drop as ${options.keepExecutions}`,
    options.params,
  );
  const { rows: changed } = await db.query(
    `select 1 from flowstore_keep_now k where k.id not in (select id from flowstore_keep) limit 1`,
  );
  if (changed.length) throw new RangeChangedError(range);

  const kept = "in (select id from flowstore_keep)";
  // When no run stays, nothing of a run is set aside: the check above found none that stays now either.
  const aside: Aside[] = await setAside(
    db,
    !keeps
      ? []
      : [
          ...EXECUTION_TABLES.map((table) => ({
            table,
            from: partitionOf(q, table, range),
            where: `${table.column} ${kept}`,
            remove: false,
          })),
          // Deleted, as the partition could not be detached while they name its rows (those of the runs that
          // went were deleted by onGone).
          { table: CORRELATIONS, from: `${q}.correlations`, where: `execution_id ${kept}`, remove: true },
        ],
  );
  const history = { table: JOBS_HISTORY, from: partitionOf(q, JOBS_HISTORY, range), remove: false };
  const keepHistory = `id in (select id from (${options.keepJobsHistory}) k)`;
  aside.push(...(await setAside(db, [{ ...history, where: keepHistory }], options.historyParams)));

  await dropPartitions(db, q, range, true);
  const ordered = putBackOrder(aside);
  await putBack(db, q, ordered);
  const count = (table: typeof EXECUTIONS) => ordered.find((a) => a.table === table)?.rows ?? 0;
  return { keptExecutions: count(EXECUTIONS), keptJobsHistory: count(JOBS_HISTORY) };
}

/**
 * Drops the range named `range` only if none of its partitions holds a row, in a transaction of its
 * own; true when it did. For Citus (it sets a Citus setting), which does not run dropRange's moves (runs set aside in temporary
 * tables joined with the distributed partitions, then put back): there a range's runs are pruned row
 * by row, and the range goes once it is empty.
 */
export async function dropEmptyRange(db: Queryable, q: string, range: string): Promise<boolean> {
  return withLockRetries(LOCK_ATTEMPTS, () =>
    db.transaction(async (tx) => {
      // One connection per node: the detach of an executions partition, whose foreign key leads to a
      // reference table (definitions), is refused after statements that went over several at once.
      await tx.query("set local citus.multi_shard_modify_mode to 'sequential'");
      await lockForChange(tx, q);
      for (const table of PARTITIONED_TABLES) {
        const { rows } = await tx.query(`select 1 from ${partitionOf(q, table, range)} limit 1`);
        if (rows.length > 0) return false;
      }
      await dropPartitions(tx, q, range);
      return true;
    }),
  );
}

/** Drops the range's partitions and forgets the range, under the locks of lockForChange. */
async function dropPartitions(db: Queryable, q: string, range: string, together = false): Promise<void> {
  const others = PARTITIONED_TABLES.filter((t) => t !== EXECUTIONS).map((t) => partitionOf(q, t, range));
  // In one statement where the drop holds the application's tables (each round trip is time they wait);
  // one at a time on Citus (dropEmptyRange), as that path was proven.
  if (together) await db.query(`drop table ${others.join(", ")}`);
  else for (const partition of others) await db.query(`drop table ${partition}`);
  // Referenced by foreign keys, so detached before it is dropped (the check that nothing references its
  // rows reads the partitions of the tables that do, which are gone).
  const executions = partitionOf(q, EXECUTIONS, range);
  await db.query(`alter table ${q}.executions detach partition ${executions}`);
  await db.query(`drop table ${executions}`);
  await db.query(`delete from ${q}.history_partitions where name = $1`, [range]);
}
