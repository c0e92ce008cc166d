/**
 * From the rows of tuplesSql to LangGraph's CheckpointTuple, and from a put's arguments to the values
 * it stores: serialization happens here, before any statement, so no connection waits on it; large
 * values are spread over turns of the event loop (turns.ts).
 */

import {
  type Checkpoint,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  compareWritesSortKeys,
  type SerializerProtocol,
  WRITES_IDX_MAP,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import { jsonbRefuses } from "../../core/payload.js";
import { requiredText } from "./names.js";
import { inTurn } from "./turns.js";

/** A checkpoint as stored: everything but its channel values. */
export type StoredCheckpoint = Omit<Checkpoint, "channel_values"> & Record<string, unknown>;

/** One row of tuplesSql: kind 0 a checkpoint, 1 one of its channel values, 2 one of its writes. */
export interface TupleRow {
  /** Which request of the statement the checkpoint answers (1, 2...; 0 for a list). */
  n: number;
  kind: number;
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  /** The parent's id (kind 0), the channel (1) or the task id (2). */
  name: string | null;
  /** The write's channel (2). */
  channel: string | null;
  /** The serializer's type of the metadata (0, null for JSON), the value (1) or the write (2). */
  type: string | null;
  checkpoint: StoredCheckpoint | null;
  metadata: string | null;
  /** The metadata's own bytes (0, when its JSON is not them), the value (1) or the write (2). */
  data: Uint8Array | null;
  idx: number | null;
  task_path: string | null;
}

/** The rows of one checkpoint, gathered. */
export interface TupleRows {
  checkpoint: TupleRow;
  values: TupleRow[];
  writes: TupleRow[];
}

const keyOf = (row: TupleRow) =>
  `${row.n}\u0000${row.thread_id}\u0000${row.checkpoint_ns}\u0000${row.checkpoint_id}`;

/** Text in byte order of UTF-8 (code point order), as the "C" collation and LangGraph compare ids. */
export function compareText(a: string, b: string): number {
  return compareWritesSortKeys([a, "", 0], [b, "", 0]);
}

/** The checkpoint found for each of `count` requests (by `n`), undefined where none was. */
export function tupleRowsByRequest(rows: readonly TupleRow[], count: number): (TupleRows | undefined)[] {
  const found: (TupleRows | undefined)[] = new Array(count).fill(undefined);
  for (const group of groupTupleRows(rows)) found[group.checkpoint.n - 1] = group;
  return found;
}

/** Groups rows by checkpoint, newest id first (then by thread and namespace, as list pages them). */
export function groupTupleRows(rows: readonly TupleRow[]): TupleRows[] {
  const byKey = new Map<string, TupleRows>();
  for (const row of rows) {
    if (row.kind === 0) byKey.set(keyOf(row), { checkpoint: row, values: [], writes: [] });
  }
  for (const row of rows) {
    const group = row.kind === 0 ? undefined : byKey.get(keyOf(row));
    if (row.kind === 1) group?.values.push(row);
    else if (row.kind === 2) group?.writes.push(row);
  }
  return [...byKey.values()].sort(
    (a, b) =>
      compareText(b.checkpoint.checkpoint_id, a.checkpoint.checkpoint_id) ||
      compareText(b.checkpoint.thread_id, a.checkpoint.thread_id) ||
      compareText(b.checkpoint.checkpoint_ns, a.checkpoint.checkpoint_ns),
  );
}

const configOf = (threadId: string, checkpointNs: string, checkpointId: string) => ({
  configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpointId },
});

