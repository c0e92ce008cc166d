/**
 * Where blob content lives. The metadata row (key, size, sha256, content type) is always in PostgreSQL,
 * written by the blobs repository; a backend only stores and returns bytes under an id that is new on
 * every put. It never sees keys being replaced: content under an id is written once, read many times,
 * then removed.
 */

import type { Queryable } from "../db/driver.js";
import type { Logger } from "./logger.js";

/** What a backend may use of the store: the connection of the put or read (the store, or a transaction). */
export interface BlobIO {
  readonly db: Queryable;
  /** The quoted schema name, for SQL text. */
  readonly q: string;
  readonly logger: Logger;
  /**
   * The store's own name in a backend that several stores may share (a bucket and prefix): content a
   * non-transactional backend writes goes under it, and `list` lists it. Undefined until the schema
   * has the table that keeps it.
   */
  readonly namespace?: string;
}

/** One object `list` found under the store's namespace. */
export interface ListedContent {
  /** The object's name after the namespace: a content id for what the store wrote. */
  readonly name: string;
  /** Its location, as `write` returns it. */
  readonly location: string;
  /** When the backend stored it, if it says. */
  readonly modified: Date | undefined;
}

export interface BlobContent {
  /** The id of this version of the blob: new on every put. */
  readonly id: string;
  /** What `write` returned. */
  readonly location: string | null;
  readonly chunkSize: number | null;
  readonly size: number;
}

export interface BlobWriteRequest {
  readonly id: string;
  readonly key: string;
  readonly contentType: string | undefined;
  /** The bytes, pulled as fast as the backend takes them (backpressure comes for free). */
  readonly source: AsyncIterable<Uint8Array>;
  /** Aborted when the caller gives up; the backend stops and cleans up what it started. */
  readonly signal: AbortSignal | undefined;
}

export interface BlobBackend {
  /** Recorded with each blob, so a store can still read blobs written through another backend. */
  readonly kind: string;
  /**
   * True when `write` goes through `io.db`: the content then commits or rolls back with the metadata
   * row, and the repository writes both in one transaction. False for an external store (S3), whose
   * content is uploaded before the metadata transaction and removed after commit when unreachable.
   */
  readonly transactional: boolean;
  /** Stores all of `source`; throws (leaving nothing behind it can reach) if any of it fails. */
  write(
    io: BlobIO,
    request: BlobWriteRequest,
  ): Promise<{ location: string | null; chunkSize: number | null }>;
  /**
   * Where `write` will store the content of `id`, known before it runs, so the record of a pending put
   * names it even if the process dies before the write returns.
   */
  locate?(io: BlobIO, id: string): string;
  /**
   * For a backend that is not transactional: what it holds under `io.namespace`, in name order, after
   * the location `after` (all of it for ""), at most `max` at a time. collectGarbage() pages through it
   * for content a put stored but could not record before its process died.
   */
  list?(io: BlobIO, after: string, max: number): Promise<{ contents: ListedContent[]; more: boolean }>;
  /** Bytes `start` to `end` inclusive (`end` < size), in order. */
  read(io: BlobIO, content: BlobContent, start: number, end: number): AsyncIterable<Uint8Array>;
  /** Removes the content. Transactional backends run it in the caller's transaction. */
  remove(io: BlobIO, content: Pick<BlobContent, "id" | "location">): Promise<void>;
  /**
   * How long content may stay pending (written, no committed row pointing at it) before
   * collectGarbage() takes it for the leftover of a put that rolled back or died. Longer than any put
   * takes to write its content.
   */
  readonly orphanGraceMs?: number;
  /** Releases what the backend holds open (the S3 client's sockets); for store.close(). */
  close?(): void | Promise<void>;
}
