/**
 * The ranges of time the history tables are partitioned by, as history_partitions lists them, and
 * their creation: a range has a partition in every partitioned table, created together in one
 * transaction under an advisory lock, so every process sees all of them or none.
 *
 * Ranges are created ahead (by the store when it opens and migrates, and by every prune), each
 * starting where the last ends, so they never overlap and leave no gap. A row whose range has no
 * partition yet goes to the table's default partition; when its range is created it moves there.
 *
 * Making a range takes the tables' locks first (locks.ts), as the application may be writing to the
 * runs that move. When the tables stay busy it is left for the next opening or prune, with a warning:
 * the rows wait in the default partitions meanwhile, where everything works as before.
 */

import type { SqlContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Queryable } from "../db/driver.js";
import { quoteIdentifier } from "../db/sql.js";
import { type Aside, putBack, type SetAside, setAside } from "./aside.js";
import { addDays, rangeName, startOfDay, uuidFloor } from "./bounds.js";
import { LOCK_BUDGET_MS, lockForChange, lostLocks, withLockRetries } from "./locks.js";
import {
  CORRELATIONS,
  EXECUTION_TABLES,
  EXECUTIONS,
  JOBS_HISTORY,
  PARTITIONED_TABLES,
  type PartitionedTable,
} from "./tables.js";

export interface HistoryRange {
  /** The suffix of its partitions' names: the UTC day it starts (20261124), or `legacy` for the first. */
  readonly name: string;
  /** Null for the first range, which starts at the lowest id. */
  readonly startsAt: Date | null;
  readonly endsAt: Date;
}

export interface PartitionOptions {
  /**
   * Days each new range spans. Unset: as many as the store's last range was made with (the store keeps
   * it), or 7 for its first. Ranges made before keep their length. Shorter ranges free space sooner
   * after the cut; each range adds a partition to every partitioned table, which reads that do not
   * name an execution (lists, lookups of a task by its id alone) visit one by one.
   */
  days?: number;
  /** Ranges are created until one ends more than this many days after now (default: `days`). */
  aheadDays?: number;
}

/** Checks the options; `days` stays undefined when not given (the store's own length then applies). */
export function checkPartitionOptions(options: PartitionOptions = {}): PartitionOptions {
  const { days, aheadDays } = options ?? {};
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 366)) {
    throw new ValidationError("partitions.days must be a whole number of days from 1 to 366", {
      field: "days",
    });
  }
  if (aheadDays !== undefined && (!Number.isInteger(aheadDays) || aheadDays < 0 || aheadDays > 366)) {
    throw new ValidationError("partitions.aheadDays must be a whole number of days from 0 to 366", {
      field: "aheadDays",
    });
  }
  return { days, aheadDays };
}

/** The length of a store's first range when none is given. */
export const DEFAULT_DAYS = 7;

export async function listRanges({ db, q }: SqlContext): Promise<HistoryRange[]> {
  // A row a day or so: read whole and sorted here.
  const { rows } = await db.query<{ name: string; starts_at: Date; ends_at: Date; first: boolean }>(
    `select name, starts_at, ends_at, starts_at = '-infinity' as first from ${q}.history_partitions`,
  );
  return rows
    .map((row) => ({
      name: row.name,
      startsAt: row.first ? null : new Date(row.starts_at),
      endsAt: new Date(row.ends_at),
    }))
    .sort((a, b) => a.endsAt.getTime() - b.endsAt.getTime());
}

/** A partition of `table`, quoted with its schema. */
export function partitionOf(q: string, table: PartitionedTable, range: string): string {
  return `${q}.${quoteIdentifier(`${table.name}_${range}`)}`;
}

/**
 * How many times a range is tried before it is left for later: with the pauses between them, a few
 * seconds of an opening at most.
 */
const MAKE_ATTEMPTS = 8;

/**
 * Creates ranges until one ends `aheadDays` after `now`; returns those it created (none when another
 * process got there first, or nothing was due). Each is a transaction of its own. A range whose tables
 * stay busy is left, with a warning to `logger`, for the next call: this one then returns what it made.
 */
export async function ensureRanges(
  context: SqlContext & { readonly logger?: Logger },
  options: PartitionOptions = {},
  now: Date = new Date(),
): Promise<HistoryRange[]> {
  const checked = checkPartitionOptions(options);
  const created: HistoryRange[] = [];
  for (;;) {
    const { days: stored, endsAt } = await lastRange(context);
    const days = checked.days ?? stored ?? DEFAULT_DAYS;
    const until = addDays(now, checked.aheadDays ?? days);
    if (endsAt && endsAt > until) return created;
    let range: HistoryRange | undefined;
    try {
      range = await withLockRetries(MAKE_ATTEMPTS, () =>
        context.db.transaction((tx) => createNextRange(tx, context.q, days, until, now), { retries: 0 }),
      );
    } catch (error) {
      if (!lostLocks(error)) throw error;
      context.logger?.warn(
        { error: String(error), attempts: MAKE_ATTEMPTS, lockBudgetMs: LOCK_BUDGET_MS },
        "flowstore history partitions: the next range was not made, as other sessions kept its tables busy; " +
          "the next opening or prune makes it (rows of its days wait in the default partitions meanwhile)",
      );
      return created;
    }
    if (!range) return created;
    created.push(range);
  }
}