/** Deserializes one checkpoint's rows into the tuple LangGraph reads. */
export async function toTuple(serde: SerializerProtocol, rows: TupleRows): Promise<CheckpointTuple> {
  const row = rows.checkpoint;
  const stored = row.checkpoint as StoredCheckpoint;
  const values = await Promise.all(
    rows.values
      .filter((value) => value.type !== "empty")
      .map(async (value) => [
        value.name,
        await inTurn(() => serde.loadsTyped(value.type as string, value.data as Uint8Array)),
      ]),
  );
  const writes = [...rows.writes].sort((a, b) =>
    compareWritesSortKeys(
      writesSortKey(a.task_path ?? "", a.name ?? "", a.idx ?? 0),
      writesSortKey(b.task_path ?? "", b.name ?? "", b.idx ?? 0),
    ),
  );
  const pendingWrites: CheckpointPendingWrite[] = await Promise.all(
    writes.map(
      async (write): Promise<CheckpointPendingWrite> => [
        write.name as string,
        write.channel as string,
        await inTurn(() => serde.loadsTyped(write.type as string, write.data as Uint8Array)),
      ],
    ),
  );
  const metadata = (await (row.data
    ? serde.loadsTyped(row.type ?? "json", row.data)
    : serde.loadsTyped("json", row.metadata as string))) as CheckpointMetadata;
  const checkpoint: Checkpoint = {
    ...stored,
    channel_values: Object.fromEntries(values),
    channel_versions: stored.channel_versions ?? {},
    versions_seen: stored.versions_seen ?? {},
  };
  const tuple: CheckpointTuple = {
    config: configOf(row.thread_id, row.checkpoint_ns, row.checkpoint_id),
    checkpoint,
    metadata,
    pendingWrites,
  };
  if (row.name !== null) tuple.parentConfig = configOf(row.thread_id, row.checkpoint_ns, row.name);
  return tuple;
}

/** A put's channel values, serialized: those of `newVersions`, "empty" where the checkpoint has none. */
export async function dumpValues(
  serde: SerializerProtocol,
  values: Record<string, unknown>,
  newVersions: Record<string, number | string>,
): Promise<{ channels: string[]; versions: string[]; types: string[]; blobs: (Uint8Array | null)[] }> {
  // A channel and its version are the key of the value's row: refused where text would change them.
  const entries = Object.entries(newVersions).map(
    ([channel, version]) =>
      [requiredText(channel, "channel", true), requiredText(String(version), "version", true)] as const,
  );
  const dumped = await Promise.all(
    entries.map(([channel]) =>
      channel in values
        ? inTurn(() => serde.dumpsTyped(values[channel]))
        : Promise.resolve(["empty", null] as const),
    ),
  );
  return {
    channels: entries.map(([channel]) => channel),
    versions: entries.map(([, version]) => version),
    types: dumped.map(([type]) => type),
    blobs: dumped.map(([, bytes]) => bytes),
  };
}

const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;
const decoder = new TextDecoder();

/** Text as jsonb can hold it, for filters: NULs and lone surrogates taken out. */
const heldText = (text: string) => text.replaceAll("\u0000", "").replace(LONE_SURROGATES, "");

/**
 * Metadata as stored: JSON for `@>` filters, plus the serializer's exact output when that JSON is not
 * it (NULs and lone surrogates taken out of strings and keys, or a serializer that does not write JSON
 * at all: then the JSON is `{}` and filters find nothing in it). A lone surrogate is kept, not refused,
 * as a NUL is: metadata is the serializer's to write, and both read back exactly from its output.
 */
export async function dumpMetadata(
  serde: SerializerProtocol,
  metadata: CheckpointMetadata,
): Promise<{ json: string; type: string | null; bytes: Uint8Array | null }> {
  const [type, bytes] = await serde.dumpsTyped(metadata);
  if (type !== "json") return { json: "{}", type, bytes };
  const json = decoder.decode(bytes);
  if (!jsonbRefuses(json)) return { json, type: null, bytes: null };
  const held = JSON.stringify(JSON.parse(json), function (this: unknown, _key, value: unknown) {
    if (typeof value === "string") return heldText(value);
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [heldText(k), v]));
  });
  return { json: held, type: "json", bytes };
}

/** A task's writes as stored: each at its index (special channels at theirs), the last one per index. */
export async function dumpWrites(
  serde: SerializerProtocol,
  writes: readonly (readonly [string, unknown])[],
): Promise<{ idx: number[]; channels: string[]; types: string[]; blobs: Uint8Array[] }> {
  const byIdx = new Map<number, readonly [string, unknown]>();
  writes.forEach(([channel, value], position) => {
    byIdx.set(WRITES_IDX_MAP[channel] ?? position, [requiredText(channel, "channel", true), value]);
  });
  const kept = [...byIdx.entries()];
  const dumped = await Promise.all(kept.map(([, [, value]]) => inTurn(() => serde.dumpsTyped(value))));
  return {
    idx: kept.map(([idx]) => idx),
    channels: kept.map(([, [channel]]) => channel),
    types: dumped.map(([type]) => type),
    blobs: dumped.map(([, bytes]) => bytes),
  };
}
