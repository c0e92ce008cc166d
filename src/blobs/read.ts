/**
 * The read path of Blobs: a blob's row by key, its content as a stream (checked against its sha256
 * when read whole), and listing by key prefix. Reads only the metadata row and the backend that holds
 * the content; nothing here writes.
 */

import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { BlobBackend } from "../core/blob-backend.js";
import type { StoreContext } from "../core/context.js";
import { BlobError, NotFoundError, ValidationError } from "../core/errors.js";
import { cursorKey, type Page, type PageOptions, pageLimit, toPage } from "../core/key-cursor.js";
import { checkText } from "../core/payload.js";
import {
  backendFor,
  blobIO,
  blobTable,
  COLUMNS,
  MAX_KEY_LENGTH,
  type Row,
  toContent,
  toInfo,
} from "./rows.js";
import type { BlobInfo, BlobRange } from "./types.js";

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

async function row(context: StoreContext, key: string): Promise<Row> {
  checkText(key, "key", MAX_KEY_LENGTH);
  const { rows } = await context.db.query<Row>(
    `select ${COLUMNS} from ${blobTable(context)} where key = $1`,
    [key],
  );
  const found = rows[0];
  if (!found) throw new NotFoundError(`no blob ${JSON.stringify(key)}`);
  return found;
}

/** Blobs.head(). */
export async function head(context: StoreContext, key: string): Promise<BlobInfo> {
  return toInfo(await row(context, key));
}

/** Blobs.exists(). */
export async function exists(context: StoreContext, key: string): Promise<boolean> {
  checkText(key, "key", MAX_KEY_LENGTH);
  const { rows } = await context.db.query(`select 1 from ${blobTable(context)} where key = $1`, [key]);
  return rows.length > 0;
}

/** Blobs.stream(): a Readable of the blob or of a byte range of it. */
export async function stream(context: StoreContext, key: string, range: BlobRange): Promise<Readable> {
  const start = checkOffset(range.start, "start") ?? 0;
  const requestedEnd = checkOffset(range.end, "end");
  const blob = await row(context, key);
  const end = Math.min(requestedEnd ?? blob.size - 1, blob.size - 1);
  const found = backendFor(context, blob.backend);
  if (!found) {
    throw new BlobError(
      `blob ${JSON.stringify(key)} is stored in backend "${blob.backend}", which this store is not configured with`,
    );
  }
  const backend: BlobBackend = found;
  const whole = start === 0 && end === blob.size - 1;
  const io = blobIO(context);
  async function* content(): AsyncGenerator<Uint8Array> {
    if (start > end) return;
    const hash = whole ? createHash("sha256") : undefined;
    for await (const piece of backend.read(io, toContent(blob), start, end)) {
      hash?.update(piece);
      yield piece;
    }
    if (hash && hash.digest("hex") !== blob.sha256) {
      throw new BlobError(`blob ${JSON.stringify(key)} does not match its sha256; its content is damaged`);
    }
  }
  return Readable.from(content(), { objectMode: false });
}

/** Blobs.list(): blobs whose key starts with `prefix`, in key order, one page at a time. */
export async function list(
  context: StoreContext,
  prefix: string,
  options: PageOptions,
): Promise<Page<BlobInfo>> {
  if (typeof prefix !== "string" || prefix.includes("\u0000")) {
    throw new ValidationError("prefix must be a string without NUL", { field: "prefix" });
  }
  const limit = pageLimit(options.limit);
  const after = cursorKey(options.cursor);
  const values: unknown[] = [likePrefix(prefix), limit + 1];
  const { rows } = await context.db.query<Row>(
    `select ${COLUMNS} from ${blobTable(context)}
     where key like $1 escape '\\' ${after === undefined ? "" : `and key > $${values.push(after)}`}
     order by key
     limit $2`,
    values,
  );
  return toPage(rows, limit, (row) => row.key, toInfo);
}

/**
 * The whole blob in memory, checked against its sha256 (Blobs.get()). Content in PostgreSQL comes with
 * its row in one statement (a small blob, an offloaded value, is one round trip instead of two); other
 * backends' is streamed.
 */
export async function readWhole(context: StoreContext, key: string): Promise<Buffer> {
  checkText(key, "key", MAX_KEY_LENGTH);
  const { rows } = await context.db.query<{
    size: number;
    sha256: string;
    backend: string;
    data: Uint8Array | null;
  }>(
    `select b.size::float8 as size, b.sha256, b.backend, c.data
       from ${blobTable(context)} b
       left join ${context.q}.blob_chunks c on b.backend = 'postgres' and c.blob_id = b.id
      where b.key = $1
      order by c.seq`,
    [key],
  );
  const first = rows[0];
  if (!first) throw new NotFoundError(`no blob ${JSON.stringify(key)}`);
  if (first.backend !== "postgres" || backendFor(context, first.backend)?.kind !== "postgres") {
    const pieces: Uint8Array[] = [];
    for await (const piece of await stream(context, key, {})) pieces.push(piece as Uint8Array);
    return Buffer.concat(pieces);
  }
  const content = Buffer.concat(rows.flatMap((r) => (r.data ? [r.data] : [])));
  if (content.length !== first.size || createHash("sha256").update(content).digest("hex") !== first.sha256) {
    throw new BlobError(`blob ${JSON.stringify(key)} does not match its sha256; its content is damaged`);
  }
  return content;
}
