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
import { createReadStream } from "node:fs";
import { type FileHandle, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import type { BlobBackend, BlobContent, BlobIO } from "../blobs/backend.js";
import { DEFAULT_ORPHAN_GRACE_MS, postgresBlobs } from "../blobs/postgres.js";
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
  copy?: Spool,
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
    await copy?.write(bytes);
    yield bytes;
  }
}

/** Content a put has stored, kept by source so a retried transaction does not read the source again. */
interface StoredContent {
  id: string;
  backend: string;
  location: string | null;
  chunkSize: number | null;
  size: number;
  sha256: string;
  /** Recorded in blob_pending (committed), to be claimed by the metadata transaction. */
  pending: boolean;
}
const storedContent = new WeakMap<object, StoredContent>();

/** Temporary copies of sources whose content went through a transaction, for its retries. */
const spools = new WeakMap<object, string>();
const spoolFiles = new FinalizationRegistry<string>((file) => {
  rm(file, { force: true }).catch(() => {});
});

class Spool {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(): Promise<Spool> {
    const file = path.join(tmpdir(), `flowstore-blob-${uuidv7()}`);
    return new Spool(file, await open(file, "w", 0o600));
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.handle.write(bytes);
  }

  async finish(): Promise<void> {
    await this.handle.close().catch(() => {});
  }

  async remove(): Promise<void> {
    await this.finish();
    await rm(this.file, { force: true }).catch(() => {});
  }

