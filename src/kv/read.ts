/**
 * Reading kv: one entry, many entries of a prefix in one statement, a prefix's keys in either order
 * within a range, and the prefixes in use. Every list is keyset-paged over the primary key.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { checkOneOf } from "../core/input.js";
import { cursorKey, type Page, pageLimit, toPage } from "../core/key-cursor.js";
import { COLUMNS, checkBound, checkKey, LIVE, type Row, startsWithEnd, toEntry } from "./rows.js";
import type { KvEntry, KvListOptions, KvPrefixListOptions } from "./types.js";

export async function get({ db, q }: SqlContext, prefix: string, key: string): Promise<KvEntry | undefined> {
  checkKey(prefix, "prefix");
  checkKey(key);
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from ${q}.kv where prefix = $1 and key = $2 and ${LIVE}`,
    [prefix, key],
  );
  return rows[0] && toEntry(rows[0]);
}

/** The live entries of these keys, in the order of `keys` (undefined where there is none). */
export async function getMany(
  { db, q }: SqlContext,
  prefix: string,
  keys: readonly string[],
): Promise<(KvEntry | undefined)[]> {
  checkKey(prefix, "prefix");
  if (!Array.isArray(keys)) throw new ValidationError("keys must be an array", { field: "keys" });
  for (const key of keys) checkKey(key);
  if (keys.length === 0) return [];
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from ${q}.kv where prefix = $1 and key = any($2::text[]) and ${LIVE}`,
    [prefix, [...new Set(keys)]],
  );
  const byKey = new Map(rows.map((row) => [row.key, toEntry(row)]));
  return keys.map((key) => byKey.get(key));
}

/**
 * The parameters bounding the texts that start with `start`: `from` (inclusive) and `to` (exclusive),
 * each null when that side is open.
 */
function startsWithRange(start: string, values: unknown[]): { from: string | null; to: string | null } {
  if (start === "") return { from: null, to: null };
  const from = `$${values.push(start)}`;
  const end = startsWithEnd(start);
  return { from, to: end === null ? null : `$${values.push(end)}` };
}

export async function list(
  { db, q }: SqlContext,
  prefix: string,
  options: KvListOptions = {},
): Promise<Page<KvEntry>> {
  checkKey(prefix, "prefix");
  const limit = pageLimit(options.limit);
  const order = checkOneOf(options.order ?? "asc", ["asc", "desc"], "order");
  const values: unknown[] = [prefix, limit + 1];
  const conditions = ["prefix = $1", LIVE];
  const bound = (op: string, value: string) => conditions.push(`key ${op} $${values.push(value)}`);
  if (options.after !== undefined) bound(">", checkBound(options.after, "after"));
  if (options.before !== undefined) bound("<", checkBound(options.before, "before"));
  const { from, to } = startsWithRange(checkBound(options.startsWith ?? "", "startsWith"), values);
  if (from) conditions.push(`key >= ${from}`);
  if (to) conditions.push(`key < ${to}`);
  const after = cursorKey(options.cursor);
  if (after !== undefined) bound(order === "asc" ? ">" : "<", after);
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from ${q}.kv
     where ${conditions.join(" and ")}
     order by key ${order}
     limit $2`,
    values,
  );
  return toPage(rows, limit, (row) => row.key, toEntry);
}

/**
 * The prefixes that hold a live entry, in byte order, one page at a time. A loose index scan: each
 * step jumps through the primary key to the next prefix, so a page costs one probe per prefix
 * however many entries each holds (past expired entries only, which the sweep removes). On Citus,
 * which runs a recursive query only within one shard, each shard's distinct prefixes are merged instead.
 */
export async function listPrefixes(
  { db, q, driver }: Pick<StoreContext, "db" | "q" | "driver">,
  options: KvPrefixListOptions = {},
): Promise<Page<string>> {
  const limit = pageLimit(options.limit);
  const values: unknown[] = [limit + 1];
  const { from, to } = startsWithRange(checkBound(options.startsWith ?? "", "startsWith"), values);
  const first = [LIVE];
  const next = ["k.prefix > p.prefix", LIVE];
  if (from) first.push(`prefix >= ${from}`);
  if (to) {
    first.push(`prefix < ${to}`);
    next.push(`k.prefix < ${to}`);
  }
  const after = cursorKey(options.cursor);
  if (after !== undefined) first.push(`prefix > $${values.push(after)}`);
  const sql = driver.capabilities.distributed
    ? `select distinct prefix from ${q}.kv where ${first.join(" and ")} order by prefix limit $1`
    : `with recursive prefixes(prefix) as (
       (select prefix from ${q}.kv where ${first.join(" and ")} order by prefix limit 1)
       union all
       select (select k.prefix from ${q}.kv k where ${next.join(" and ")} order by k.prefix limit 1)
       from prefixes p
       where p.prefix is not null
     )
     select prefix from prefixes where prefix is not null limit $1`;
  const { rows } = await db.query<{ prefix: string }>(sql, values);
  return toPage(
    rows,
    limit,
    (row) => row.prefix,
    (row) => row.prefix,
  );
}
