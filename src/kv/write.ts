/**
 * Writing kv: one entry (or only if absent, or at an expected version), and many entries of a prefix
 * in one statement. A write replaces the value, the TTL and the owner. An expired row still in the
 * table counts as absent: it is overwritten and its version starts again at 1.
 */

import type { SqlContext } from "../core/context.js";
import { ConflictError, ValidationError } from "../core/errors.js";
import { checkDistinct, optionalTtl } from "../core/input.js";
import { checkKey, checkOwner, LIVE, toBytes } from "./rows.js";
import type { KvSetIfAbsentResult, KvSetManyEntry, KvSetOptions } from "./types.js";

const EXPIRES = (ttl: string) => `now() + ${ttl}::float8 * interval '1 millisecond'`;

/**
 * The insert's conflict clause: the row is replaced, and an expired one starts again at version 1.
 * The time is the proposed row's updated_at (the column's default, now()) rather than a call of now()
 * here, which Citus refuses in a conflict clause on a distributed table: the same time either way, as
 * now() is the transaction's.
 */
const REPLACE = `on conflict (prefix, key) do update
  set value = excluded.value,
      version = case when kv.expires_at <= excluded.updated_at then 1 else kv.version + 1 end,
      expires_at = excluded.expires_at,
      owner = excluded.owner,
      updated_at = excluded.updated_at`;

interface Checked {
  prefix: string;
  key: string;
  bytes: Uint8Array;
  ttlMs: number | null;
  owner: string | null;
}

function checkEntry(prefix: string, key: string, value: Uint8Array | string, options: KvSetOptions): Checked {
  return {
    prefix: checkKey(prefix, "prefix"),
    key: checkKey(key),
    bytes: toBytes(value),
    ttlMs: optionalTtl(options.ttlMs, false),
    owner: checkOwner(options.owner),
  };
}

/** Inserts the entry, replacing a row that is expired or, with `always`, any row; the version written. */
async function insert({ db, q }: SqlContext, e: Checked, always: boolean): Promise<number | undefined> {
  const { rows } = await db.query<{ version: number }>(
    `insert into ${q}.kv as kv (prefix, key, value, version, expires_at, owner)
     values ($1, $2, $3, 1, ${EXPIRES("$4")}, $5)
     ${REPLACE}
       where $6::boolean or kv.expires_at <= excluded.updated_at
     returning version`,
    [e.prefix, e.key, e.bytes, e.ttlMs, e.owner, always],
  );
  return rows[0]?.version;
}

/** Creates or replaces the entry; returns the new version. See KvSetOptions for expectedVersion. */
export async function set(
  context: SqlContext,
  prefix: string,
  key: string,
  value: Uint8Array | string,
  options: KvSetOptions = {},
): Promise<{ version: number }> {
  const entry = checkEntry(prefix, key, value, options);
  const { expectedVersion } = options;
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 0)) {
    throw new ValidationError("expectedVersion must be a non-negative integer", {
      field: "expectedVersion",
    });
  }
  let version: number | undefined;
  if (expectedVersion !== undefined && expectedVersion > 0) {
    const { rows } = await context.db.query<{ version: number }>(
      `update ${context.q}.kv
       set value = $3, version = version + 1, expires_at = ${EXPIRES("$4")}, owner = $5, updated_at = now()
       where prefix = $1 and key = $2 and version = $6 and ${LIVE}
       returning version`,
      [entry.prefix, entry.key, entry.bytes, entry.ttlMs, entry.owner, expectedVersion],
    );
    version = rows[0]?.version;
  } else {
    // With expectedVersion 0, a live row is left alone and no row comes back.
    version = await insert(context, entry, expectedVersion !== 0);
  }
  if (version === undefined) {
    const name = `kv entry ${JSON.stringify(prefix)}/${JSON.stringify(key)}`;
    throw new ConflictError(
      expectedVersion === 0 ? `${name} already exists` : `${name} is not at version ${expectedVersion}`,
    );
  }
  return { version };
}

/**
 * Writes the entry only if there is no live one, and says whether it did: never a ConflictError for
 * an entry that exists. The version is the live entry's, whichever wrote it.
 */
export async function setIfAbsent(
  context: SqlContext,
  prefix: string,
  key: string,
  value: Uint8Array | string,
  options: Omit<KvSetOptions, "expectedVersion"> = {},
): Promise<KvSetIfAbsentResult> {
  const entry = checkEntry(prefix, key, value, options);
  // The entry found may be deleted or expire before it is read; then this tries to write again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const written = await insert(context, entry, false);
    if (written !== undefined) return { created: true, version: written };
    const { rows } = await context.db.query<{ version: number }>(
      `select version from ${context.q}.kv where prefix = $1 and key = $2 and ${LIVE}`,
      [entry.prefix, entry.key],
    );
    if (rows[0]) return { created: false, version: rows[0].version };
  }
  throw new ConflictError(
    `kv entry ${JSON.stringify(prefix)}/${JSON.stringify(key)} keeps changing; nothing was written`,
  );
}

/**
 * Creates or replaces many entries of one prefix in one statement, all or none; returns their new
 * versions in the order given. Rows are written in key order, so two batches that share keys wait
 * for each other but never deadlock.
 */
export async function setMany(
  { db, q }: SqlContext,
  prefix: string,
  entries: readonly KvSetManyEntry[],
): Promise<{ version: number }[]> {
  checkKey(prefix, "prefix");
  if (!Array.isArray(entries)) throw new ValidationError("entries must be an array", { field: "entries" });
  const checked = entries.map((e) => {
    if (typeof e !== "object" || e === null) {
      throw new ValidationError("each entry must be an object { key, value }", { field: "entries" });
    }
    if ((e as KvSetOptions).expectedVersion !== undefined) {
      throw new ValidationError("setMany does not compare-and-set; use set with expectedVersion", {
        field: "expectedVersion",
      });
    }
    return checkEntry(prefix, e.key, e.value, e);
  });
  const keys = checked.map((e) => e.key);
  checkDistinct(keys, "key");
  if (checked.length === 0) return [];
  const { rows } = await db.query<{ key: string; version: number }>(
    `insert into ${q}.kv as kv (prefix, key, value, version, expires_at, owner)
     select $1, u.key, u.value, 1, ${EXPIRES("u.ttl_ms")}, u.owner
     from unnest($2::text[], $3::bytea[], $4::float8[], $5::text[]) as u(key, value, ttl_ms, owner)
     order by u.key collate "C"
     ${REPLACE}
     returning key, version`,
    [prefix, keys, checked.map((e) => e.bytes), checked.map((e) => e.ttlMs), checked.map((e) => e.owner)],
  );
  const versions = new Map(rows.map((row) => [row.key, row.version]));
  return keys.map((key) => ({ version: versions.get(key) as number }));
}