  /** Kept while the source object lives (a retry passes the same one), then deleted. */
  keepFor(source: object): void {
    spools.set(source, this.file);
    spoolFiles.register(source, this.file);
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
    const backend = this.backend;
    const { driver, db } = this.context;
    const outside =
      !db.inTransaction || (driver.capabilities.multipleConnections && driver.maxConnections > 1);
    const replayable = data instanceof Uint8Array ? undefined : (data as object);
    const metadata = (tx: Queryable, content: StoredContent) =>
      this.switchKey(tx, executionId, {
        key,
        id: content.id,
        backend: content.backend,
        location: content.location,
        size: content.size,
        sha256: content.sha256,
        content_type: contentType ?? null,
        chunk_size: content.chunkSize,
      });
    let result: { row: Row; garbage: Row | undefined };
    try {
      const earlier = replayable && storedContent.get(replayable);
      if (earlier || outside || !backend.transactional) {
        // A source already stored by an earlier attempt of this transaction is not read again.
        const content = earlier ?? (await this.writeContent(backend, key, data, contentType, options.signal));
        if (replayable) storedContent.set(replayable, content);
        try {
          result = await db.transaction(async (tx) => {
            if (content.pending) await this.claimPending(tx, content.id);
            return metadata(tx, content);
          });
        } catch (error) {
          // Outside a transaction nothing will retry with this content: it goes now. Inside one, a
          // retry may still use it; if none does, collectGarbage() removes it after the grace period.
          if (!db.inTransaction && replayable) storedContent.delete(replayable);
          if (!db.inTransaction && content.pending) await this.discard(content);
          throw error;
        }
      } else {
        // One connection, held by the caller's transaction: the chunks go through it (and roll back
        // with it), and the source is spooled so that a retry of the transaction can read it again.
        const spool = replayable && spools.get(replayable);
        const source: BlobData = spool ? createReadStream(spool) : data;
        const copy = replayable && !spool ? await Spool.create() : undefined;
        try {
          result = await db.transaction(async (tx) => {
            const tally = { size: 0, hash: createHash("sha256") };
            const id = uuidv7();
            const pieces = measured(source, tally, copy);
            const stored = await backend.write(this.io(tx), {
              id,
              key,
              contentType,
              source: pieces,
              signal: options.signal,
            });
            await copy?.finish();
            return metadata(tx, {
              id,
              backend: backend.kind,
              location: stored.location,
              chunkSize: stored.chunkSize,
              size: tally.size,
              sha256: tally.hash.digest("hex"),
              pending: false,
            });
          });
        } catch (error) {
          await copy?.remove();
          throw error;
        }
        if (replayable && copy) copy.keepFor(replayable);
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
   * Writes the content under a new id, outside the caller's transaction: recorded as pending first (or,
   * when the only connection is in the caller's transaction, as soon as that ends), so content that is
   * never pointed to can be found and removed whatever happens to the put.
   */
  private async writeContent(
    backend: BlobBackend,
    key: string,
    data: BlobData,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<StoredContent> {
    const { driver, db, q } = this.context;
    const id = uuidv7();
    const pending =
      !db.inTransaction || (driver.capabilities.multipleConnections && driver.maxConnections > 1);
    const record = `insert into ${q}.blob_pending (id, backend, location) values ($1, $2, $3) on conflict (id) do nothing`;
    if (pending) await driver.query(record, [id, backend.kind, null]);
    const tally = { size: 0, hash: createHash("sha256") };
    let stored: { location: string | null; chunkSize: number | null };
    try {
      stored = await backend.write(
        { db: driver, q, logger: this.context.logger },
        { id, key, contentType, source: measured(data, tally), signal },
      );
    } catch (error) {
      if (backend.transactional) await this.discard({ id, backend: backend.kind, location: null, pending });
      else if (pending)
        await driver.query(`delete from ${q}.blob_pending where id = $1`, [id]).catch(() => {});
      throw error;
    }
    if (stored.location !== null && pending) {
      await driver.query(`update ${q}.blob_pending set location = $2 where id = $1`, [id, stored.location]);
    } else if (!pending) {
      // The only connection is in the caller's transaction: this runs as soon as that ends.
      void driver
        .query(record, [id, backend.kind, stored.location])
        .catch((error: unknown) =>
          this.context.logger.warn(
            { id, error: String(error) },
            "flowstore: could not record pending blob content; it may stay in the backend unreferenced",
          ),
        );
    }
    return {
      id,
      backend: backend.kind,
      location: stored.location,
      chunkSize: stored.chunkSize,
      size: tally.size,
      sha256: tally.hash.digest("hex"),
      pending,
    };
  }

  /** Takes the content out of blob_pending in the metadata transaction; fails if it was collected. */
  private async claimPending(db: Queryable, id: string): Promise<void> {
    const { rows } = await db.query(`delete from ${this.context.q}.blob_pending where id = $1 returning id`, [
      id,
    ]);
    if (rows.length === 0) {
      throw new BlobError(
        "the content of this put is gone: it stayed pending past the grace period and was collected, or the same stream was already put under another key",
      );
    }
  }

  /** Removes content no row points to, and its pending record; failures are left to collectGarbage(). */
  private async discard(content: Pick<StoredContent, "id" | "backend" | "location" | "pending">) {
    const backend = this.backendFor(content.backend);
    try {
      await backend?.remove(
        { db: this.context.driver, q: this.context.q, logger: this.context.logger },
        content,
      );
      if (content.pending) {
        await this.context.driver.query(`delete from ${this.context.q}.blob_pending where id = $1`, [
          content.id,
        ]);
      }
    } catch (error) {
      this.context.logger.warn(
        { id: content.id, error: String(error) },
        "flowstore: could not remove the content of a failed blob put; collectGarbage() will",
      );
    }
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

  /**
   * Removes content no blob points to: content outside PostgreSQL that deletes and replaces made
   * unreachable but could not remove at once (they ran in a transaction, or the backend was down), and
   * content of puts that rolled back or never finished, once it has been pending longer than the grace
   * period (the backend's `orphanGraceMs`, default 1 day, or `graceMs`). Returns how many were removed.
   */
  async collectGarbage(options: number | { limit?: number; graceMs?: number } = {}): Promise<number> {
    const { limit = 1000, graceMs = this.backend.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS } =
      typeof options === "number" ? { limit: options } : options;
    const q = this.context.q;
    // Pending content past the grace period: what a row points to was committed (its record only
    // outlived it); the rest is garbage. A put whose metadata transaction is still open holds its
    // record's lock, and is skipped.
    await this.context.db.query(
      `with expired as (
         delete from ${q}.blob_pending
         where id in (select id from ${q}.blob_pending
                      where created_at < now() - $1 * interval '1 millisecond'
                      order by created_at limit $2 for update skip locked)
         returning id, backend, location
       )
       insert into ${q}.blob_garbage (id, backend, location)
       select e.id, e.backend, coalesce(e.location, e.id::text) from expired e
       where not exists (select 1 from ${q}.blobs b where b.id = e.id)
       on conflict (id) do nothing`,
      [graceMs, limit],
    );
    const { rows } = await this.context.db.query<Pick<Row, "id" | "backend" | "location">>(
      `select id, backend, location from ${q}.blob_garbage order by created_at limit $1`,
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
