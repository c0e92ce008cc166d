/**
 * FlowstoreSaver: a LangGraph checkpointer (BaseCheckpointSaver) on flowstore's tables.
 *
 * Every put, putWrites and read is one statement, run outside any transaction (a put with its channel
 * values and its thread's row; a task's writes; a tuple with its values and writes): nothing is held
 * open while the graph runs, and serialization is done before a connection is taken. Calls made
 * while others are in flight share a statement (combiner.ts). A saver's `scope` keeps its threads
 * apart from those of other savers on the same store.
 */

import { randomInt } from "node:crypto";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  getCheckpointId,
  maxChannelVersion,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
} from "@langchain/langgraph-checkpoint";
import { ValidationError } from "../../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { approximateBytes, BATCH_BYTES } from "../../core/write-batch.js";
import type { MaintenanceTask, Store } from "../../index.js";
import { Combiner, storeSlots } from "./combiner.js";
import { checkScope, filterJson, quotedSchema, requiredText } from "./names.js";
import {
  type CheckpointPruneResult,
  type CheckpointRetention,
  checkRetention,
  clearScope,
  deleteThread,
  dropEmptyThreads,
  pruneCheckpoints,
  retentionTask,
} from "./saver-retention.js";
import {
  dumpMetadata,
  dumpValues,
  dumpWrites,
  groupTupleRows,
  type TupleRow,
  type TupleRows,
  toTuple,
  tupleRowsByRequest,
} from "./saver-rows.js";
import { listSql, pendingSendsSql, tupleBatchSql, writeBatchSql } from "./saver-sql.js";
import {
  type CheckpointWrite,
  checkpointKey,
  rowCount,
  type SaverWrite,
  writeParameters,
} from "./saver-writes.js";

export interface FlowstoreSaverOptions {
  /** The flowstore store that holds the checkpoints (migrated: `openStore()` does it). */
  store: Store;
  /**
   * Keeps this saver's threads apart from other savers' on the same store (default "default"): each
   * sees, lists, deletes and prunes only its own. At most 255 characters.
   */
  scope?: string;
  /** How channel values, writes and metadata are serialized (default LangGraph's JsonPlusSerializer). */
  serde?: SerializerProtocol;
  /**
   * Statements of each kind (reads, writes) in flight at once (default: half the store's connections,
   * at most 4, at least 1). All the savers of a store together keep at most twice that default in
   * flight; the statements beyond it wait in the savers, for as long as it takes.
   * Calls made in one turn of the event loop go together in a statement, and so do those that arrive
   * while this many are in flight: the fewer, the fewer statements and commits a process running many
   * graphs sends, the longer a call may wait.
   */
  statementsInFlight?: number;
}

// A misspelt scope would share the default scope's threads with every other saver.
const SAVER_KEYS = optionKeys<FlowstoreSaverOptions>({
  store: true,
  scope: true,
  serde: true,
  statementsInFlight: true,
});

interface TupleRequest {
  thread: string;
  ns: string;
  id: string | null;
}

/** Checkpoints per page when `list` walks many. */
const LIST_PAGE = 100;
/** Rows per combined statement at most. */
const MAX_WRITE_ROWS = 2_000;
const MAX_READS = 500;

export class FlowstoreSaver extends BaseCheckpointSaver {
  readonly scope: string;
  private readonly store: Store;
  private readonly q: string;
  private readonly writes: Combiner<SaverWrite, boolean>;
  private readonly reads: Combiner<TupleRequest, TupleRows | undefined>;

