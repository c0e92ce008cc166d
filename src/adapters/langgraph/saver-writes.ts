/**
 * The saver's writes (puts and putWrites) as the arrays of one statement (writeBatchSql), so that the
 * writes of many calls go in one statement and one commit (see combiner.ts).
 */

/** A checkpoint to store, with the channel values its put brought. */
export interface CheckpointWrite {
  kind: "checkpoint";
  thread: string;
  ns: string;
  id: string;
  parent: string | null;
  /** The checkpoint without its channel values, as JSON. */
  checkpoint: string;
  metadata: { json: string; type: string | null; bytes: Uint8Array | null };
  blobs: { channels: string[]; versions: string[]; types: string[]; blobs: (Uint8Array | null)[] };
  /** True when `blobs` holds every value the checkpoint names, so it needs nothing of its parent. */
  whole?: boolean;
}

/** One task's writes to a checkpoint. */
export interface TaskWrites {
  kind: "writes";
  thread: string;
  ns: string;
  checkpointId: string;
  taskId: string;
  taskPath: string;
  writes: { idx: number[]; channels: string[]; types: string[]; blobs: Uint8Array[] };
}

export type SaverWrite = CheckpointWrite | TaskWrites;

/** Where a write's checkpoint is in the rows writeBatchSql returns. */
export const checkpointKey = (thread: string, ns: string, id: string) => `${thread}\u0000${ns}\u0000${id}`;

/** Rows a write adds to a statement. */
export function rowCount(write: SaverWrite): number {
  return 1 + (write.kind === "checkpoint" ? write.blobs.channels.length : write.writes.idx.length);
}

/**
 * The statement's arrays, one row per checkpoint, channel value and task write. Where two calls wrote
 * the same checkpoint the later one wins, as it would one statement after the other; so does the
 * later write of a special channel (negative index), while a task's ordinary write keeps the first.
 */
export function writeParameters(scope: string, writes: SaverWrite[]): unknown[] {
  const checkpoints = new Map<string, CheckpointWrite>();
  const taskWrites = new Map<string, [TaskWrites, number]>();
  for (const write of writes) {
    if (write.kind === "checkpoint") {
      checkpoints.set(checkpointKey(write.thread, write.ns, write.id), write);
      continue;
    }
    write.writes.idx.forEach((idx, i) => {
      const key = `${write.thread}\u0000${write.ns}\u0000${write.checkpointId}\u0000${write.taskId}\u0000${idx}`;
      if (idx < 0 || !taskWrites.has(key)) taskWrites.set(key, [write, i]);
    });
  }
  const c = [...checkpoints.values()];
  const blobs = c.flatMap((w) =>
    w.blobs.channels.map((channel, i) => ({
      thread: w.thread,
      ns: w.ns,
      channel,
      version: w.blobs.versions[i],
      type: w.blobs.types[i],
      blob: w.blobs.blobs[i],
    })),
  );
  const t = [...taskWrites.values()];
  return [
    scope,
    c.map((w) => w.thread),
    c.map((w) => w.ns),
    c.map((w) => w.id),
    c.map((w) => w.parent),
    c.map((w) => w.checkpoint),
    c.map((w) => w.metadata.json),
    c.map((w) => w.metadata.type),
    c.map((w) => w.metadata.bytes),
    blobs.map((b) => b.thread),
    blobs.map((b) => b.ns),
    blobs.map((b) => b.channel),
    blobs.map((b) => b.version),
    blobs.map((b) => b.type),
    blobs.map((b) => b.blob),
    t.map(([w]) => w.thread),
    t.map(([w]) => w.ns),
    t.map(([w]) => w.checkpointId),
    t.map(([w]) => w.taskId),
    t.map(([w]) => w.taskPath),
    t.map(([w, i]) => w.writes.idx[i]),
    t.map(([w, i]) => w.writes.channels[i]),
    t.map(([w, i]) => w.writes.types[i]),
    t.map(([w, i]) => w.writes.blobs[i]),
    c.map((w) => w.whole === true),
  ];
}
