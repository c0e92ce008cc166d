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
 */

import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { BlobBackend, BlobContent, BlobIO } from "../blobs/backend.js";
import { postgresBlobs } from "../blobs/postgres.js";
import type { SqlContext, StoreContext } from "../context.js";
import type { Queryable } from "../db/driver.js";
import { BlobError, NotFoundError, StoreError, ValidationError } from "../errors.js";
import { isUuid, uuidv7 } from "../ids.js";
import { checkText } from "../payload.js";
import type { BlobData, BlobInfo, BlobPutOptions, BlobRange } from "./blob-types.js";
import { cursorKey, type Page, type PageOptions, pageLimit, toPage } from "./key-cursor.js";

interface Row {
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

const COLUMNS = "key, id, backend, location, size, sha256, content_type, chunk_size, created_at";
const MAX_KEY_LENGTH = 1024;

/** Reads blobs written by the default backend even when the store is configured with another. */
const builtinPostgres = postgresBlobs();

function toInfo(row: Row): BlobInfo {
  return {
    key: row.key,
    size: row.size,
    sha256: row.sha256,
    contentType: row.content_type,
    createdAt: row.created_at,
    backend: row.backend,
  };
}

function toContent(row: Row): BlobContent {
  return { id: row.id, location: row.location, chunkSize: row.chunk_size, size: row.size };
}

/** Every accepted input as a sequence of byte chunks, counted and hashed on the way through. */
async function* measured(
  data: BlobData,
  tally: { size: number; hash: ReturnType<typeof createHash> },
): AsyncGenerator<Uint8Array> {
  const pieces: AsyncIterable<unknown> | Iterable<unknown> = data instanceof Uint8Array ? [data] : data;
  for await (const piece of pieces) {
    const bytes = typeof piece === "string" ? Buffer.from(piece, "utf8") : piece;
    if (!(bytes instanceof Uint8Array)) {
      throw new ValidationError("blob data must yield bytes (Uint8Array or Buffer chunks)", {
        field: "data",
      });
    }
    tally.hash.update(bytes);
    tally.size += bytes.length;
    yield bytes;
  }
}

function isBlobData(data: unknown): data is BlobData {
  return (
    data instanceof Uint8Array || (typeof data === "object" && data !== null && Symbol.asyncIterator in data)
  );
}

function checkOffset(value: number | undefined, field: string): number | undefined {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new ValidationError(`${field} must be a non-negative integer`, { field });
  }
  return value;
}