  constructor(options: FlowstoreSaverOptions) {
    refuseUnknownKeys(options, SAVER_KEYS);
    super(options.serde);
    this.store = options.store;
    this.scope = checkScope(options.scope);
    this.q = quotedSchema(options.store);
    const perKind = Math.max(1, Math.min(4, Math.floor(options.store.driver.maxConnections / 2)));
    const inFlight = options.statementsInFlight ?? perKind;
    if (!Number.isInteger(inFlight) || inFlight < 1) {
      throw new ValidationError("statementsInFlight must be a positive integer", {
        field: "statementsInFlight",
      });
    }
    // The savers of a store together keep at most as many statements in flight as one saver of the
    // default: the others wait in their Combiner, where waiting cannot time out as a pool checkout does.
    const slots = storeSlots(options.store.driver, 2 * perKind);
    const writeSql = writeBatchSql(this.q);
    this.writes = new Combiner<SaverWrite, boolean>(
      async (writes) => {
        const { rows } = await this.store.query<{
          thread_id: string;
          checkpoint_ns: string | null;
          checkpoint_id: string | null;
        }>(writeSql, writeParameters(this.scope, writes), { prepare: true });
        const refused = new Set<string>();
        const deleted: string[] = [];
        for (const r of rows) {
          if (r.checkpoint_id === null) deleted.push(r.thread_id);
          else refused.add(checkpointKey(r.thread_id, r.checkpoint_ns ?? "", r.checkpoint_id));
        }
        if (deleted.length > 0) await dropEmptyThreads(this.store, this.q, this.scope, deleted);
        return writes.map(
          (w) => w.kind !== "checkpoint" || !refused.has(checkpointKey(w.thread, w.ns, w.id)),
        );
      },
      inFlight,
      rowCount,
      MAX_WRITE_ROWS,
      approximateBytes,
      BATCH_BYTES,
      slots,
      // A statement holds its threads' rows until it commits (writeBatchSql): a write to one of them
      // waits for it here rather than on the lock, and in a graph run alone goes with the thread's next
      // put (the task writes made while a step's put was in flight, with the next step's).
      (write) => write.thread,
    );
    const readSql = tupleBatchSql(this.q);
    this.reads = new Combiner<TupleRequest, TupleRows | undefined>(
      async (requests) => {
        const keys = requests.map((r, i) => ({ n: i + 1, thread_id: r.thread, ns: r.ns, id: r.id }));
        const rows = await this.query(readSql, [this.scope, JSON.stringify(keys)]);
        return tupleRowsByRequest(rows, requests.length);
      },
      inFlight,
      () => 1,
      MAX_READS,
      approximateBytes,
      BATCH_BYTES,
      slots,
    );
  }

  /**
   * A channel's next version, unique to the branch that makes it: a fork from an earlier checkpoint
   * (`updateState` on it) counts on from the same versions as the branch it leaves, and with integers
   * both would name their values "3", so the fork would read the first branch's value (a value is
   * stored once per version). As LangGraph's Python savers do: the count, zero-padded so that versions
   * compare as text in the order of their counts, then random digits. Such text also reads as a number
   * greater than the count before it, as LangGraph's `>` compares a version with an integer one. A
   * thread written with integer versions keeps them: comparing an integer with text as text would put
   * 10 before 9.
   * LangGraph's types call versions numbers (the checkpointer's type parameter); its runtime compares
   * them with `>` and takes text, which its own checks for "" as the null version provide for.
   */
  override getNextVersion(current: number | undefined): number {
    if (typeof current === "number") return current + 1;
    const count = current === undefined ? 0 : Number.parseInt(String(current).split(".")[0] as string, 10);
    const version = `${String(count + 1).padStart(32, "0")}.${String(randomInt(2 ** 47)).padStart(15, "0")}`;
    return version as unknown as number;
  }

