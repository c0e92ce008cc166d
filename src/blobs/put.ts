/**
 * The write path of Blobs.put(): checks the input, has the content stored (outside the caller's
 * transaction, or through it: see ContentWrite in pending.ts), reuses content an earlier attempt of
 * a retried transaction stored, and switches the key to the new content together with the metadata
 * row. The old content is released as the key moves off it.
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { StoreContext } from "../core/context.js";
import { BlobError, StoreError, ValidationError } from "../core/errors.js";
import { isUuid, uuidv7 } from "../core/ids.js";
import { checkText } from "../core/payload.js";
import type { Queryable } from "../db/driver.js";
import { collect, release } from "./garbage.js";
import {
  adoptOwned,
  claimPending,
  contentRecord,
  contentWrite,
  discard,
  type StoredContent,
  writeContent,
} from "./pending.js";
import { blobIO, blobTable, COLUMNS, configuredBackend, MAX_KEY_LENGTH, type Row, toInfo } from "./rows.js";
import { isBlobData, measured, Spool, spools } from "./source.js";
import type { BlobData, BlobInfo, BlobPutOptions } from "./types.js";

/** The content each source's put has stored (see StoredContent), for a retry of its transaction. */
const storedContent = new WeakMap<object, StoredContent>();

/** Blobs.put(): stores `data` under `key`, replacing any blob there. */
export async function put(
  context: StoreContext,
  key: string,
  data: BlobData,
  options: BlobPutOptions,
): Promise<BlobInfo> {
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
  const backend = configuredBackend(context);
  const { db } = context;
  const how = await contentWrite(context, backend);
  const replayable = data instanceof Uint8Array ? undefined : (data as object);
  const metadata = (tx: Queryable, content: StoredContent) =>
    switchKey(context, tx, executionId, {
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
    // A source already stored by an earlier attempt of this transaction is not read again.
    const earlier = replayable && storedContent.get(replayable);
    const request = { key, data, contentType, signal: options.signal };
    const content =
      earlier ?? (how === "through" ? undefined : await writeContent(context, backend, how, request));
    if (content) {
      if (replayable) storedContent.set(replayable, content);
      try {
        result = await db.transaction(async (tx) => {
          if (content.pending) await claimPending(context, tx, content.id);
          else if (earlier?.owned) await adoptOwned(context, tx, content.id);
          return metadata(tx, content);
        });
      } catch (error) {
        // Outside a transaction nothing will retry with this content: it goes now. Inside one, a
        // retry may still use it; if none does, collectGarbage() removes it after the grace period.
        if (!db.inTransaction && replayable) storedContent.delete(replayable);
        if (!db.inTransaction && content.pending) await discard(context, content);
        throw error;
      }
    } else {
      // Through the caller's transaction (it holds the only connection, or reads from a snapshot that
      // would not see chunks written elsewhere): the chunks roll back with it, and the source is
      // spooled so that a retry of the transaction can read it again.
      const spool = replayable && spools.get(replayable);
      const source: BlobData = spool ? createReadStream(spool) : data;
      const copy = replayable && !spool ? await Spool.create() : undefined;
      try {
        result = await db.transaction(async (tx) => {
          const tally = { size: 0, hash: createHash("sha256") };
          const id = uuidv7();
          const pieces = measured(source, tally, copy);
          const stored = await backend.write(blobIO(context, tx), {
            id,
            key,
            contentType,
            source: pieces,
            signal: options.signal,
          });
          await copy?.finish();
          return metadata(tx, contentRecord(id, backend, stored, tally, false));
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
  if (result.garbage && !context.db.inTransaction) await collect(context, result.garbage);
  return toInfo(result.row);
}

/**
 * Points `key` at the new content, in the caller's transaction. The old version's chunks are
 * deleted in it; old content elsewhere is recorded in blob_garbage and returned.
 */
async function switchKey(
  context: StoreContext,
  db: Queryable,
  executionId: string | null,
  row: Omit<Row, "created_at">,
) {
  const table = blobTable(context);
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
      `select ${COLUMNS} from ${table} where key = $1 for update`,
      [row.key],
    );
    const old = current[0];
    const { rows } = old
      ? await db.query<Row>(
          `update ${table}
           set id = $2, backend = $3, location = $4, size = $5, sha256 = $6, content_type = $7,
               chunk_size = $8, execution_id = $9, created_at = now()
           where key = $1
           returning ${COLUMNS}`,
          values,
        )
      : await db.query<Row>(
          `insert into ${table} (key, id, backend, location, size, sha256, content_type, chunk_size,
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
    return { row: written, garbage: old && (await release(context, db, old)) };
  }
}