/** Likes' wildcards escaped, so a prefix matches only itself. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class Blobs {
  private readonly backend: BlobBackend;

  constructor(protected readonly context: StoreContext) {
    this.backend = context.blobBackend ?? builtinPostgres;
  }

  private get table(): string {
    return `${this.context.q}.blobs`;
  }

  private io(db: Queryable = this.context.db): BlobIO {
    return { db, q: this.context.q, logger: this.context.logger };
  }

  /** The backend that holds content written by `kind`. */
  private backendFor(kind: string): BlobBackend | undefined {
    if (kind === this.backend.kind) return this.backend;
    if (kind === builtinPostgres.kind) return builtinPostgres;
    return undefined;
  }

  /** Stores `data` under `key`, replacing any blob there; resolves once it is stored (and committed). */
  async put(key: string, data: BlobData, options: BlobPutOptions = {}): Promise<BlobInfo> {
    checkText(key, "key", MAX_KEY_LENGTH);
    const contentType =
      options.contentType === undefined ? undefined : checkText(options.contentType, "contentType");
    if (!isBlobData(data)) {
      throw new ValidationError("data must be bytes, a Readable or an async iterable of bytes", {
        field: "data",
      });
    }
    if (options.executionId !== undefined && !isUuid(options.executionId)) {
      throw new ValidationError("executionId must be a UUID", { field: "executionId" });
    }
    const executionId = options.executionId ?? null;
    const id = uuidv7();
    const tally = { size: 0, hash: createHash("sha256") };
    const request = { id, key, contentType, source: measured(data, tally), signal: options.signal };
    const backend = this.backend;
    const metadata = (db: Queryable, stored: { location: string | null; chunkSize: number | null }) =>
      this.switchKey(db, executionId, {
        key,
        id,
        backend: backend.kind,
        location: stored.location,
        size: tally.size,
        sha256: tally.hash.digest("hex"),
        content_type: contentType ?? null,
        chunk_size: stored.chunkSize,
      });
    let result: { row: Row; garbage: Row | undefined };
    try {
      if (backend.transactional) {
        // Content and metadata commit together; a nested call is a savepoint. A retry could not
        // replay the source stream, so there is none.
        result = await this.context.db.transaction(
          async (db) => metadata(db, await backend.write(this.io(db), request)),
          { retries: 0 },
        );
      } else {
        const stored = await backend.write(this.io(), request);
        try {
          result = await this.context.db.transaction((db) => metadata(db, stored), { retries: 0 });
        } catch (error) {
          await this.removeQuietly(backend, { id, location: stored.location });
          throw error;
        }
      }
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new BlobError(`put ${JSON.stringify(key)} failed: ${(error as Error).message}`, { cause: error });
    }
    // The replaced content outside PostgreSQL can go once the switch is committed; in a transaction
    // that is not known yet, and collectGarbage() removes it later.
    if (result.garbage && !this.context.db.inTransaction) await this.collect(result.garbage);
    return toInfo(result.row);
  }

  /**
   * Points `key` at the new content, in the caller's transaction. The old version's chunks are
   * deleted in it; old content elsewhere is recorded in blob_garbage and returned.
   */
  private async switchKey(db: Queryable, executionId: string | null, row: Omit<Row, "created_at">) {
    const values = [
      row.key,
      row.id,
      row.backend,
      row.location,
      row.size,
      row.sha256,
      row.content_type,
      row.chunk_size,
      executionId,
    ];
    // Lock the current row (if any) first, so the content it points to is known exactly; if it does
    // not exist, insert, and start over if another put inserted it in the meantime.
    for (let attempt = 0; ; attempt++) {
      const { rows: current } = await db.query<Row>(
        `select ${COLUMNS} from ${this.table} where key = $1 for update`,
        [row.key],
      );
      const old = current[0];
      const { rows } = old
        ? await db.query<Row>(
            `update ${this.table}
             set id = $2, backend = $3, location = $4, size = $5, sha256 = $6, content_type = $7,
                 chunk_size = $8, execution_id = $9, created_at = now()
             where key = $1
             returning ${COLUMNS}`,
            values,
          )
        : await db.query<Row>(
            `insert into ${this.table} (key, id, backend, location, size, sha256, content_type, chunk_size,
               execution_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (key) do nothing
             returning ${COLUMNS}`,
            values,
          );
      const written = rows[0];
      if (!written) {
        if (attempt < 3) continue;
        throw new BlobError(`put ${JSON.stringify(row.key)} kept racing other puts of the same key`);
      }
      return { row: written, garbage: old && (await this.release(db, old)) };
    }
  }

  /** Drops content no key points to any more: at once if it is in PostgreSQL, else via blob_garbage. */
  private async release(db: Queryable, old: Row): Promise<Row | undefined> {
    const backend = this.backendFor(old.backend);
    if (backend?.transactional) {
      await backend.remove(this.io(db), old);
      return undefined;
    }
    await db.query(
      `insert into ${this.context.q}.blob_garbage (id, backend, location) values ($1, $2, $3)
       on conflict (id) do nothing`,
      [old.id, old.backend, old.location ?? old.id],
    );
    return old;
  }

  /** Removes content recorded as garbage from its backend, then the record. */
  private async collect(garbage: Pick<Row, "id" | "backend" | "location">): Promise<boolean> {
    const backend = this.backendFor(garbage.backend);
    if (!backend) return false;
    try {
      await backend.remove(this.io(), garbage);
    } catch (error) {
      this.context.logger.warn(
        { id: garbage.id, backend: garbage.backend, error: String(error) },
        "flowstore: could not remove replaced blob content; collectGarbage() will try again",
      );
      return false;
    }
    await this.context.db.query(`delete from ${this.context.q}.blob_garbage where id = $1`, [garbage.id]);
    return true;
  }

  private async removeQuietly(backend: BlobBackend, content: Pick<BlobContent, "id" | "location">) {
    await backend
      .remove(this.io(), content)
      .catch((error: unknown) =>
        this.context.logger.warn(
          { id: content.id, error: String(error) },
          "flowstore: could not remove the content of a failed blob put",
        ),
      );
  }

  /**
   * Removes content outside PostgreSQL that deletes and replaces made unreachable but could not remove
   * at once (they ran in a transaction, or the backend was down). Returns how many were removed.
   */
  async collectGarbage(limit = 1000): Promise<number> {
    const { rows } = await this.context.db.query<Pick<Row, "id" | "backend" | "location">>(
      `select id, backend, location from ${this.context.q}.blob_garbage order by created_at limit $1`,
      [limit],
    );
    let removed = 0;
    for (const row of rows) if (await this.collect(row)) removed++;
    return removed;
  }

  private async row(key: string): Promise<Row> {
    checkText(key, "key", MAX_KEY_LENGTH);
    const { rows } = await this.context.db.query<Row>(`select ${COLUMNS} from ${this.table} where key = $1`, [
      key,
    ]);
    const row = rows[0];
    if (!row) throw new NotFoundError(`no blob ${JSON.stringify(key)}`);
    return row;
  }

  async head(key: string): Promise<BlobInfo> {
    return toInfo(await this.row(key));
  }

  async exists(key: string): Promise<boolean> {
    checkText(key, "key", MAX_KEY_LENGTH);
    const { rows } = await this.context.db.query(`select 1 from ${this.table} where key = $1`, [key]);
    return rows.length > 0;
  }

  /** The whole blob in memory, checked against its sha256. For large blobs, use stream(). */
  async get(key: string): Promise<Buffer> {
    const pieces: Uint8Array[] = [];
    for await (const piece of await this.stream(key)) pieces.push(piece as Uint8Array);
    return Buffer.concat(pieces);
  }

  /**
   * A Readable of the blob, or of bytes `start`..`end` (inclusive). A whole-blob stream is checked
   * against the sha256 and errors if the content differs. Called in a transaction, the stream reads
   * through it: consume it before the transaction ends.
   */
  async stream(key: string, range: BlobRange = {}): Promise<Readable> {
    const start = checkOffset(range.start, "start") ?? 0;
    const requestedEnd = checkOffset(range.end, "end");
    const row = await this.row(key);
    const end = Math.min(requestedEnd ?? row.size - 1, row.size - 1);
    const found = this.backendFor(row.backend);
    if (!found) {
      throw new BlobError(
        `blob ${JSON.stringify(key)} is stored in backend "${row.backend}", which this store is not configured with`,
      );
    }
    const backend: BlobBackend = found;
    const whole = start === 0 && end === row.size - 1;
    const io = this.io();
    async function* content(): AsyncGenerator<Uint8Array> {
      if (start > end) return;
      const hash = whole ? createHash("sha256") : undefined;
      for await (const piece of backend.read(io, toContent(row), start, end)) {
        hash?.update(piece);
        yield piece;
      }
      if (hash && hash.digest("hex") !== row.sha256) {
        throw new BlobError(`blob ${JSON.stringify(key)} does not match its sha256; its content is damaged`);
      }
    }
    return Readable.from(content(), { objectMode: false });
  }

  /** True when there was a blob to delete. */
  async delete(key: string): Promise<boolean> {
    checkText(key, "key", MAX_KEY_LENGTH);
    const garbage = await this.context.db.transaction(async (db) => {
      const { rows } = await db.query<Row>(`delete from ${this.table} where key = $1 returning ${COLUMNS}`, [
        key,
      ]);
      const old = rows[0];
      return old ? { old, garbage: await this.release(db, old) } : undefined;
    });
    if (garbage?.garbage && !this.context.db.inTransaction) await this.collect(garbage.garbage);
    return garbage !== undefined;
  }

  /** Blobs whose key starts with `prefix`, in key order, one page at a time. */
  async list(prefix = "", options: PageOptions = {}): Promise<Page<BlobInfo>> {
    if (typeof prefix !== "string" || prefix.includes("\u0000")) {
      throw new ValidationError("prefix must be a string without NUL", { field: "prefix" });
    }
    const limit = pageLimit(options.limit);
    const after = cursorKey(options.cursor);
    const values: unknown[] = [likePrefix(prefix), limit + 1];
    const { rows } = await this.context.db.query<Row>(
      `select ${COLUMNS} from ${this.table}
       where key like $1 escape '\\' ${after === undefined ? "" : `and key > $${values.push(after)}`}
       order by key
       limit $2`,
      values,
    );
    return toPage(rows, limit, (row) => row.key, toInfo);
  }
}

/**
 * Retention: deletes the blobs of these executions. Content in PostgreSQL goes with them; content
 * elsewhere is recorded as garbage, removed from its backend by collectGarbage() once this commits (as
 * a replaced blob's content is). Returns how many blobs went, and how many of them wait as garbage.
 */
export async function deleteBlobsOf(
  { db, q }: SqlContext,
  executionIds: string[],
): Promise<{ deleted: number; external: number }> {
  const { rows: blobs } = await db.query<{ id: string; backend: string; location: string | null }>(
    `delete from ${q}.blobs where execution_id = any($1::uuid[]) returning id, backend, location`,
    [executionIds],
  );
  const inPostgres = blobs.filter((b) => b.backend === "postgres").map((b) => b.id);
  const elsewhere = blobs.filter((b) => b.backend !== "postgres");
  if (inPostgres.length) {
    await db.query(`delete from ${q}.blob_chunks where blob_id = any($1::uuid[])`, [inPostgres]);
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
