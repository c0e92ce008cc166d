/**
 * Content no key points to any more, and its removal: what a replace or delete releases (at once in
 * PostgreSQL, else recorded in blob_garbage), collectGarbage() for that, for pending content past the
 * grace period and for unrecorded objects of the store's namespace (blobs/namespace.ts), and
 * deleteBlobsOf() for retention. Outside PostgreSQL content can only go once the change that released
 * it has committed, so it is recorded first and removed after.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { checkText } from "../core/payload.js";
import { beforeCut, idBatch } from "../core/planned-few.js";
import type { Queryable } from "../db/driver.js";
import { sweepNamespace } from "./namespace.js";
import { DEFAULT_ORPHAN_GRACE_MS } from "./postgres.js";
import {
  backendFor,
  blobIO,
  blobTable,
  COLUMNS,
  configuredBackend,
  MAX_KEY_LENGTH,
  type Row,
} from "./rows.js";

/** Drops content no key points to any more: at once if it is in PostgreSQL, else via blob_garbage. */
export async function release(context: StoreContext, db: Queryable, old: Row): Promise<Row | undefined> {
  const backend = backendFor(context, old.backend);
  if (backend?.transactional) {
    await backend.remove(blobIO(context, db), old);
    return undefined;
  }
  await db.query(
    `insert into ${context.q}.blob_garbage (id, backend, location) values ($1, $2, $3)
     on conflict (id) do nothing`,
    [old.id, old.backend, old.location ?? old.id],
  );
  return old;
}

/** Removes content recorded as garbage from its backend, then the record. */
export async function collect(
  context: StoreContext,
  garbage: Pick<Row, "id" | "backend" | "location">,
): Promise<boolean> {
  const backend = backendFor(context, garbage.backend);
  if (!backend) return false;
  try {
    await backend.remove(blobIO(context), garbage);
  } catch (error) {
    context.logger.warn(
      { id: garbage.id, backend: garbage.backend, error: String(error) },
      "flowstore: could not remove replaced blob content; collectGarbage() will try again",
    );
    return false;
  }
  await context.db.query(`delete from ${context.q}.blob_garbage where id = $1`, [garbage.id]);
  return true;
}

/** Blobs.collectGarbage(): removes content no blob points to, and returns how many were removed. */
export async function collectGarbage(
  context: StoreContext,
  options: number | { limit?: number; graceMs?: number },
): Promise<number> {
  // Anything but a number or an options object (null, a string) is refused here, not a TypeError.
  if (typeof options !== "number" && (typeof options !== "object" || options === null)) {
    throw new ValidationError("collectGarbage takes a limit or { limit, graceMs }", { field: "options" });
  }
  const { limit = 1000, graceMs = configuredBackend(context).orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS } =
    typeof options === "number" ? { limit: options } : options;
  const q = context.q;
  // Pending content past the grace period: what a row points to was committed (its record only
  // outlived it); the rest is garbage. A put whose metadata transaction is still open holds its
  // record's lock, and is skipped; so is content owned by a transaction this statement's snapshot does
  // not see as ended (a put in a repeatable read or serializable transaction), since what that
  // transaction may yet commit, or has just committed, is not visible here.
  await context.db.query(
    `with expired as (
       delete from ${q}.blob_pending
       where id in (select id from ${q}.blob_pending
                    where ${beforeCut("created_at", "now() - $1 * interval '1 millisecond'")}
                      and (owner is null or pg_visible_in_snapshot(owner, pg_current_snapshot()))
                    order by created_at limit $2 for update skip locked)
       returning id, backend, location
     )
     insert into ${q}.blob_garbage (id, backend, location)
     select e.id, e.backend, coalesce(e.location, e.id::text) from expired e
     where not exists (select 1 from ${q}.blobs b where b.id = e.id)
     on conflict (id) do nothing`,
    [graceMs, limit],
  );
  // Objects a put stored but could not record before its process died: found only by listing.
  await sweepNamespace(context, limit, graceMs);
  const { rows } = await context.db.query<Pick<Row, "id" | "backend" | "location">>(
    `select id, backend, location from ${q}.blob_garbage order by created_at limit $1`,
    [limit],
  );
  let removed = 0;
  for (const row of rows) if (await collect(context, row)) removed++;
  return removed;
}

/** Blobs.delete(): true when there was a blob to delete. */
export async function deleteBlob(context: StoreContext, key: string): Promise<boolean> {
  checkText(key, "key", MAX_KEY_LENGTH);
  const garbage = await context.db.transaction(async (db) => {
    const { rows } = await db.query<Row>(
      `delete from ${blobTable(context)} where key = $1 returning ${COLUMNS}`,
      [key],
    );
    const old = rows[0];
    return old ? { old, garbage: await release(context, db, old) } : undefined;
  });
  if (garbage?.garbage && !context.db.inTransaction) await collect(context, garbage.garbage);
  return garbage !== undefined;
}

/**
 * Deletes the blobs whose key starts with `prefix`, but for `keep`, in the caller's transaction (their
 * content outside PostgreSQL is recorded as garbage). Returns how many went.
 */