  private query(text: string, values: unknown[], prepare = true): Promise<TupleRow[]> {
    return this.store.query<TupleRow>(text, values, { prepare }).then((result) => result.rows);
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) return undefined;
    const found = await this.reads.call({
      thread: requiredText(threadId, "thread_id"),
      ns: namespaceOf(config),
      id: getCheckpointId(config) || null,
    });
    if (found === undefined) return undefined;
    const [tuple] = await this.toTuples([found]);
    return tuple;
  }

  /**
   * Checkpoints newest first (by id), of one thread or, without a `thread_id`, of every thread of the
   * scope; `checkpoint_ns` picks one namespace. `filter` keeps those whose metadata contains it (JSON
   * containment, `@>`, in SQL), `before` those with a smaller id, `limit` the first so many.
   */
  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { filter, before, limit } = options;
    const where: string[] = [];
    const values: unknown[] = [this.scope];
    const param = (value: unknown) => `$${values.push(value)}`;
    const configurable = config.configurable ?? {};
    if (configurable.thread_id !== undefined && configurable.thread_id !== null) {
      where.push(`thread_id = ${param(requiredText(configurable.thread_id, "thread_id"))}`);
    }
    if (configurable.checkpoint_ns !== undefined && configurable.checkpoint_ns !== null) {
      where.push(`checkpoint_ns = ${param(requiredText(configurable.checkpoint_ns, "checkpoint_ns", true))}`);
    }
    if (configurable.checkpoint_id) {
      where.push(`checkpoint_id = ${param(requiredText(configurable.checkpoint_id, "checkpoint_id"))}`);
    }
    if (filter && Object.keys(filter).length > 0) {
      where.push(`metadata @> ${param(filterJson(filter))}::jsonb`);
    }
    if (before?.configurable?.checkpoint_id !== undefined && before.configurable.checkpoint_id !== null) {
      where.push(`checkpoint_id < ${param(requiredText(before.configurable.checkpoint_id, "before"))}`);
    }
    let remaining = limit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.trunc(Number(limit)));
    // Keyset pages: (checkpoint_id, thread_id, checkpoint_ns) is unique within the scope.
    const pageValues = values.length;
    const after = `(checkpoint_id, thread_id, checkpoint_ns) < ($${pageValues + 1}, $${pageValues + 2}, $${pageValues + 3})`;
    const order = "order by checkpoint_id desc, thread_id desc, checkpoint_ns desc limit";
    const base = where.length ? where.join(" and ") : "true";
    const first = listSql(this.q, base, `${order} $${pageValues + 1}`);
    const next = listSql(this.q, `${base} and ${after}`, `${order} $${pageValues + 4}`);
    let last: TupleRows | undefined;
    while (remaining > 0) {
      const page = Math.min(LIST_PAGE, remaining);
      const key = last?.checkpoint;
      const rows = key
        ? await this.query(next, [...values, key.checkpoint_id, key.thread_id, key.checkpoint_ns, page])
        : await this.query(first, [...values, page]);
      const groups = groupTupleRows(rows);
      for (const tuple of await this.toTuples(groups)) yield tuple;
      if (groups.length < page) return;
      remaining -= groups.length;
      last = groups[groups.length - 1];
    }
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    if (config.configurable === undefined) {
      throw new ValidationError(`Missing "configurable" field in "config" param`, { field: "configurable" });
    }
    const threadId = requiredText(config.configurable.thread_id, "thread_id");
    const checkpointNs = namespaceOf(config);
    const parentId = config.configurable.checkpoint_id;
    const { channel_values: channelValues, ...stored } = checkpoint;
    const [blobs, meta] = await Promise.all([
      dumpValues(this.serde, channelValues ?? {}, newVersions ?? {}),
      dumpMetadata(this.serde, metadata),
    ]);
    const write: CheckpointWrite = {
      kind: "checkpoint",
      thread: threadId,
      ns: checkpointNs,
      id: requiredText(checkpoint.id, "checkpoint.id"),
      parent: parentId ? requiredText(parentId, "checkpoint_id") : null,
      checkpoint: JSON.stringify(stored),
      metadata: meta,
      blobs,
    };
    if (!(await this.writes.call(write))) {
      // Its parent is gone (the thread was deleted or pruned while the run went on): the values this
      // checkpoint shares with it went too, so it is stored with all of its own, whole.
      const all = await dumpValues(this.serde, channelValues ?? {}, checkpoint.channel_versions ?? {});
      await this.writes.call({ ...write, blobs: all, whole: true });
    }
    return {
      configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpoint.id },
    };
  }

  async putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath = "",
  ): Promise<void> {
    const threadId = requiredText(config.configurable?.thread_id, "thread_id");
    const checkpointId = requiredText(config.configurable?.checkpoint_id, "checkpoint_id");
    const checkpointNs = namespaceOf(config);
    if (writes.length === 0) return;
    await this.writes.call({
      kind: "writes",
      thread: threadId,
      ns: checkpointNs,
      checkpointId,
      taskId: requiredText(taskId, "taskId", true),
      taskPath: requiredText(taskPath ?? "", "taskPath", true),
      writes: await dumpWrites(this.serde, writes),
    });
  }

  /** Deletes the thread: its checkpoints in every namespace, their channel values and writes. */
  async deleteThread(threadId: string): Promise<void> {
    await deleteThread(this.store, this.q, this.scope, requiredText(threadId, "threadId"));
  }

  /** Deletes every thread of this saver's scope. */
  async clear(): Promise<void> {
    await clearScope(this.store, this.q, this.scope);
  }

  /**
   * Retention, a batch of threads per statement: trims threads to their `keepLatest` newest
   * checkpoints, and deletes threads idle for `idleMs`. Returns what went.
   */
  prune(options: CheckpointRetention): Promise<CheckpointPruneResult> {
    return pruneCheckpoints(this.store, this.q, this.scope, options);
  }

  /**
   * `prune` as a task of `store.startMaintenance({ retention: [...] })`. After its first run it trims
   * only the threads written to since the run before.
   */
  retentionTask(options: Omit<CheckpointRetention, "signal" | "touchedSince">): MaintenanceTask {
    checkRetention(options);
    return retentionTask(`langgraph checkpoints (${this.scope})`, (run) =>
      this.prune({ ...options, ...run }),
    );
  }

  /** Deserializes gathered rows, moving the pending sends of pre-v4 checkpoints into their TASKS channel. */
  private async toTuples(groups: TupleRows[]): Promise<CheckpointTuple[]> {
    const old = groups.filter((g) => (g.checkpoint.checkpoint?.v ?? 4) < 4 && g.checkpoint.name !== null);
    const tuples = await Promise.all(groups.map((group) => toTuple(this.serde, group)));
    if (old.length > 0) await this.migratePendingSends(old, tuples, groups);
    return tuples;
  }

  private async migratePendingSends(old: TupleRows[], tuples: CheckpointTuple[], groups: TupleRows[]) {
    const parents = old.map((g) => g.checkpoint);
    const rows = await this.query(
      pendingSendsSql(this.q),
      [
        this.scope,
        parents.map((p) => p.thread_id),
        parents.map((p) => p.checkpoint_ns),
        parents.map((p) => p.name),
        TASKS,
      ],
      false,
    );
    for (const group of old) {
      const { thread_id: thread, checkpoint_ns: ns, name: parentId } = group.checkpoint;
      const sends = rows.filter(
        (r) => r.thread_id === thread && r.checkpoint_ns === ns && r.checkpoint_id === parentId,
      );
      if (sends.length === 0) continue;
      const tuple = tuples[groups.indexOf(group)] as CheckpointTuple;
      const versions = tuple.checkpoint.channel_versions;
      tuple.checkpoint.channel_values[TASKS] = await Promise.all(
        sends.map((send) => this.serde.loadsTyped(send.type as string, send.data as Uint8Array)),
      );
      const current = Object.values(versions);
      versions[TASKS] = current.length > 0 ? maxChannelVersion(...current) : this.getNextVersion(undefined);
    }
  }
}

function namespaceOf(config: RunnableConfig): string {
  const ns = config.configurable?.checkpoint_ns;
  return ns === undefined || ns === null ? "" : requiredText(ns, "checkpoint_ns", true);
}
