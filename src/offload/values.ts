/**
 * Big values out of the row. With `limits.offloadAbove`, an event payload, a step output or an
 * execution's state larger than that is put in the blob store, under its execution (so retention
 * removes it with the run), and its row holds a small reference instead:
 * `{"$flowstore:offloaded": {"key": ..., "bytes": ..., "kind": "json" | "bytes"}}`. Reads put the value
 * back before the caller sees it. A row stays small, so scans, vacuum and the buffer cache deal in
 * kilobytes where a value was megabytes, and only the reader of that value fetches it.
 *
 * The reference lives in the value's JSON column, so every statement that writes or reads the row is
 * unchanged; what is reserved for it is the key `$flowstore:offloaded` at the top of such a value, which
 * a caller's value may not hold.
 */

import { deleteBlob, putBlob, readBlob } from "../blobs/index.js";
import type { StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { JsonOrBytes } from "../core/payload.js";

/** The key at the top of a value that marks it as a reference to a blob. */
export const OFFLOADED = "$flowstore:offloaded";

/** Where an offloaded value is, as its row records it. */
export interface Reference {
  /** The blob's key. */
  key: string;
  /** The value's size: its JSON text, or its bytes. */
  bytes: number;
  /** "json": the blob holds JSON text; "bytes": the value's own bytes (read back as a Buffer). */
  kind: "json" | "bytes";
  /**
   * Top-level keys merged into a JSON object since it was offloaded (executions.mergeState), null
   * removing a key; the blob is not rewritten for them.
   */
  patch?: Record<string, unknown>;
}

/** A read met a reference whose blob had just been replaced: the caller reads the row again. */
export class ReferenceMoved extends Error {}

/**
 * What an offloaded value belongs to, which names its blob's key: an execution's events, steps or
 * state, or a Mastra run's context entries (flowstore/mastra, by the run's id).
 */
export type OffloadedKind = "events" | "steps" | "state" | "mastra";

/** The blob keys of one execution's (or Mastra run's) offloaded values of one kind. */
export function offloadPrefix(ownerId: string, what: OffloadedKind): string {
  return `flowstore:offloaded/${ownerId.toLowerCase()}/${what}/`;
}

/**
 * offloadPrefix's keys for an owner whose id is the SQL expression `id` (a uuid), as SQL text: [from,
 * to), where `to` sorts after every key under the prefix ("/" + 1 is "0"). Compare them collate "C".
 */
export function offloadRangeSql(id: string, what: OffloadedKind): [string, string] {
  return [
    `'flowstore:offloaded/' || ${id}::text || '/${what}/'`,
    `'flowstore:offloaded/' || ${id}::text || '/${what}0'`,
  ];
}

/** A value a caller gives may not look like a reference (it would read back as the blob it names). */
export function refuseReserved(value: unknown, field: string): void {
  if (typeof value === "object" && value !== null && Object.hasOwn(value, OFFLOADED)) {
    throw new ValidationError(`${field} holds the key "${OFFLOADED}", which the store keeps for itself`, {
      field,
    });
  }
}

/** The size in bytes of a checked value. */
function sizeOf(value: JsonOrBytes): number {
  return value.json !== null ? Buffer.byteLength(value.json) : (value.bytes?.byteLength ?? 0);
}

/** True when a value of this size goes to the blob store. */
export function offloads(context: StoreContext, value: JsonOrBytes): boolean {
  const above = context.limits.offloadAbove;
  return above !== undefined && sizeOf(value) > above;
}

/** The JSON text a row holds for a reference. */
export function referenceJson(reference: Reference): string {
  return JSON.stringify({ [OFFLOADED]: reference });
}

/** How the JSON text of a reference starts, and no value a caller gives can (refuseReserved). */
const REFERENCE_START = `{"${OFFLOADED}":`;

/** The blob key a value's JSON text names when it is a reference; undefined for any other text. */
export function referencedKey(json: string): string | undefined {
  return json.startsWith(REFERENCE_START) ? referenceOf(JSON.parse(json))?.key : undefined;
}

/**
 * SQL for the blob key that a text column holding a value's JSON names when it is a reference, null
 * for any other text: only a reference's few bytes are parsed, and of any other value only its first
 * bytes are fetched (substr reads a slice of a long text, where starts_with would read it whole).
 */
export function referencedKeySql(column: string): string {
  return `case when substr(${column}, 1, ${REFERENCE_START.length}) = '${REFERENCE_START}'
    then ${column}::jsonb #>> '{${OFFLOADED},key}' end`;
}

/**
 * Puts a checked value in the blob store under `prefix` and returns the reference its row holds
 * instead. In a transaction the blob is part of it (a rollback takes it back); outside one it is
 * committed at once, and a row that then fails to be written leaves it to its run's retention.
 */
export async function putValue(
  context: StoreContext,
  executionId: string | undefined,
  value: JsonOrBytes,
  prefix: string,
): Promise<Reference> {
  const key = `${prefix}${uuidv7()}`;
  const kind = value.json !== null ? "json" : "bytes";
  const content = value.json !== null ? Buffer.from(value.json) : (value.bytes ?? new Uint8Array());
  await putBlob(context, key, content, {
    executionId,
    contentType: kind === "json" ? "application/json" : "application/octet-stream",
  });
  return { key, bytes: content.byteLength, kind };
}

/**
 * A checked value as its row takes it: itself, or over `offloadAbove` a reference to the blob it was
 * put in (`key` then names the blob, for a caller that must remove it when its row is not written).
 */
export async function offload(
  context: StoreContext,
  executionId: string,
  value: JsonOrBytes,
  what: OffloadedKind,
): Promise<{ value: JsonOrBytes; key?: string }> {
  if (!offloads(context, value)) return { value };
  const reference = await putValue(context, executionId, value, offloadPrefix(executionId, what));
  return { value: { json: referenceJson(reference), bytes: null }, key: reference.key };
}

/** Removes blobs put for rows that were not written (another writer's step won); failures only warn. */
export async function discard(context: StoreContext, keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    try {
      await deleteBlob(context, key);
    } catch (error) {
      context.logger.warn(
        { key, error: String(error) },
        "flowstore: could not remove an offloaded value no row took; retention removes it with its run",
      );
    }
  }
}

