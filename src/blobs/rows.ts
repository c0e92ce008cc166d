/**
 * The blobs table as the blob files share it: the row and its columns, the key limit, the row as
 * callers see it, and which backend holds a row's content (the configured one, or the built-in
 * PostgreSQL one that wrote older content). Kept apart so the write, read and garbage paths use one
 * definition without importing each other.
 */

import type { BlobBackend, BlobContent, BlobIO } from "../core/blob-backend.js";
import type { StoreContext } from "../core/context.js";
import type { Queryable } from "../db/driver.js";
import { postgresBlobs } from "./postgres.js";
import type { BlobInfo } from "./types.js";

export interface Row {
  key: string;
  id: string;
  backend: string;
  location: string | null;
  size: number;
  sha256: string;
  content_type: string | null;
  chunk_size: number | null;
  created_at: Date;
}

export const COLUMNS = "key, id, backend, location, size, sha256, content_type, chunk_size, created_at";
export const MAX_KEY_LENGTH = 1024;

/** Reads blobs written by the default backend even when the store is configured with another. */
const builtinPostgres = postgresBlobs();

/** The backend new content goes to. */
export function configuredBackend(context: StoreContext): BlobBackend {
  return context.blobBackend ?? builtinPostgres;
}

export function blobTable(context: StoreContext): string {
  return `${context.q}.blobs`;
}

export function blobIO(context: StoreContext, db: Queryable = context.db): BlobIO {
  return { db, q: context.q, logger: context.logger, namespace: context.blobNamespace.id };
}

/** The backend that holds content written by `kind`. */
export function backendFor(context: StoreContext, kind: string): BlobBackend | undefined {
  const backend = configuredBackend(context);
  if (kind === backend.kind) return backend;
  if (kind === builtinPostgres.kind) return builtinPostgres;
  return undefined;
}

export function toInfo(row: Row): BlobInfo {
  return {
    key: row.key,
    size: row.size,
    sha256: row.sha256,
    contentType: row.content_type,
    createdAt: row.created_at,
    backend: row.backend,
  };
}

export function toContent(row: Row): BlobContent {
  return { id: row.id, location: row.location, chunkSize: row.chunk_size, size: row.size };
}
