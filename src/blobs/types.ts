/** What callers give and get back when they store and read blobs. */

import type { Readable } from "node:stream";

export type BlobData = Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface BlobPutOptions {
  contentType?: string;
  /** Aborting stops the upload; the put then fails with a BlobError and stores nothing. */
  signal?: AbortSignal;
  /** The execution the blob belongs to: `store.prune()` removes it with that execution. */
  executionId?: string;
}

export interface BlobRange {
  /** First byte (default 0). */
  start?: number;
  /** Last byte, inclusive as in `fs.createReadStream` (default: the last byte of the blob). */
  end?: number;
}

export interface BlobInfo {
  key: string;
  size: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
  contentType: string | null;
  createdAt: Date;
  /** The backend holding the content: "postgres" or "s3". */
  backend: string;
}
