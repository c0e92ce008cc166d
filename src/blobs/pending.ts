/**
 * Content a put writes before its key points to it: stored under a new id outside the caller's
 * transaction and recorded in blob_pending, claimed by the metadata transaction, or discarded when the
 * put fails. The record is what lets collectGarbage() find content that no key ever came to point to.
 */

import { createHash, type Hash } from "node:crypto";
import type { BlobBackend } from "../core/blob-backend.js";
import type { StoreContext } from "../core/context.js";
import { BlobError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import { anotherConnection, type Queryable, snapshotIsolation } from "../db/driver.js";
import { backendFor, blobIO } from "./rows.js";
import { measured } from "./source.js";
import type { BlobData } from "./types.js";

/** Content a put has stored, kept by source so a retried transaction does not read the source again. */
export interface StoredContent {
  id: string;
  backend: string;
  location: string | null;
  chunkSize: number | null;
  size: number;
  sha256: string;
  /** Recorded in blob_pending (committed), to be claimed by the metadata transaction. */
  pending: boolean;
  /**
   * Recorded in blob_pending (committed) with the caller's transaction as its owner: a snapshot cannot
   * see the record to claim it, so collectGarbage() leaves it alone until that transaction has ended.
   */
  owned?: boolean;
}

/**
 * Where a put's content goes. "claimed": written on another connection, recorded first, and claimed
 * by the metadata transaction. "owned": the same, but the caller's transaction reads from a snapshot
 * (repeatable read, serializable) that cannot see the record, which names that transaction instead.
 * "late": the only connection is in the caller's transaction, so the record follows once that ends.
 * "through": the backend is PostgreSQL and the content goes through the caller's transaction, when it
 * holds the only connection or reads from a snapshot (which would not see chunks written elsewhere).
 */
export type ContentWrite = "claimed" | "owned" | "late" | "through";

export async function contentWrite(context: StoreContext, backend: BlobBackend): Promise<ContentWrite> {
  const { driver, db } = context;
  if (!db.inTransaction) return "claimed";
  if (!anotherConnection(driver)) return backend.transactional ? "through" : "late";
  if (!(await snapshotIsolation(db))) return "claimed";
  return backend.transactional ? "through" : "owned";
}

/** The record of content just stored under `id`, measured as it went. */
export function contentRecord(
  id: string,
  backend: BlobBackend,
  stored: { location: string | null; chunkSize: number | null },
  tally: { size: number; hash: Hash },
  pending: boolean,
  owned = false,
): StoredContent {
  return {
    id,
    backend: backend.kind,
    location: stored.location,
    chunkSize: stored.chunkSize,
    size: tally.size,
    sha256: tally.hash.digest("hex"),
    pending,
    ...(owned ? { owned } : {}),
  };
}

/**
 * Writes the content under a new id, outside the caller's transaction: recorded as pending first (or,
 * when the only connection is in the caller's transaction, as soon as that ends), so content that is
 * never pointed to can be found and removed whatever happens to the put. Content whose process died
 * before that late record is found by listing the store's namespace (blobs/namespace.ts).
 */
export async function writeContent(
  context: StoreContext,
  backend: BlobBackend,
  how: Exclude<ContentWrite, "through">,
  request: { key: string; data: BlobData; contentType: string | undefined; signal: AbortSignal | undefined },
): Promise<StoredContent> {
  const { driver, q } = context;
  const id = uuidv7();
  const pending = how === "claimed";
  const recorded = how !== "late";
  const io = blobIO(context, driver);
  const location = backend.locate?.(io, id) ?? null;
  const record = `insert into ${q}.blob_pending (id, backend, location, owner) values ($1, $2, $3, $4)
                  on conflict (id) do nothing`;
  const owner = how === "owned" ? await currentTransaction(context.db) : null;
  if (recorded) await driver.query(record, [id, backend.kind, location, owner]);
  const tally = { size: 0, hash: createHash("sha256") };
  let stored: { location: string | null; chunkSize: number | null };
  try {
    stored = await backend.write(io, {
      id,
      key: request.key,
      contentType: request.contentType,
      source: measured(request.data, tally),
      signal: request.signal,
    });
  } catch (error) {
    if (backend.transactional) await discard(context, { id, backend: backend.kind, location: null, pending });
    else if (recorded)
      await driver.query(`delete from ${q}.blob_pending where id = $1`, [id]).catch(() => {});
    throw error;
  }
  if (stored.location !== location && recorded) {
    await driver.query(`update ${q}.blob_pending set location = $2 where id = $1`, [id, stored.location]);
  } else if (!recorded) {
    // The only connection is in the caller's transaction: this runs as soon as that ends.
    void driver
      .query(record, [id, backend.kind, stored.location, null])
      .catch((error: unknown) =>
        context.logger.warn(
          { id, error: String(error) },
          "flowstore: could not record pending blob content; it may stay in the backend unreferenced",
        ),
      );
  }
  return contentRecord(id, backend, stored, tally, pending, how === "owned");
}

/** The id of the caller's (top-level) transaction, which owns content it cannot see recorded. */
async function currentTransaction(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ xid: string }>("select pg_current_xact_id()::text as xid");
  return rows[0]?.xid as string;
}

/**
 * Makes content an earlier attempt of a retried transaction stored (and owned) this attempt's: the
 * earlier attempt has ended, so collectGarbage() would otherwise take it past the grace period. Fails
 * if it has already.
 */
export async function adoptOwned(context: StoreContext, db: Queryable, id: string): Promise<void> {
  const owner = await currentTransaction(db);
  const { rows } = await context.driver.query(
    `update ${context.q}.blob_pending set owner = $2::xid8 where id = $1 returning id`,
    [id, owner],
  );
  if (rows.length === 0) throw gone();
}

/** Takes the content out of blob_pending in the metadata transaction; fails if it was collected. */
export async function claimPending(context: StoreContext, db: Queryable, id: string): Promise<void> {
  const { rows } = await db.query(`delete from ${context.q}.blob_pending where id = $1 returning id`, [id]);
  if (rows.length === 0) throw gone();
}

function gone(): BlobError {
  return new BlobError(
    "the content of this put is gone: it stayed pending past the grace period and was collected, or the same stream was already put under another key",
  );
}

/** Removes content no row points to, and its pending record; failures are left to collectGarbage(). */
export async function discard(
  context: StoreContext,
  content: Pick<StoredContent, "id" | "backend" | "location" | "pending" | "owned">,
) {
  const backend = backendFor(context, content.backend);
  try {
    await backend?.remove(blobIO(context, context.driver), content);
    if (content.pending || content.owned) {
      await context.driver.query(`delete from ${context.q}.blob_pending where id = $1`, [content.id]);
    }
  } catch (error) {
    context.logger.warn(
      { id: content.id, error: String(error) },
      "flowstore: could not remove the content of a failed blob put; collectGarbage() will",
    );
  }
}
