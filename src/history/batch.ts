/**
 * Writes of one row that append to its execution's history, made outside a transaction, share
 * statements (core/write-batch.ts): what the batched task and execution writes have in common. A batch's
 * statement writes its rows (its own CTE `written`), and historyTail appends their events and reads
 * the histories; it returns one row per event, the written row's columns beside the event's, ordered
 * by write and sequence.
 */

import { batchesWrites, type StoreContext } from "../core/context.js";
import { recordsJson, WriteBatcher } from "../core/write-batch.js";
import { type AppendColumns, EVENT_COLUMNS, MAX_EARLIER_EVENTS, splitWritten } from "./append.js";
import { appendedOrDiscarded, restorePayloads } from "./offloaded.js";
import type { HistoryEvent } from "./types.js";
import {
  type AppendOption,
  checkAppend,
  type Owner,
  offloadAppend,
  type WithHistory,
  withHistory,
} from "./writes.js";

/**
 * A write that appends, made outside a transaction, in its batch: `write` puts it there with its
 * append checked, and its answer comes back with its events (see withHistory). Undefined when it
 * appends nothing, runs in a transaction, or was left out of its batch: then it goes alone.
 */
export async function inBatch<T>(
  context: StoreContext,
  owner: Owner,
  options: AppendOption,
  write: (events: HistoryWrite) => Promise<BatchWritten<T> | undefined>,
): Promise<WithHistory<T> | undefined> {
  if (!batchesWrites(context)) return undefined;
  const checked = checkAppend(options, context.limits);
  if (!checked) return undefined;
  const offloaded = await offloadAppend(context, owner, checked.columns, options);
  // Left out of its batch, the write goes alone, which puts its payloads again.
  const written = await appendedOrDiscarded(
    context,
    offloaded,
    () => write({ events: checked.columns, historyAfter: checked.after }),
    (result) => result === undefined,
  );
  if (!written) return undefined;
  const count = checked.columns[0].length;
  const read = restorePayloads(written.read, offloaded);
  return withHistory(context, written.row, read, count, checked.after);
}

/** A write and the events it appends, checked. */
export interface HistoryWrite {
  events: AppendColumns;
  /** Return the history after this sequence number too (see AppendOption.historyAfter). */
  historyAfter?: number;
}

/**
 * A batcher sending `sql` (or the text `sql` picks for the batch) with the batch as its one parameter:
 * each write's `record`, its number `n` and its events. Writes with one `key` never share a batch.
 */
export function historyBatcher<I extends HistoryWrite, T>(
  context: StoreContext,
  sql: string | ((inputs: I[]) => string),
  record: (input: I) => object,
  key: (input: I) => string,
): WriteBatcher<I, BatchWritten<T>> {
  return new WriteBatcher(async (inputs) => {
    const records = inputs.map((input, n) => ({ n, ...record(input), ...eventsRecord(input) }));
    const text = typeof sql === "string" ? sql : sql(inputs);
    const result = await context.db.query<Record<string, unknown>>(text, [recordsJson(records)], {
      prepare: true,
    });
    return byInput<T>(inputs, result);
  }, key);
}

/** A write's events and historyAfter as the batch's record carries them (JSON as text, bytes as base64). */
function eventsRecord(input: HistoryWrite): { events: object[]; after: number | null } {
  const [types, payloads, bytes, correlationIds] = input.events;
  return {
    events: types.map((type, i) => ({
      type,
      payload: payloads[i],
      bytes: bytes[i] ? Buffer.from(bytes[i] as Uint8Array).toString("base64") : null,
      correlation_id: correlationIds[i],
    })),
    after: input.historyAfter ?? null,
  };
}

/**
 * The CTEs after `written_events` (one row per written task: its write's number `n`, its execution, the
 * number `c` of its events, the events and `after`): `counts` places each write's events after those
 * of the batch's earlier writes to the same execution, `head` bumps each history's head row once (in
 * execution order, the one lock order), `appended` numbers and inserts the events, and `earlier` reads
 * the history after `after` up to the write's own events.
 */