/** The newest range's end, and the length the store made it with. */
async function lastRange({ db, q }: SqlContext): Promise<{ endsAt?: Date; days?: number }> {
  const { rows } = await db.query<{ ends_at: Date; days: number | null }>(
    `select ends_at, days from ${q}.history_partitions order by ends_at desc limit 1`,
  );
  const row = rows[0];
  return row ? { endsAt: new Date(row.ends_at), days: row.days ?? undefined } : {};
}

/** The next range after the last, unless the last already ends after `until`; under the lock. */
async function createNextRange(
  db: Queryable,
  q: string,
  days: number,
  until: Date,
  now: Date,
): Promise<HistoryRange | undefined> {
  await db.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [`flowstore:partitions:${q}`]);
  const { rows } = await db.query<{ ends_at: Date | null }>(
    `select max(ends_at) as ends_at from ${q}.history_partitions`,
  );
  const lastEnd = rows[0]?.ends_at ? new Date(rows[0].ends_at) : startOfDay(now);
  if (lastEnd > until) return undefined;
  // After a long time with no range made (nothing opened the store), one range covers the days
  // missed, rather than one for each of them.
  const today = startOfDay(now);
  const endsAt = new Date(Math.max(addDays(lastEnd, days).getTime(), today.getTime()));
  const range = { name: rangeName(lastEnd), startsAt: lastEnd, endsAt };
  const params = [uuidFloor(range.startsAt), uuidFloor(range.endsAt)];
  // Before a row is read: the rows taken out of the default partitions and the copies put back are
  // then the same, and no write comes between.
  await lockForChange(db, q);
  const aside = await takeFromDefaults(db, q, params);
  for (const table of PARTITIONED_TABLES) {
    const storage = table.fillfactor ? ` with (fillfactor = ${table.fillfactor})` : "";
    await db.query(
      `create table ${partitionOf(q, table, range.name)} partition of ${q}.${quoteIdentifier(table.name)}
         for values from ('${params[0]}') to ('${params[1]}')${storage}`,
    );
  }
  await db.query(
    `insert into ${q}.history_partitions (name, starts_at, ends_at, days) values ($1, $2, $3, $4)`,
    [range.name, range.startsAt, range.endsAt, days],
  );
  if (aside) await putBack(db, q, aside);
  return range;
}

/**
 * Takes the rows of the range ($1 to $2) out of the default partitions, if they hold any: the new
 * partition could not be created over them. What references an execution goes first (and its
 * correlations, which deleting it would cascade to); they come back in the reverse order.
 */
async function takeFromDefaults(db: Queryable, q: string, params: string[]): Promise<Aside[] | undefined> {
  const inRange = (table: PartitionedTable) =>
    `${quoteIdentifier(table.column)} >= $1::uuid and ${quoteIdentifier(table.column)} < $2::uuid`;
  const probes = PARTITIONED_TABLES.map(
    (table) => `exists (select 1 from ${partitionOf(q, table, "default")} where ${inRange(table)})`,
  );
  const { rows } = await db.query<{ any: boolean }>(`select ${probes.join(" or ")} as any`, params);
  if (!rows[0]?.any) return undefined;
  const parts: SetAside[] = [
    ...EXECUTION_TABLES.filter((table) => table !== EXECUTIONS)
      .toReversed()
      .map((table) => ({
        table,
        from: partitionOf(q, table, "default"),
        where: inRange(table),
        remove: true,
      })),
    { table: CORRELATIONS, from: `${q}.correlations`, where: inRange(CORRELATIONS), remove: true },
    {
      table: EXECUTIONS,
      from: partitionOf(q, EXECUTIONS, "default"),
      where: inRange(EXECUTIONS),
      remove: true,
    },
    {
      table: JOBS_HISTORY,
      from: partitionOf(q, JOBS_HISTORY, "default"),
      where: inRange(JOBS_HISTORY),
      remove: true,
    },
  ];
  const aside = await setAside(db, parts, params);
  return putBackOrder(aside);
}

/** Executions first, then what references them (in table order), correlations, jobs history. */
export function putBackOrder(aside: readonly Aside[]): Aside[] {
  const rank = (a: Aside) => {
    const index = EXECUTION_TABLES.indexOf(a.table);
    if (index >= 0) return index;
    return a.table === CORRELATIONS ? EXECUTION_TABLES.length : EXECUTION_TABLES.length + 1;
  };
  return [...aside].sort((a, b) => rank(a) - rank(b));
}

export interface RangeSize {
  /** The range's name, or `default` for the default partitions. */
  readonly name: string;
  /** Runs in the range: the planner's estimate (its executions partition's reltuples), free to read. */
  readonly runs: number;
  /** Its partitions of every partitioned table on disk, indexes and TOAST included. */
  readonly bytes: number;
}

/** What each range (and the default partitions) holds, from the catalog: no table is read. */
export async function rangeSizes({ db, q }: SqlContext): Promise<RangeSize[]> {
  const { rows } = await db.query<{ name: string; runs: string; bytes: string }>(
    `select substr(c.relname, length(t.name) + 2) as name,
            sum(case when t.name = 'executions' then greatest(c.reltuples, 0) else 0 end)::bigint as runs,
            sum(pg_total_relation_size(c.oid))::bigint as bytes
       from unnest($1::text[]) as t(name)
       join pg_inherits i on i.inhparent = to_regclass($2 || '.' || t.name)
       join pg_class c on c.oid = i.inhrelid
      group by 1`,
    [PARTITIONED_TABLES.map((table) => table.name), q],
  );
  return rows.map((row) => ({ name: row.name, runs: Number(row.runs), bytes: Number(row.bytes) }));
}
