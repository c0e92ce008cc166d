/**
 * Big session items out of the row, as flowstore's other big values go (offload/): with the store's
 * `limits.offloadAbove`, an item whose JSON text is larger is put in the blob store and its row holds
 * flowstore's reference, `{"$flowstore:offloaded": {"key", "bytes", "kind": "json"}}`. The blob holds
 * the item's JSON text as the row would have, so it reads back exactly as given, key order and NUL
 * characters and all. A session of long tool outputs then costs rows of a hundred bytes to scan and
 * vacuum; only a reader of such an item fetches it. A row is a reference by how its text starts, which
 * no item's can (encodeItems refuses an item holding that key), whatever the reading store's limits.
 *
 * A blob and the row naming it are written in one transaction, and a row and its blob are removed in
 * one statement (removedBlobsSql): a reader never meets a reference whose blob is not committed, and no
 * blob outlives its row. A reader that read a row just before a writer removed it with its blob reads
 * again, rows and blobs in one snapshot.
 */

import { namedBlobsDeletedSql } from "../../blobs/index.js";
import { uuidv7 } from "../../core/ids.js";
import { NotFoundError, type Store, type StoreScope } from "../../index.js";
import { ReferenceMoved, referencedKey, referencedKeySql, referenceJson } from "../../offload/index.js";

type Scope = Pick<StoreScope, "query" | "blobs">;

/** Where offloaded items' blobs are kept: one key per item, named by no session (a row names it). */
const PREFIX = "flowstore:offloaded/agent-sessions/";

/** A row of agent_session_items as read: the item's JSON text, or a reference to it. */
export interface StoredItem {
  item: string;
}

/** True when one of the texts is over `above` (undefined: the store offloads nothing). */
export function overLimit(texts: readonly string[], above: number | undefined): boolean {
  return above !== undefined && texts.some((text) => Buffer.byteLength(text) > above);
}

/**
 * Puts each text over `above` in the blob store, in `tx` (a rollback takes the blob back), and returns
 * the rows' texts: a reference in place of each of those.
 */
export async function offloadTexts(
  tx: Scope,
  texts: readonly string[],
  above: number | undefined,
): Promise<string[]> {
  const rows: string[] = [];
  for (const text of texts) {
    const bytes = Buffer.byteLength(text);
    if (above === undefined || bytes <= above) {
      rows.push(text);
      continue;
    }
    const key = `${PREFIX}${uuidv7()}`;
    await tx.blobs.put(key, Buffer.from(text), { contentType: "application/json" });
    rows.push(referenceJson({ key, bytes, kind: "json" }));
  }
  return rows;
}

/**
 * The items' texts as given: an offloaded row's read from its blob, `width` at a time (one in a
 * transaction, whose statements go one by one anyway). A blob removed since its row was read is a
 * ReferenceMoved.
 */
export async function itemTexts(
  blobs: Scope["blobs"],
  rows: readonly StoredItem[],
  width = 1,
): Promise<string[]> {
  const texts = rows.map((row) => row.item);
  const offloaded = rows.flatMap((row, index) => {
    const key = referencedKey(row.item);
    return key === undefined ? [] : [{ index, key }];
  });
  for (let i = 0; i < offloaded.length; i += width) {
    await Promise.all(
      offloaded.slice(i, i + width).map(async ({ index, key }) => {
        try {
          texts[index] = (await blobs.get(key)).toString("utf8");
        } catch (error) {
          if (error instanceof NotFoundError) throw new ReferenceMoved(key, { cause: error });
          throw error;
        }
      }),
    );
  }
  return texts;
}

/**
 * The texts of the rows `read` reads. Should a blob have gone between its row's read and its own (the
 * item popped or cleared meanwhile), the read is made again in a repeatable-read transaction, where
 * rows and blobs are read in one snapshot and always agree.
 */
