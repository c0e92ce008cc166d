/**
 * Rows set aside while partitions change, then put back through the partitioned tables, which route
 * each to the partition that now holds its range. Used when a range is created over rows the default
 * partition holds, and when a range is dropped with runs in it that must stay (they go to the default).
 *
 * The rows wait in temporary tables that go with the transaction, so a failure anywhere leaves every
 * row where it was. Nothing references a row while it is aside: the caller holds the partitions' locks.
 */

import type { Queryable } from "../db/driver.js";
import { quoteIdentifier } from "../db/sql.js";
import type { PartitionedTable } from "./tables.js";

export interface SetAside {
  readonly table: PartitionedTable;
  /** The relation the rows come from (a partition, or correlations), quoted. */
  readonly from: string;
  /** Which rows, an SQL condition on `from`. */
  readonly where: string;
  /** Deletes them from `from` too (not needed of a partition about to be dropped). */
  readonly remove: boolean;
}

export interface Aside {
  readonly table: PartitionedTable;
  readonly temp: string;
  readonly rows: number;
}

/** Copies each part's rows to a temporary table of its own (deleting them where asked), in order. */
export async function setAside(
  db: Queryable,
  parts: readonly SetAside[],
  params: unknown[] = [],
): Promise<Aside[]> {
  if (parts.length === 0) return [];
  const temps = parts.map((part) => quoteIdentifier(`flowstore_aside_${part.table.name}`));
  for (const [i, part] of parts.entries()) {
    await db.query(
      `create temporary table ${temps[i]} on commit drop as select * from ${part.from} where ${part.where}`,
      params,
    );
  }
  // Counted in one round trip for all: a drop runs this under the tables' locks, where each round trip
  // is time the application waits.
  const counts = temps.map((temp, i) => `(select count(*) from ${temp})::int as n${i}`);
  const { rows } = await db.query<Record<string, number>>(`select ${counts.join(", ")}`);
  const aside: Aside[] = [];
  for (const [i, part] of parts.entries()) {
    const rowCount = rows[0]?.[`n${i}`] ?? 0;
    if (part.remove && rowCount > 0) await db.query(`delete from ${part.from} where ${part.where}`, params);
    aside.push({ table: part.table, temp: temps[i] as string, rows: rowCount });
  }
  return aside;
}

/** Inserts what was set aside back through the partitioned (or plain) tables, in the order given. */
export async function putBack(db: Queryable, q: string, aside: readonly Aside[]): Promise<void> {
  for (const { table, temp, rows } of aside) {
    if (rows === 0) continue;
    const columns = (await columnsOf(db, `${q}.${quoteIdentifier(table.name)}`)).join(", ");
    await db.query(
      `insert into ${q}.${quoteIdentifier(table.name)} (${columns}) select ${columns} from ${temp}`,
    );
  }
}

/** A table's columns, quoted, in their order (a partition's may differ from its parent's). */
async function columnsOf(db: Queryable, relation: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `select attname as name from pg_attribute
      where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
    [relation],
  );
  return rows.map((row) => quoteIdentifier(row.name));
}
