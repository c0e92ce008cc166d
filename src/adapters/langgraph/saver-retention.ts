/**
 * Retention of LangGraph checkpoints, so the tables stop growing with every step of every thread:
 * trim each thread to its newest checkpoints, and delete threads nobody has written to for a while.
 * Each batch of threads is one statement (its own short transaction); threads another pruner holds
 * are skipped, so several processes may prune at once.
 */

import type { MaintenanceTask, Store } from "../../index.js";
import { deleteThreadsSql, idleThreadsSql, keepLatestSql } from "./saver-sql.js";

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
export function checkRetention(options: CheckpointRetention): number {
  const { keepLatest, idleMs, batchSize = DEFAULT_BATCH } = options;
  if (keepLatest !== undefined && (!Number.isInteger(keepLatest) || keepLatest < 1)) {
    throw new Error("keepLatest must be an integer of at least 1");
  }
  if (idleMs !== undefined && (!Number.isFinite(idleMs) || idleMs < 0)) {
    throw new Error("idleMs must be a number of milliseconds, 0 or more");
  }
  if (keepLatest === undefined && idleMs === undefined) throw new Error("give keepLatest, idleMs or both");
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new Error("batchSize must be an integer from 1 to 10,000");
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
    const sql = deleteThreadsSql(q, idleThreadsSql(q));
    while (!stopped()) {
      const { rows } = await store.query<Counts>(sql, [scope, options.idleMs, batchSize]);
      const counts = rows[0] as Counts;
      add(counts);
      if ((counts.threads ?? 0) < batchSize) break;
    }
  }
  if (options.keepLatest !== undefined) {
    const since = options.touchedSince ?? "-infinity";
    let after = "";
    while (!stopped()) {
      const { rows } = await store.query<Counts & { last: string | null; seen: number }>(keepLatestSql(q), [
        scope,
        after,
        batchSize,
        options.keepLatest,
        since,
      ]);
      const batch = rows[0] as Counts & { last: string | null; seen: number };
      add(batch);
      if (batch.seen < batchSize || batch.last === null) break;
      after = batch.last;
    }
  }
  return result;
}

export async function deleteThread(store: Store, q: string, scope: string, threadId: string): Promise<void> {
  await store.query(deleteThreadsSql(q, "select $2::text as thread_id"), [scope, threadId]);
}

/** Every thread of the scope, and any row of the scope no thread names. */
export async function clearScope(store: Store, q: string, scope: string): Promise<void> {
  await store.query(
    `with c as (delete from ${q}.langgraph_checkpoints where scope = $1),
     w as (delete from ${q}.langgraph_writes where scope = $1),
     b as (delete from ${q}.langgraph_blobs where scope = $1)
     delete from ${q}.langgraph_threads where scope = $1`,
    [scope],
  );
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
