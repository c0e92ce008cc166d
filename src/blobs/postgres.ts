/**
 * The default blob backend: content in fixed-size chunks in the `blob_chunks` table, written and read
 * one chunk at a time, so memory stays near two chunks whatever the blob's size. Chunks are written
 * under a content id no row points to yet; a blob is readable only once its metadata row commits.
 */

import type { BlobBackend, BlobContent, BlobIO, BlobWriteRequest } from "../core/blob-backend.js";
import { BlobError, ValidationError } from "../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";

export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

export interface PostgresBlobOptions {
  /** Bytes per chunk row (default 1 MiB). Applies to new blobs; each blob records its own. */
  chunkSize?: number;
  /** How long content may stay pending before collectGarbage() removes it (default 1 day). */
  orphanGraceMs?: number;
}

export const DEFAULT_ORPHAN_GRACE_MS = 24 * 60 * 60_000;

export function checkGraceMs(value: number | undefined): number {
  const ms = value ?? DEFAULT_ORPHAN_GRACE_MS;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new ValidationError("orphanGraceMs must be a non-negative integer", { field: "orphanGraceMs" });
  }
  return ms;
}

const POSTGRES_BLOB_KEYS = optionKeys<PostgresBlobOptions>({ chunkSize: true, orphanGraceMs: true });

export function postgresBlobs(options: PostgresBlobOptions = {}): BlobBackend {
  refuseUnknownKeys(options, POSTGRES_BLOB_KEYS);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 256 * 1024 * 1024) {
    throw new ValidationError("chunkSize must be an integer from 1 byte to 256 MiB", { field: "chunkSize" });
  }
  return new PostgresBlobBackend(chunkSize, checkGraceMs(options.orphanGraceMs));
}

class PostgresBlobBackend implements BlobBackend {
  readonly kind = "postgres";
  readonly transactional = true;

  constructor(
    private readonly chunkSize: number,
    readonly orphanGraceMs: number,
  ) {}

  async write(io: BlobIO, { id, source, signal }: BlobWriteRequest) {
    const insert = `insert into ${io.q}.blob_chunks (blob_id, seq, data) values ($1, $2, $3)`;
    // One buffer, refilled: a chunk's query has finished (and its bytes were copied out) before the
    // buffer is written again.
    const chunk = Buffer.allocUnsafe(this.chunkSize);
    let filled = 0;
    let seq = 0;
    for await (const piece of source) {
      let offset = 0;
      while (offset < piece.length) {
        const n = Math.min(piece.length - offset, this.chunkSize - filled);
        chunk.set(piece.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === this.chunkSize) {
          signal?.throwIfAborted();
          await io.db.query(insert, [id, seq++, chunk]);
          filled = 0;
        }
      }
    }
    if (filled > 0) {
      signal?.throwIfAborted();
      await io.db.query(insert, [id, seq, chunk.subarray(0, filled)]);
    }
    return { location: null, chunkSize: this.chunkSize };
  }

  async *read(io: BlobIO, content: BlobContent, start: number, end: number): AsyncIterable<Uint8Array> {
    const size = content.chunkSize;
    if (!size) throw new BlobError(`blob content ${content.id} has no chunk size recorded`);
    // substring() on an uncompressed (storage external) value fetches only the slices it needs.
    const select = `select substring(data from $3 for $4) as data
                    from ${io.q}.blob_chunks where blob_id = $1 and seq = $2`;
    const fetch = async (seq: number): Promise<Uint8Array> => {
      const from = Math.max(start - seq * size, 0);
      const to = Math.min(end - seq * size, size - 1);
      const { rows } = await io.db.query<{ data: Uint8Array }>(select, [
        content.id,
        seq,
        from + 1,
        to - from + 1,
      ]);
      const data = rows[0]?.data;
      if (!data || data.length !== to - from + 1) {
        throw new BlobError("the blob was replaced or deleted while being read");
      }
      return data;
    };
    const first = Math.floor(start / size);
    const last = Math.floor(end / size);
    // One chunk fetched ahead, so the database and the consumer work at the same time.
    let next: Promise<Uint8Array> | undefined = fetch(first);
    try {
      for (let seq = first; seq <= last; seq++) {
        const data: Uint8Array = await (next as Promise<Uint8Array>);
        next = seq < last ? fetch(seq + 1) : undefined;
        yield data;
      }
    } finally {
      // A consumer that stops early leaves one fetch in flight; its result (or error) is not wanted.
      next?.catch(() => {});
    }
  }

  async remove(io: BlobIO, content: Pick<BlobContent, "id">): Promise<void> {
    await io.db.query(`delete from ${io.q}.blob_chunks where blob_id = $1`, [content.id]);
  }
}
