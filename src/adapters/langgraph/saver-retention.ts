/**
 * Retention of LangGraph checkpoints, so the tables stop growing with every step of every thread:
 * trim each thread to its newest checkpoints, and delete threads nobody has written to for a while.
 * Each batch of threads is a short transaction that locks them, then deletes (see saver-sql.ts for
 * why in two statements); threads a put or another pruner holds are skipped, so several processes may
 * prune at once, and puts go on meanwhile.
 */

import { ValidationError } from "../../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import type { MaintenanceTask, Store, Transaction } from "../../index.js";
import {
  deleteThreadsSql,
  emptyThreadsSql,
  keepLatestSql,
  lockIdleThreadsSql,
  lockScopeSql,
  lockThreadSql,
  lockThreadsSql,
  lockTouchedThreadsSql,
} from "./saver-sql.js";

export interface CheckpointRetention {
  /**
   * Keep the newest `keepLatest` checkpoints of each thread (in each of its namespaces); older ones
   * go with their writes and the channel values no kept checkpoint uses. At least 1.
   */
  keepLatest?: number;
  /**
   * Delete whole threads no checkpoint was written to for this many milliseconds. A put refreshes its
   * thread's time only once that is a minute old (sparing a row update at every step), so a thread
   * goes up to a minute after idleMs has passed, never before.
   */
  idleMs?: number;
  /** Trim only threads written to since this moment (default: every thread). */
  touchedSince?: Date;
  /** Threads per statement (default 100). */
  batchSize?: number;
  /** Stops after the batch in progress. */
  signal?: AbortSignal;
}

/** What a prune removed. */
export interface CheckpointPruneResult {
  /** Threads deleted whole, being idle. */
  threads: number;
  checkpoints: number;
  writes: number;
  /** Channel values (one per channel and version). */
  blobs: number;
  /** Statements that deleted something. */
  batches: number;
}

interface Counts {
  threads?: number;
  checkpoints: number;
  writes: number;
  blobs: number;
}

const DEFAULT_BATCH = 100;

/** Throws on options prune would refuse; returns the batch size. */
const RETENTION_KEYS = optionKeys<CheckpointRetention>({
  keepLatest: true,
  idleMs: true,
  touchedSince: true,
  batchSize: true,
  signal: true,
});

export function checkRetention(options: CheckpointRetention): number {
  if (typeof options === "object" && options !== null) refuseUnknownKeys(options, RETENTION_KEYS);
  const { keepLatest, idleMs, batchSize = DEFAULT_BATCH } = options;
  if (keepLatest !== undefined && (!Number.isInteger(keepLatest) || keepLatest < 1)) {
    throw new ValidationError("keepLatest must be an integer of at least 1", { field: "keepLatest" });
  }
  if (idleMs !== undefined && (!Number.isFinite(idleMs) || idleMs < 0)) {
    throw new ValidationError("idleMs must be a number of milliseconds, 0 or more", { field: "idleMs" });
  }
  if (keepLatest === undefined && idleMs === undefined) {
    throw new ValidationError("prune needs keepLatest, idleMs or both");
  }
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new ValidationError("batchSize must be an integer from 1 to 10,000", { field: "batchSize" });
  }
  return batchSize;
}

export async function pruneCheckpoints(
  store: Store,
  q: string,
  scope: string,
  options: CheckpointRetention,
): Promise<CheckpointPruneResult> {
  const batchSize = checkRetention(options);
  const result: CheckpointPruneResult = { threads: 0, checkpoints: 0, writes: 0, blobs: 0, batches: 0 };
  const add = (counts: Counts) => {
    result.threads += counts.threads ?? 0;
    result.checkpoints += counts.checkpoints;
    result.writes += counts.writes;
    result.blobs += counts.blobs;
    if (counts.checkpoints + counts.writes + counts.blobs + (counts.threads ?? 0) > 0) result.batches++;
  };
  const stopped = () => options.signal?.aborted === true;
  if (options.idleMs !== undefined) {
    const { idleMs } = options;
    while (!stopped()) {
      const [seen, counts] = await inBatch(
        store,
        lockIdleThreadsSql(q),
        [scope, idleMs, batchSize],
        (tx, ids) => tx.query<Counts>(deleteThreadsSql(q), [scope, ids]),
      );
      add(counts);
      if (seen.length < batchSize) break;
    }
  }
  if (options.keepLatest !== undefined) {
    const { keepLatest } = options;
    const since = options.touchedSince ?? "-infinity";
    let after = "";
    while (!stopped()) {
      const lock = [scope, after, batchSize, since];
      const [seen, counts] = await inBatch(store, lockTouchedThreadsSql(q), lock, (tx, ids) =>
        tx.query<Counts>(keepLatestSql(q), [scope, ids, keepLatest]),
      );
      add(counts);
      const last = seen[seen.length - 1];
      if (seen.length < batchSize || last === undefined) break;
      after = last;
    }
  }
  return result;
}

