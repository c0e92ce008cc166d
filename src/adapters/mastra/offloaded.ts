/**
 * Big context entries out of the row, as flowstore's own big values go (offload/): with the store's
 * `limits.offloadAbove`, an entry whose JSON is larger is put in the blob store under its run's id (the
 * run's deletes and Mastra's retention remove it with the run; it names no execution, so the store's
 * own retention never does), and its row holds flowstore's reference,
 * `{"$flowstore:offloaded": {"key", "bytes", "kind": "json"}}`, with the few paths the list's thread
 * filter reads. A step whose input or output is
 * megabytes then costs a row of a hundred bytes to scan, vacuum and list; only a reader of that run
 * fetches the value.
 *
 * A blob and the row naming it are written in one transaction, after the run's row lock, and the run's
 * blobs no row names any more (an entry replaced or gone) are removed in a transaction that holds that
 * lock too. So a reader never meets a reference whose blob is not committed, and no removal takes a
 * blob a row is about to name. A blob's key is its content's hash under the run: an entry persisted
 * again unchanged names the blob it named, and nothing is put again. A reader that read a reference
 * just before a writer removed its blob reads the run again.
 *
 * The run's state (the snapshot without its context) stays in its row, within `limits.jsonBytes`:
 * updateWorkflowState merges keys into it in the statement.
 */

import { createHash } from "node:crypto";
import { releasedContentSql } from "../../blobs/index.js";
import { NotFoundError } from "../../core/errors.js";
import type { StoreScope } from "../../index.js";
import { OFFLOADED, ReferenceMoved, referenceOf } from "../../offload/index.js";
import { mastraBlobPrefix } from "../../retention/index.js";
import { partsOf } from "./workflow-sql.js";

type Scope = Pick<StoreScope, "query" | "blobs">;

/** The indexes of the entries (JSON text) over the limit; none when the store offloads nothing. */
export function overLimit(parts: readonly string[], above: number | undefined): number[] {
  if (above === undefined) return [];
  return parts.flatMap((json, i) => (Buffer.byteLength(json) > above ? [i] : []));
}

/**
 * Puts the entries `over` (indexes into `parts`) in the blob store, in `tx` under the run's row lock,
 * and returns `parts` with their references in their place. An entry whose blob a row of the run names
 * already (the same content) is not put again.
 */
export async function offloadParts(
  tx: Scope,
  q: string,
  runId: string,
  parts: readonly string[],
  over: readonly number[],
): Promise<string[]> {
  const { rows } = await tx.query<{ key: string }>(
    `select state #>> '{${OFFLOADED},key}' as key from ${partsOf(q)}
      where run_id = $1 and state ? '${OFFLOADED}'`,
    [runId],
  );
  const named = new Set(rows.map((row) => row.key));
  const sent = [...parts];
  for (const i of over) {
    const json = parts[i] as string;
    const key = mastraBlobPrefix(runId) + createHash("sha256").update(json).digest("hex");
    const bytes = Buffer.byteLength(json);
    if (!named.has(key)) {
      await tx.blobs.put(key, Buffer.from(json), { contentType: "application/json" });
      named.add(key);
    }
    sent[i] = JSON.stringify({ ...filteredPaths(json), [OFFLOADED]: { key, bytes, kind: "json" } });
  }
  return sent;
}

/**
 * What the list's thread filter reads of an entry (run-lists.ts, listWhere), kept in its row beside
 * the reference so that filter stays exact: its status and, where Mastra keeps it, the thread.
 */
function filteredPaths(json: string): Record<string, unknown> {
  const entry = JSON.parse(json) as Record<string, unknown> | null;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return {};
  const threadAt = (...path: string[]) =>
    path.reduce<unknown>((at, name) => (at as Record<string, unknown> | undefined)?.[name], entry);
  const streamThread = threadAt("suspendPayload", "__streamState", "messageList", "memoryInfo", "threadId");
  const inputThread = threadAt("messageListState", "memoryInfo", "threadId");
  return {
    ...(entry.status !== undefined ? { status: entry.status } : {}),
    ...(streamThread !== undefined
      ? { suspendPayload: { __streamState: { messageList: { memoryInfo: { threadId: streamThread } } } } }
      : {}),
    ...(inputThread !== undefined ? { messageListState: { memoryInfo: { threadId: inputThread } } } : {}),
  };
}

/**
 * Removes the run's offloaded blobs that none of its rows names, in one statement; in a transaction
 * holding the run's row lock (see the top of this file). Content outside PostgreSQL is recorded as
 * garbage, which the store's collectGarbage() removes.
 */
export async function releaseUnnamed(tx: Scope, q: string, runId: string): Promise<void> {
  const prefix = mastraBlobPrefix(runId);
  const end = `${prefix.slice(0, -1)}0`; // "/" + 1: every key under the prefix sorts before it
  await tx.query(
    `with gone as (
       delete from ${q}.blobs b where b.key >= $2 and b.key < $3
          and not exists (select 1 from ${partsOf(q)} c
                           where c.run_id = $1 and c.state #>> '{${OFFLOADED},key}' = b.key)
       returning id, backend, location),
     ${releasedContentSql(q, "gone")}
     select count(*) from gone`,
    [runId, prefix, end],
  );
}

/**
 * What `read` reads (on the store, or `first` where reads go), the offloaded values of its `entries`
 * put back.
 * Should a blob have gone between its row's read and its own (a writer replaced the entry meanwhile),
 * the read is made again in a repeatable-read transaction: rows and blobs are then read in one
 * snapshot and always agree, however busy the writers of the run.
 */
export async function readEntries<T>(
  db: Pick<StoreScope, "query" | "transaction" | "blobs">,
  read: (on: Pick<StoreScope, "query">) => Promise<T>,
  entries: (read: T) => { value?: unknown }[],
  first: Pick<StoreScope, "query"> = db,
): Promise<T> {
  try {
    const rows = await read(first);
    await resolveEntries(db.blobs, entries(rows));
    return rows;
  } catch (error) {
    if (!(error instanceof ReferenceMoved)) throw error;
    return db.transaction(
      async (tx) => {
        const rows = await read(tx);
        await resolveEntries(tx.blobs, entries(rows));
        return rows;
      },
      { isolation: "repeatable read", readOnly: true },
    );
  }
}

/**
 * Puts back, in place, the values of rows that are references (`value` of each), reading their blobs
 * eight at a time. A blob removed since its row was read is a ReferenceMoved.
 */
export async function resolveEntries(
  blobs: Pick<StoreScope, "blobs">["blobs"],
  rows: { value?: unknown }[],
): Promise<void> {
  const offloaded = rows.filter((row) => referenceOf(row.value) !== undefined);
  for (let i = 0; i < offloaded.length; i += 8) {
    await Promise.all(
      offloaded.slice(i, i + 8).map(async (row) => {
        const key = referenceOf(row.value)?.key as string;
        try {
          row.value = JSON.parse((await blobs.get(key)).toString("utf8"));
        } catch (error) {
          if (error instanceof NotFoundError) throw new ReferenceMoved(key, { cause: error });
          throw error;
        }
      }),
    );
  }
}
