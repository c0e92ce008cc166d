/**
 * blobs: large binary objects under string keys. The metadata row (size, sha256, content type) is in
 * PostgreSQL whatever the backend, so a blob can be put in the same transaction as the state that
 * points to it. Content goes to the configured backend (chunks in PostgreSQL by default, or S3).
 *
 * A put never leaves a half blob readable: content is stored under an id that is new on every put, and
 * the key is switched to it only once all of it is stored, together with the metadata row.
 * - On the store, a put runs in a transaction of its own (chunks, metadata and the removal of the
 *   previous version commit together).
 * - Inside a transaction, a put is a savepoint: if it fails, the transaction can go on without it; if
 *   the transaction rolls back, the blob was never there. S3 content is uploaded at once (S3 has no
 *   transactions); content that a rollback leaves unreferenced is never visible under any key.
 *
 * This file is the public facade, `store.blobs` (and `tx.blobs`); the work is kept by concern beside
 * it: the write path in blobs/put.ts and blobs/pending.ts (with blobs/source.ts for the caller's data),
 * the read path in blobs/read.ts, and released content and its removal in blobs/garbage.ts, all on the
 * shared row of blobs/rows.ts.
 */

import type { Readable } from "node:stream";
import { forReads, type StoreContext } from "../core/context.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";
import { PAGE_KEYS, type Page, type PageOptions } from "../core/key-cursor.js";
import { refuseOnReadOnly } from "../core/read-only.js";
import { collectGarbage, deleteBlob } from "./garbage.js";
import { put } from "./put.js";
import { exists, head, list, readWhole, stream } from "./read.js";
import type { BlobData, BlobInfo, BlobPutOptions, BlobRange } from "./types.js";

const PUT_KEYS = optionKeys<BlobPutOptions>({ contentType: true, signal: true, executionId: true });
const GARBAGE_KEYS = optionKeys<{ limit?: number; graceMs?: number }>({ limit: true, graceMs: true });
const RANGE_KEYS = optionKeys<BlobRange>({ start: true, end: true });

export class Blobs {
  constructor(protected readonly context: StoreContext) {}

  /**
   * Stores `data` under `key`, replacing any blob there; resolves once it is stored (and committed).
   *
   * The content is written first, outside the caller's transaction where the driver has another
   * connection for it, under a new content id recorded in blob_pending; only the metadata row (key ->
   * content id) is written in the caller's transaction. So a put never holds a transaction open while
   * it reads its source (which may be another blob's stream), and a transaction run again after a
   * serialization failure reuses the content its first attempt stored instead of reading a used-up
   * stream. Content that no committed row points to is removed by collectGarbage() after the grace
   * period. On a single connection (PGlite, a pool of one) inside a transaction, PostgreSQL chunks go
   * through the transaction, and the source is spooled to a temporary file so a retry can read it again.
   */
  async put(key: string, data: BlobData, options: BlobPutOptions = {}): Promise<BlobInfo> {
    // Refused before the content goes anywhere: an S3 upload happens before the database hears of it.
    refuseOnReadOnly(this.context, "blobs.put()");
    refuseUnknownKeys(options, PUT_KEYS);
    return put(this.context, key, data, options);
  }

  /**
   * Removes content no blob points to: content outside PostgreSQL that deletes and replaces made
   * unreachable but could not remove at once (they ran in a transaction, or the backend was down), and
   * content of puts that rolled back or never finished, once it has been pending longer than the grace
   * period (the backend's `orphanGraceMs`, default 1 day, or `graceMs`). With S3 it also looks at up to
   * `limit` objects of the store's own namespace, from where it last stopped, for objects no table names
   * (a put whose process died before it could record its upload). Returns how many were removed.
   */
  async collectGarbage(options: number | { limit?: number; graceMs?: number } = {}): Promise<number> {
    refuseOnReadOnly(this.context, "blobs.collectGarbage()");
    if (typeof options === "object" && options !== null) refuseUnknownKeys(options, GARBAGE_KEYS);
    return collectGarbage(this.context, options);
  }

  async head(key: string): Promise<BlobInfo> {
    return head(this.context, key);
  }

  async exists(key: string): Promise<boolean> {
    return exists(this.context, key);
  }

  /** The whole blob in memory, checked against its sha256. For large blobs, use stream(). */
  async get(key: string): Promise<Buffer> {
    return readWhole(this.context, key);
  }

  /**
   * A Readable of the blob, or of bytes `start`..`end` (inclusive). A whole-blob stream is checked
   * against the sha256 and errors if the content differs. Called in a transaction, the stream reads
   * through it: consume it before the transaction ends.
   */
  async stream(key: string, range: BlobRange = {}): Promise<Readable> {
    refuseUnknownKeys(range, RANGE_KEYS);
    return stream(this.context, key, range);
  }

  /** True when there was a blob to delete. */
  async delete(key: string): Promise<boolean> {
    refuseOnReadOnly(this.context, "blobs.delete()");
    return deleteBlob(this.context, key);
  }

  /**
   * Blobs whose key starts with `prefix`, in key order, one page at a time; from the store's
   * readConnection when it has one (outside a transaction).
   */
  async list(prefix = "", options: PageOptions = {}): Promise<Page<BlobInfo>> {
    refuseUnknownKeys(options, PAGE_KEYS);
    return list(forReads(this.context), prefix, options);
  }
}