const NOTHING: Counts = { threads: 0, checkpoints: 0, writes: 0, blobs: 0 };

/**
 * In one transaction, locks a batch of threads (`lock` selects their thread_id, skipping those held),
 * then runs `work` on their ids in a statement of its own. Returns the ids, in the order `lock` gave
 * them, and what `work` counted.
 */
async function inBatch(
  store: Store,
  lock: string,
  values: unknown[],
  work: (tx: Transaction, ids: string[]) => Promise<{ rows: Counts[] }>,
): Promise<[string[], Counts]> {
  return store.transaction(async (tx) => {
    const { rows } = await tx.query<{ thread_id: string }>(lock, values);
    const ids = rows.map((row) => row.thread_id);
    if (ids.length === 0) return [ids, NOTHING];
    const { rows: counts } = await work(tx, ids);
    return [ids, counts[0] ?? NOTHING];
  });
}

export async function deleteThread(store: Store, q: string, scope: string, threadId: string): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.query(lockThreadSql(q), [scope, threadId]);
    await tx.query(deleteThreadsSql(q), [scope, [threadId]]);
  });
}

/**
 * Takes away the rows of threads that hold no checkpoint: rows task writes made for threads deleted
 * meanwhile (see writeBatchSql). Each is locked first, as deleteThread locks, so a put that makes a
 * checkpoint on one meanwhile is waited for, and then seen: its thread stays. A thread with no row when
 * the lock is taken is left: deleting a row made after it, which the delete's snapshot may not show
 * the put holding it has written to, would leave that put's rows without their thread.
 */
export async function dropEmptyThreads(
  store: Store,
  q: string,
  scope: string,
  threads: string[],
): Promise<void> {
  await store.transaction(async (tx) => {
    const threadIds = async (sql: string, ids: string[]) =>
      (await tx.query<{ thread_id: string }>(sql, [scope, ids])).rows.map((row) => row.thread_id);
    // Only the rows locked here: a row made since (by a put that holds it now) is not this delete's.
    const locked = await threadIds(lockThreadsSql(q), threads);
    if (locked.length === 0) return;
    // Read once the locks are held, so every checkpoint a put committed on them is seen.
    const empty = await threadIds(emptyThreadsSql(q), locked);
    // What such a thread holds (task writes of a checkpoint deleted with it, values of a put that will
    // come again whole) goes with its row.
    if (empty.length > 0) await tx.query(deleteThreadsSql(q), [scope, empty]);
  });
}

/**
 * Every thread of the scope, and any row of the scope no thread names. The threads that go are those
 * locked first: a thread a put made meanwhile (committed after the lock statement began, so not
 * locked by it) stays, with everything that put wrote.
 */
export async function clearScope(store: Store, q: string, scope: string): Promise<void> {
  await store.transaction(async (tx) => {
    const { rows } = await tx.query<{ thread_id: string }>(lockScopeSql(q), [scope]);
    const gone = (table: string) =>
      `delete from ${q}.${table} x where x.scope = $1 and (x.thread_id = any($2::text[])
         or not exists (select 1 from ${q}.langgraph_threads t where t.scope = $1 and t.thread_id = x.thread_id))`;
    await tx.query(
      `with c as (${gone("langgraph_checkpoints")}), w as (${gone("langgraph_writes")}),
       b as (${gone("langgraph_blobs")})
       delete from ${q}.langgraph_threads where scope = $1 and thread_id = any($2::text[])`,
      [scope, rows.map((row) => row.thread_id)],
    );
  });
}

/**
 * A maintenance task running `prune` with the given options. Threads are touched at most once a
 * minute, so each run after the first trims the threads touched since two minutes before the
 * previous run started.
 */
export function retentionTask(
  name: string,
  prune: (run: { signal: AbortSignal; touchedSince?: Date }) => Promise<CheckpointPruneResult>,
): MaintenanceTask {
  let previousStart: number | undefined;
  return {
    name,
    async run(signal) {
      const started = Date.now();
      const result = await prune({
        signal,
        touchedSince: previousStart === undefined ? undefined : new Date(previousStart - 120_000),
      });
      if (!signal.aborted) previousStart = started;
      return result;
    },
  };
}