export async function readItemTexts(
  store: Store,
  read: (db: Pick<StoreScope, "query">) => Promise<StoredItem[]>,
): Promise<string[]> {
  try {
    return await itemTexts(store.blobs, await read(store), 8);
  } catch (error) {
    if (!(error instanceof ReferenceMoved)) throw error;
    return store.transaction(async (tx) => itemTexts(tx.blobs, await read(tx)), {
      isolation: "repeatable read",
      readOnly: true,
    });
  }
}

/**
 * Common table expressions that delete the items `where` selects (a condition on agent_session_items),
 * as `name`, and the blobs of those that are references, in the statement they are part of.
 */
export function removedItemsSql(q: string, name: string, where: string): string {
  return `${name} as (delete from ${q}.agent_session_items where ${where}
       returning ${referencedKeySql("item")} as blob_key),
     ${namedBlobsDeletedSql(q, name)}`;
}

/** The delete of a session's items at positions ($1 the session, $2 the positions), with their blobs. */
export function deleteItemsSql(q: string): string {
  return `with ${removedItemsSql(q, "gone", "session_id = $1 and position = any($2::bigint[])")}
     select count(*) from gone`;
}

/** An item of a session's history as a rewrite sees it: its JSON text, and the blob its row names. */
export interface HistoryEntry {
  position: string;
  item: string;
  blobKey: string | null;
}

/**
 * A session's whole history, in `tx`, offloaded items read from their blobs. Only the rows of those are
 * locked (a pop waits rather than take one, and its blob, while it is read): locking every row would
 * write to each of a long session's rows for a rewrite that changes one or two. An offloaded row popped
 * before it could be locked is left out, as gone.
 */
export async function readHistory(tx: Scope, q: string, sessionId: string): Promise<HistoryEntry[]> {
  const items = `${q}.agent_session_items`;
  const { rows } = await tx.query<{ position: string; item: string }>(
    `select position, item from ${items} where session_id = $1 order by position`,
    [sessionId],
  );
  const offloaded = rows.filter((row) => referencedKey(row.item) !== undefined);
  const held = new Map<string, string>();
  if (offloaded.length > 0) {
    const { rows: locked } = await tx.query<{ position: string; item: string }>(
      `select position, item from ${items} where session_id = $1 and position = any($2::bigint[])
        order by position for update`,
      [sessionId, offloaded.map((row) => row.position)],
    );
    const texts = await itemTexts(tx.blobs, locked);
    locked.forEach((row, index) => {
      held.set(row.position, texts[index] as string);
    });
  }
  return rows.flatMap((row): HistoryEntry[] => {
    const blobKey = referencedKey(row.item) ?? null;
    if (blobKey === null) return [{ position: row.position, item: row.item, blobKey }];
    const item = held.get(row.position);
    return item === undefined ? [] : [{ position: row.position, item, blobKey }];
  });
}

/**
 * The statement of a rewrite ($1 the session): deletes the items at positions $2, replaces the items at
 * positions $3 with the texts $4 (an item, or a reference to the blob $6 of the same index), and deletes
 * the blobs $5 (of the items removed or replaced) and those of $6 whose row was popped meanwhile, so a
 * blob put for a row that is gone does not outlive it.
 */
export function rewriteSql(q: string): string {
  const items = `${q}.agent_session_items`;
  return `with gone as (delete from ${items} where session_id = $1 and position = any($2::bigint[])),
       replaced as (
         update ${items} set item = changed.item
           from unnest($3::bigint[], $4::text[]) as changed(position, item)
          where session_id = $1 and ${items}.position = changed.position
         returning ${items}.position),
       released as (
         select unnest($5::text[]) as blob_key
         union all
         select put.blob_key from unnest($3::bigint[], $6::text[]) as put(position, blob_key)
          where put.blob_key is not null and put.position not in (select position from replaced)),
       ${namedBlobsDeletedSql(q, "released")}
     select count(*) from released`;
}
