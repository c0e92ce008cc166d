/**
 * Keeps queue_total_additions small. Every enqueue (and every claim, completion or failure by hand)
 * inserts its counts there, and a worker's periodic write moves them into queue_totals; with no worker
 * running (an engine with its own loop, a process that only enqueues) nothing did, and the table grew
 * by a row per statement for ever, each read of the totals summing all of them. So a process that has
 * written FOLD_AFTER_ROWS additions folds them in, outside any transaction of the caller's: one
 * statement now and then, none per enqueue, and the table holds at most about that many rows per
 * process writing to it (with what transactions not yet committed hold).
 */

import { backgroundOf } from "../core/background.js";
import type { StoreContext } from "../core/context.js";
import type { Driver } from "../db/driver.js";
import { addTotals } from "./totals.js";

/** Additions a process writes before it folds them into the totals. */
export const FOLD_AFTER_ROWS = 1_000;

interface Written {
  rows: number;
  folding: boolean;
}

/** Per driver: the store and its transactions share one, and so one count. */
const written = new WeakMap<Driver, Written>();

/**
 * About how many queues a batch's jobs (in slot order) name: one per run of a queue, so at least the
 * rows its count adds. Cheaper than a set of them on the enqueue's hot path, and exact for a batch of
 * one queue.
 */
export function queueRuns(queues: readonly string[]): number {
  let runs = 0;
  for (let i = 0; i < queues.length; i++) if (i === 0 || queues[i] !== queues[i - 1]) runs++;
  return runs;
}

/**
 * Notes that a statement of `context` wrote about `rows` additions (its counts, one row per queue and
 * name); past FOLD_AFTER_ROWS, folds them in the background, on a connection of the store's own (on
 * PGlite's one connection, once the caller's transaction has ended). A failed fold is logged and tried
 * again at the next statement; the additions wait meanwhile, and the totals count them all the same.
 */
export function noteAdditions(context: StoreContext, rows: number): void {
  let seen = written.get(context.driver);
  if (!seen) {
    seen = { rows: 0, folding: false };
    written.set(context.driver, seen);
  }
  seen.rows += rows;
  if (seen.rows < FOLD_AFTER_ROWS || seen.folding || context.readOnly) return;
  const background = backgroundOf(context.driver);
  try {
    background.checkOpen();
  } catch {
    return; // the store is closing: the next process to write folds them
  }
  const state = seen;
  state.folding = true;
  state.rows = 0;
  // The whole table is moved, whoever wrote it; with nothing of its own to add.
  const fold = addTotals({ ...context, db: context.driver }, "", new Map());
  const done = background.add({ stop: () => fold.catch(() => {}) });
  fold
    .catch((error: unknown) => {
      state.rows = FOLD_AFTER_ROWS;
      context.logger.warn(
        { error: String(error) },
        "flowstore: could not fold the queue's totals' additions",
      );
    })
    .finally(() => {
      state.folding = false;
      done();
    });
}