export async function deleteBlobsUnder(
  context: StoreContext,
  prefix: string,
  keep: string | null,
): Promise<number> {
  const { rows } = await context.db.query<Row>(
    `delete from ${blobTable(context)} where key >= $1 and key < $2 and key is distinct from $3
     returning ${COLUMNS}`,
    [...prefixRange(prefix), keep],
  );
  for (const old of rows) await release(context, context.db, old);
  return rows.length;
}

/** A range of the key's index: every key that starts with the prefix sorts from it to the prefix with
 * its last character moved up one. */
function prefixRange(prefix: string): [string, string] {
  return [prefix, prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)];
}

/**
 * Deletes the blobs whose key starts with `prefix` but the one `current` names (an SQL scalar subquery
 * over `$n`, which is `value`), with their chunks, in one statement: for a write that has just put a
 * value back in its row. Its snapshot, taken after that write's row lock, sees each blob a racing
 * offloaded write committed together with the reference the row holds now; the blob of a write still
 * open is not visible to it, and that write removes the others itself. Content outside PostgreSQL is
 * recorded as garbage, for collectGarbage().
 *
 * On Citus the row is distributed and the blobs are not, and one statement cannot read both: the row
 * is read first, locked for share so that no write of another reference commits until the blobs are
 * deleted, in one transaction.
 */
export async function deleteBlobsUnderBut(
  { db, q, driver }: Pick<StoreContext, "db" | "q" | "driver">,
  prefix: string,
  current: (n: number) => string,
  value: unknown,
): Promise<void> {
  const [from, to] = prefixRange(prefix);
  if (!driver.capabilities.distributed) {
    await db.query(deleteUnderBut(q, current(3)), [from, to, value]);
    return;
  }
  await db.transaction(async (tx) => {
    const { rows } = await tx.query<Record<string, string | null>>(`${current(1)} for share`, [value]);
    const kept = rows[0] ? Object.values(rows[0])[0] : null;
    await tx.query(deleteUnderBut(q, "$3"), [from, to, kept]);
  });
}

/** The statement that deletes the blobs in [$1, $2) but the key `kept` (an SQL expression) names. */
function deleteUnderBut(q: string, kept: string): string {
  return `with gone as (
       delete from ${q}.blobs where key >= $1 and key < $2 and key is distinct from (${kept})
       returning id, backend, location
     ),
     ${releasedContentSql(q, "gone")}
     select count(*) from gone`;
}

/**
 * Common table expressions (`chunks`, `garbage`) that release the content of the blob rows a statement
 * deletes, `gone` naming the expression that returns their id, backend and location: content in
 * PostgreSQL is deleted with them, content elsewhere recorded as garbage for collectGarbage().
 */
export function releasedContentSql(q: string, gone: string): string {
  // The ids as an array: the chunks' index serves them however many blobs the planner expects `gone`
  // to give (as a join, it read the chunks whole past a few).
  return `chunks as (delete from ${q}.blob_chunks
       where blob_id = any(array(select id from ${gone} where backend = 'postgres'))),
     garbage as (insert into ${q}.blob_garbage (id, backend, location)
       select id, backend, coalesce(location, id::text) from ${gone} where backend <> 'postgres'
       on conflict (id) do nothing)`;
}

/**
 * Common table expressions that delete the blobs whose keys the expression `named` returns in its
 * `blob_key` column (null naming none) and release their content as releasedContentSql does: for a
 * statement that deletes rows naming blobs, so the rows and their blobs go together.
 */
export function namedBlobsDeletedSql(q: string, named: string): string {
  // The keys as an array, in the blobs' collation ("C"): the primary key's index serves them however
  // many rows the planner expects `named` to give (as a join, it read the blobs whole past a few).
  return `named_blobs as (delete from ${q}.blobs b
       where b.key = any(array(select n.blob_key collate "C" from ${named} n where n.blob_key is not null))
       returning b.id, b.backend, b.location),
     ${releasedContentSql(q, "named_blobs")}`;
}

/**
 * Retention: deletes the blobs of these executions. Content in PostgreSQL goes with them; content
 * elsewhere is recorded as garbage, removed from its backend by collectGarbage() once this commits (as
 * a replaced blob's content is). Returns how many blobs went, and how many of them wait as garbage.
 */
export async function deleteBlobsOf(
  { db, q }: SqlContext,
  executionIds: ExecutionIds,
): Promise<{ deleted: number; external: number }> {
  const among = amongIds("execution_id", executionIds);
  const { rows: blobs } = await db.query<{ id: string; backend: string; location: string | null }>(
    `delete from ${q}.blobs where ${among.sql} returning id, backend, location`,
    among.params,
  );
  const inPostgres = blobs.filter((b) => b.backend === "postgres").map((b) => b.id);
  const elsewhere = blobs.filter((b) => b.backend !== "postgres");
  if (inPostgres.length) {
    await db.query(`delete from ${q}.blob_chunks where blob_id = any(${idBatch(1, "uuid")})`, [inPostgres]);
  }
  if (elsewhere.length) {
    await db.query(
      `insert into ${q}.blob_garbage (id, backend, location)
       select * from unnest($1::uuid[], $2::text[], $3::text[]) on conflict (id) do nothing`,
      [elsewhere.map((b) => b.id), elsewhere.map((b) => b.backend), elsewhere.map((b) => b.location ?? b.id)],
    );
  }
  return { deleted: blobs.length, external: elsewhere.length };
}
