/**
 * Writes that record what happened: a write of one row (a task, an execution) can append events to its
 * execution's history in the same statement, so the state and its history commit together, in one
 * round trip outside a transaction, with the history's gap-free numbering (see event-append.ts).
 */

import type { StoreContext } from "../context.js";
import { appendColumns, appendValues, splitWritten, writeAndAppendStatement } from "./event-append.js";
import type { HistoryEvent, NewHistoryEvent } from "./event-types.js";

export interface AppendOption {
  /**
   * Events to append to the written row's execution history in the same statement (one, or up to
   * 1,000): written together with the row, or not at all. They come back as `appended`.
   */
  append?: NewHistoryEvent | readonly NewHistoryEvent[];
}

/** A written row with the events its write appended, when it appended some. */
export type WithHistory<T> = T & { appended?: HistoryEvent[] };

/**
 * Runs a write of at most one row (returning the row), with `append`'s events appended to the
 * history of the row's execution (its column `executionId`) in the same statement. Undefined when
 * the write wrote nothing.
 */
export async function writeOne<T>(
  context: StoreContext,
  write: string,
  values: unknown[],
  executionId: string,
  append: AppendOption["append"],
): Promise<WithHistory<T> | undefined> {
  if (append === undefined) return (await context.db.query<WithHistory<T>>(write, values)).rows[0];
  const events = Array.isArray(append) ? (append as readonly NewHistoryEvent[]) : [append as NewHistoryEvent];
  if (events.length === 0) {
    const row = (await context.db.query<T>(write, values)).rows[0];
    return row && { ...row, appended: [] };
  }
  const columns = appendColumns(events, context.limits);
  // Prepared: the statement is long, and each call site sends one of a few texts again and again.
  const { rows } = await context.db.query<Record<string, unknown>>(
    writeAndAppendStatement(context.q, write, executionId, values.length),
    [...values, ...appendValues(columns, null, null)],
    { prepare: true },
  );
  const written = splitWritten<T>(rows);
  return written && { ...written.row, appended: written.appended };
}
