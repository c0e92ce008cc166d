/**
 * Writes that record what happened: a write of one row (a task, an execution) can append events to its
 * execution's history in the same statement, so the state and its history commit together, in one
 * round trip outside a transaction, with the history's gap-free numbering (see history/append.ts).
 */

import type { StoreContext } from "../core/context.js";
import { checkInteger, optionKeys } from "../core/input.js";
import type { PayloadLimits } from "../core/payload.js";
import { offloads } from "../offload/index.js";
import {
  type AppendColumns,
  appendColumns,
  appendValues,
  EVENT_COLUMNS,
  type EventRow,
  MAX_EARLIER_EVENTS,
  splitWritten,
  toEvent,
  writeAndAppendStatement,
  writtenCtes,
} from "./append.js";
import {
  appendedOrDiscarded,
  type OffloadedPayloads,
  offloadPayloads,
  resolvePayloads,
  restorePayloads,
} from "./offloaded.js";
import type { HistoryEvent, NewHistoryEvent } from "./types.js";

export interface AppendOption {
  /**
   * Events to append to the written row's execution history in the same statement (one, or up to
   * 1,000): written together with the row, or not at all. They come back as `appended`.
   */
  append?: NewHistoryEvent | readonly NewHistoryEvent[];
  /**
   * With `append`: the history after this sequence number comes back too, as `history` (the appended
   * events last), read in the same statement, so a caller that follows the history needs no read of
   * its own after the write. Left out when more than 1,000 events came before the appended ones.
   */
  historyAfter?: number;
}

/** AppendOption's keys, for the option sets of the writes that take it. */
export const APPEND_FIELDS: Record<keyof AppendOption, true> = { append: true, historyAfter: true };
export const APPEND_KEYS = optionKeys<AppendOption>(APPEND_FIELDS);

/**
 * The execution a write's row belongs to: its id, or (a task updated by its own id) how to find it.
 * Only asked for when an appended payload is over `limits.offloadAbove`: its blob is filed under it.
 */
export type Owner = string | (() => Promise<string | undefined>);

/** A written row with the events its write appended, when it appended some. */
export type WithHistory<T> = T & { appended?: HistoryEvent[]; history?: HistoryEvent[] };

/**
 * Runs a write of at most one row (returning the row), with `append`'s events appended to the
 * history of the row's execution (its column `executionId`) in the same statement. Undefined when
 * the write wrote nothing. `alongside`: CTEs that go in the same statement, reading the written row
 * as `written` (the ids a task insert registers); a write inside a CTE may not have CTEs of its own.
 * `before`: CTEs that go ahead of the write, which the write may read (the key an insert registers).
 */
export async function writeOne<T>(
  context: StoreContext,
  write: string,
  values: unknown[],
  execution: { column: string; id: Owner },
  { append, historyAfter }: AppendOption,
  alongside?: string,
  before?: string,
): Promise<WithHistory<T> | undefined> {
  const alone =
    before || alongside ? `${writtenCtes(write, before, alongside)} select * from written` : write;
  if (append === undefined) return (await context.db.query<WithHistory<T>>(alone, values)).rows[0];
  const checked = checkAppend({ append, historyAfter }, context.limits);
  if (!checked) {
    const row = (await context.db.query<T>(alone, values)).rows[0];
    return row && { ...row, appended: [] };
  }
  const { columns, after } = checked;
  const offloaded = await offloadAppend(context, execution.id, columns, { append });
  // Prepared: the statement is long, and each call site sends one of a few texts again and again.
  const { rows } = await appendedOrDiscarded(
    context,
    offloaded,
    () =>
      context.db.query<Record<string, unknown>>(
        writeAndAppendStatement(
          context.q,
          write,
          execution.column,
          values.length,
          after !== undefined,
          alongside,
          before,
        ),
        [...values, ...appendValues(columns, null, null), ...(after === undefined ? [] : [after])],
        { prepare: true },
      ),
    (result) => result.rows.length === 0,
  );
  const written = splitWritten<T>(rows);
  if (!written) return undefined;
  const read = restorePayloads(written.appended, offloaded);
  return withHistory(context, written.row, read, columns[0].length, after);
}

/**
 * Puts an append's payloads over `limits.offloadAbove` in the blob store, under the row's execution
 * (looked up only when there is one to put), and writes their references into `columns`.
 */
export async function offloadAppend(
  context: StoreContext,
  owner: Owner,
  columns: AppendColumns,
  { append }: AppendOption,
): Promise<OffloadedPayloads> {
  const events = Array.isArray(append) ? (append as readonly NewHistoryEvent[]) : [append as NewHistoryEvent];
  const payloads = events.map((event) => event.payload);
  const none: OffloadedPayloads = new Map();
  if (
    !columns[1].some((json, i) => offloads(context, { json: json ?? null, bytes: columns[2][i] ?? null }))
  ) {
    return none;
  }
  const executionId = typeof owner === "string" ? owner : await owner();
  // No execution found: the write will find no row either, and say so.
  return executionId === undefined ? none : offloadPayloads(context, executionId, columns, payloads);
}

/** An append option checked: its events laid out for the statement, and historyAfter; undefined when it appends none. */
export function checkAppend(
  { append, historyAfter }: AppendOption,
  limits: PayloadLimits,
): { columns: AppendColumns; after: number | undefined } | undefined {
  if (append === undefined) return undefined;
  const events = Array.isArray(append) ? (append as readonly NewHistoryEvent[]) : [append as NewHistoryEvent];
  if (events.length === 0) return undefined;
  return {
    columns: appendColumns(events, limits),
    after: historyAfter === undefined ? undefined : checkInteger(historyAfter, "historyAfter", 0),
  };
}

/**
 * A written row with its events, from what its statement read (`read`: the history after `after`
 * when asked, then the `count` events it appended).
 */
export async function withHistory<T>(
  context: StoreContext,
  row: T,
  read: HistoryEvent[],
  count: number,
  after: number | undefined,
): Promise<WithHistory<T>> {
  const appended = read.slice(-count);
  if (after === undefined) return { ...row, appended };
  const history = await completeHistory(context, read, after, appended[0] as HistoryEvent);
  // The events before this write's may have had their payloads offloaded (events.append).
  if (history) await resolvePayloads(context, history);
  return history
    ? { ...row, appended, history: [...history, ...appended.filter((event) => event.sequence > after)] }
    : { ...row, appended };
}

/**
 * The history between `after` and the first appended event, from what the statement read (`read`,
 * the appended events last). Its snapshot misses an append that committed while it waited for the
 * head row, which leaves a gap in the numbers: then it is read again, from a snapshot that has it.
 * Undefined when there are more than MAX_EARLIER_EVENTS.
 */
async function completeHistory(
  context: StoreContext,
  read: HistoryEvent[],
  after: number,
  first: HistoryEvent,
): Promise<HistoryEvent[] | undefined> {
  const wanted = first.sequence - after - 1;
  if (wanted > MAX_EARLIER_EVENTS) return undefined;
  if (wanted <= 0) return [];
  const earlier = read.slice(0, read.indexOf(first));
  if (earlier.length === wanted) return earlier;
  const { rows } = await context.db.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${context.q}.events
      where execution_id = $1 and seq > $2 and seq < $3 order by seq`,
    [first.executionId, after, first.sequence],
  );
  return rows.map(toEvent);
}