function appendedCtes(q: string): string {
  return `counts as (
      select w.*, sum(w.c) over (partition by w.execution_id order by w.n) - w.c as before,
             sum(w.c) over (partition by w.execution_id) as total
        from written_events w),
    head as (
      insert into ${q}.event_heads as h (execution_id, last_seq)
      select execution_id, sum(c) from counts group by execution_id order by execution_id
      on conflict (execution_id) do update set last_seq = h.last_seq + excluded.last_seq
      returning execution_id, last_seq),
    appended as (
      insert into ${q}.events (execution_id, seq, type, payload, payload_bytes, correlation_id)
      select h.execution_id, h.last_seq - c.total + c.before + e.k, e.v->>'type', (e.v->>'payload')::jsonb,
             decode(e.v->>'bytes', 'base64'), e.v->>'correlation_id'
        from counts c join head h on h.execution_id = c.execution_id
        cross join jsonb_array_elements(c.events) with ordinality as e(v, k)
      returning ${EVENT_COLUMNS}),
    earlier as (
      select c.n, x.* from counts c join head h on h.execution_id = c.execution_id
      cross join lateral (
        select ${EVENT_COLUMNS} from ${q}.events e
         where e.execution_id = c.execution_id and e.seq > c.after
           and e.seq <= h.last_seq - c.total + c.before
         order by e.seq limit ${MAX_EARLIER_EVENTS}) x
      where c.after is not null and h.last_seq - c.total + c.before - c.after <= ${MAX_EARLIER_EVENTS}),
    mine as (
      select c.n, a.* from counts c join head h on h.execution_id = c.execution_id
      join appended a on a.execution_id = c.execution_id
       and a.seq > h.last_seq - c.total + c.before and a.seq <= h.last_seq - c.total + c.before + c.c)`;
}

/**
 * The end of a batch's statement, after its CTE `written`: each written row with its write's number as
 * "batch.n" (an update returns `b.n`; an insert, which cannot, joins its rows to `b` in a CTE of
 * that name) and its execution in the column `executionId`. Appends the events and reads the
 * histories, and returns one row per event, the written row's columns beside the event's.
 */
export function historyTail(q: string, executionId: string): string {
  return `written_events as (
      select b.n, w.${executionId} as execution_id, jsonb_array_length(b.events) as c, b.events, b.after
        from written w join b on b.n = w."batch.n"),
    ${appendedCtes(q)}
    select w.*, ${appendedColumns()}
      from written w join (select * from earlier union all select * from mine) a on a.n = w."batch.n"
     order by w."batch.n", a.seq`;
}

function appendedColumns(): string {
  return EVENT_COLUMNS.split(", ")
    .map((column) => `a.${column} as "appended.${column}"`)
    .join(", ");
}

/**
 * The FROM of a batch's update: the batch `b` in the order of its `batchKey` (the one lock order: two
 * batches that share rows wait instead of deadlocking) and, for each write, the address of its row in
 * `table`, found by a probe of the row's `key` that also checks `conditions`. The update keeps the rows
 * `where <its alias>.ctid = probe.found`: a row that fails the conditions, or changed since the probe
 * found it (it is no longer at that address), is left out.
 */
export function probedRows(table: string, key: string, batchKey: string, conditions: string[]): string {
  const checks = conditions.map((condition) => `\n             and ${condition}`).join("");
  return `from (select * from b order by ${batchKey}) b cross join lateral (
          select ctid as found from ${table} x
           where x.${key} = b.${batchKey}${checks}
           limit 1) probe`;
}

/** A row a batch wrote, with the events its statement read (see withHistory). */
export interface BatchWritten<T> {
  row: T;
  read: HistoryEvent[];
}

/**
 * The batch's rows (one per event, ordered by write and sequence) as each write's task and events; a
 * write the batch left out gets undefined.
 */
function byInput<T>(inputs: HistoryWrite[], { rows }: { rows: Record<string, unknown>[] }) {
  const groups = new Map<number, Record<string, unknown>[]>();
  for (const row of rows) {
    const n = Number(row["batch.n"]);
    const group = groups.get(n);
    if (group) group.push(row);
    else groups.set(n, [row]);
  }
  return inputs.map((_, n): BatchWritten<T> | undefined => {
    const group = groups.get(n);
    const written = group && splitWritten<T & { "batch.n"?: unknown }>(group);
    if (!written) return undefined;
    const { "batch.n": _n, ...row } = written.row;
    return { row: row as T, read: written.appended };
  });
}