/**
 * Runs the write that blobs `keys` were put for, and removes them when it fails or when `missed` says
 * it wrote nothing for them (no row matched, another writer's row won).
 */
export async function keepIfWritten<T>(
  context: StoreContext,
  keys: readonly string[],
  write: () => Promise<T>,
  missed: (result: T) => boolean,
): Promise<T> {
  let result: T;
  try {
    result = await write();
  } catch (error) {
    await discard(context, keys);
    throw error;
  }
  if (keys.length > 0 && missed(result)) await discard(context, keys);
  return result;
}

/** The reference a stored value is, if it is one. */
export function referenceOf(value: unknown): Reference | undefined {
  if (typeof value !== "object" || value === null || !Object.hasOwn(value, OFFLOADED)) return undefined;
  return (value as Record<string, Reference>)[OFFLOADED];
}

/** A JSON object with top-level keys merged in (null removes a key). */
export function mergeTopLevel(base: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> =
    typeof base === "object" && base !== null && !Array.isArray(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** A blob a row names, read whole; a ReferenceMoved when it was replaced since the row was read. */
export async function readReferenced(context: StoreContext, key: string): Promise<Buffer> {
  try {
    return await readBlob(context, key);
  } catch (error) {
    if (error instanceof NotFoundError) throw new ReferenceMoved(key, { cause: error });
    throw error;
  }
}

/** A stored value as the caller gave it: a reference is read from its blob. */
export async function resolve(context: StoreContext, value: unknown): Promise<unknown> {
  const reference = referenceOf(value);
  if (!reference) return value;
  // Only an execution's state is ever replaced (events and steps are written once).
  const content = await readReferenced(context, reference.key);
  if (reference.kind === "bytes") return content;
  const parsed: unknown = JSON.parse(content.toString("utf8"));
  return reference.patch ? mergeTopLevel(parsed, reference.patch) : parsed;
}

/**
 * Resolves one field of each item in place (`get` reads it, `set` writes the value back). Items are
 * read at most eight at a time; in a transaction, one at a time (its statements go one by one anyway).
 */
export async function resolveEach<T>(
  context: StoreContext,
  items: readonly T[],
  get: (item: T) => unknown,
  set: (item: T, value: unknown) => void,
): Promise<void> {
  const offloaded = items.filter((item) => referenceOf(get(item)) !== undefined);
  const width = context.db.inTransaction ? 1 : 8;
  for (let i = 0; i < offloaded.length; i += width) {
    await Promise.all(
      offloaded.slice(i, i + width).map(async (item) => set(item, await resolve(context, get(item)))),
    );
  }
}

/** Runs a read again (up to three times in all) when a state it read was replaced under it. */
export async function rereadMoved<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof ReferenceMoved) || attempt >= 3) throw error;
    }
  }
}
