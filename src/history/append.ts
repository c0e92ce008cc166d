/**
 * Appending to an execution's history, in one statement: bump the execution's head row
 * (insert ... on conflict do update), insert the events numbered from it, and NOTIFY when asked. The
 * head row stays locked until the transaction ends, so the appenders of one execution go one at a
 * time: numbers are gap-free (a rollback returns them) and follow commit order. Shared by
 * `events.append` and `signals.deliver`, which differ only in how they find the execution.
 */

import type { SqlContext } from "../core/context.js";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.js";
import { checkInteger, optionalText, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText, type JsonOrBytes, type PayloadLimits, toJsonOrBytes } from "../core/payload.js";
import { schemaChannel } from "../core/wake.js";
import { refuseReserved } from "../offload/index.js";
import type { HistoryEvent, NewHistoryEvent } from "./types.js";

/** The most events one append takes. */
export const MAX_APPEND_EVENTS = 1000;

/** The longest correlation id (and signal token), in bytes of UTF-8: an indexed key, as kv keys are. */
export const MAX_KEY_BYTES = 1024;

/** The NOTIFY channel names of a schema's executions start with this (at most 63 bytes in all). */
export function eventsChannelPrefix(schema: string): string {
  return `${schemaChannel("ev", schema)}_`;
}

/** The NOTIFY channel of one execution's history: sent to when an append asks, and on every delivery. */
export function eventsChannel(schema: string, executionId: string): string {
  return `${eventsChannelPrefix(schema)}${executionId.toLowerCase().replaceAll("-", "")}`;
}

export const EVENT_COLUMNS = "execution_id, seq, type, payload, payload_bytes, correlation_id, created_at";

export interface EventRow {
  execution_id: string;
  seq: number;
  type: string;
  payload: unknown;
  payload_bytes: Uint8Array | null;
  correlation_id: string | null;
  created_at: Date;
}

export function toEvent(row: EventRow): HistoryEvent {
  return {
    executionId: row.execution_id,
    sequence: row.seq,
    type: row.type,
    payload: row.payload_bytes ?? row.payload,
    correlationId: row.correlation_id,
    createdAt: row.created_at,
  };
}

/** A checked batch, one array per column (parameters $4 to $7 of the statement). */
export type AppendColumns = [string[], (string | null)[], (Uint8Array | null)[], (string | null)[]];

/** Checks every event and lays the batch out for unnest. */
const EVENT_KEYS = optionKeys<NewHistoryEvent>({ type: true, payload: true, correlationId: true });

export function appendColumns(events: readonly NewHistoryEvent[], limits: PayloadLimits): AppendColumns {
  if (events.length > MAX_APPEND_EVENTS) {
    throw new ValidationError(`one append takes at most ${MAX_APPEND_EVENTS} events, got ${events.length}`, {
      field: "events",
    });
  }
  const columns: AppendColumns = [[], [], [], []];
  for (const [i, event] of events.entries()) {
    const field = `events[${i}]`;
    if (typeof event !== "object" || event === null) {
      throw new ValidationError(`${field} must be an object with a type`, { field });
    }
    refuseUnknownKeys(event, EVENT_KEYS, field);
    refuseReserved(event.payload, `${field}.payload`);
    const payload = optionalPayload(event.payload, `${field}.payload`, limits);
    columns[0].push(checkText(event.type, `${field}.type`));
    columns[1].push(payload.json);
    columns[2].push(payload.bytes);
    columns[3].push(optionalText(event.correlationId, `${field}.correlationId`, MAX_KEY_BYTES));
  }
  return columns;
}

/** A payload (JSON, or bytes as a Uint8Array) when given; undefined stores none (read back as null). */
export function optionalPayload(value: unknown, field: string, limits: PayloadLimits): JsonOrBytes {
  return value === undefined ? { json: null, bytes: null } : toJsonOrBytes(value, field, limits);
}

/** An expected sequence number, when given: an integer >= 0 (0: no events yet). */
export function optionalSequence(value: unknown, field: string): number | null {
  return value === undefined || value === null ? null : checkInteger(value, field, 0);
}

/**
 * The common part of an append: the CTEs `head`, `appended` and `woken`, reading the execution from a
 * CTE `target` (column `execution_id`). Their parameters are $2 to $8 moved up by `offset`: the
 * number of events, the expected last sequence number (null: any), the four columns, and the channel
 * prefix to NOTIFY on (null: no NOTIFY).
 */
function appendCtes(q: string, offset: number): string {
  const p = (n: number) => `$${n + offset}`;
  return `head as (
      -- Insert only where a history may start: with no expectation, or "no events yet", or where a
      -- head exists (then the conflict clause decides).
      insert into ${q}.event_heads as h (execution_id, last_seq)
      select t.execution_id, ${p(2)}::bigint from target t
       where ${p(3)}::bigint is null or ${p(3)}::bigint = 0
          or exists (select 1 from ${q}.event_heads x where x.execution_id = t.execution_id)
      on conflict (execution_id) do update set last_seq = h.last_seq + excluded.last_seq
       where ${p(3)}::bigint is null or h.last_seq = ${p(3)}::bigint
      returning execution_id, last_seq
    ),
    appended as (
      insert into ${q}.events (execution_id, seq, type, payload, payload_bytes, correlation_id)
      select head.execution_id, head.last_seq - ${p(2)}::bigint + e.n, e.type, e.payload, e.payload_bytes, e.correlation_id
        from head, unnest(${p(4)}::text[], ${p(5)}::jsonb[], ${p(6)}::bytea[], ${p(7)}::text[])
               with ordinality as e(type, payload, payload_bytes, correlation_id, n)
      returning ${EVENT_COLUMNS}
    ),
    woken as (
      -- As text: Citus refuses a CTE column of pg_notify's type, void.
      select pg_notify(${p(8)}::text || replace(execution_id::text, '-', ''), max(seq)::text)::text
        from appended where ${p(8)}::text is not null group by execution_id
    )`;
}

/**
 * The append statement. `target` selects the execution (`execution_id`) from $1. Parameters: $2 the
 * number of events, $3 the expected last sequence number (null: any), $4-$7 the columns, $8 the
 * channel prefix to NOTIFY on (null: no NOTIFY). Returns the events appended, in sequence order; none
 * when the target found no execution or the expected sequence did not match.
 */
export function appendStatement(q: string, target: string): string {
  return `with target as (${target}),
    ${appendCtes(q, 0)}
    -- An inner join: a left join to one row no column is read from would be removed, and woken with it.
    select ${EVENT_COLUMNS} from appended cross join (select count(*) from woken) w order by seq`;
}

/** The event columns one by one. */
const EVENT_COLUMN_NAMES = EVENT_COLUMNS.split(", ");

/** The names the events come back under beside the written row (see writeAndAppendStatement). */
const APPENDED_COLUMNS = EVENT_COLUMN_NAMES.map((column) => `a.${column} as "appended.${column}"`).join(", ");

/**
 * The head of a statement around a write of rows: `write` as the CTE `written`, `before`'s CTEs ahead
 * of it (which the write may read), `alongside`'s after it (which may read `written`).
 */
export function writtenCtes(write: string, before?: string, alongside?: string): string {
  return `with ${before ? `${before}, ` : ""}written as (${write})${alongside ? `, ${alongside}` : ""}`;
}

/**
 * A write of one row (an insert or update `returning` the row) and an append to the history of the
 * row's execution, in one statement: both happen or neither. `executionId` is the column of the
 * written row that holds its execution; the write's parameters are $1 to $`writeParameters`, the
 * append's (appendValues) follow. Returns one row per event appended: the written row's columns and
 * the event's under "appended.<column>". No row when the write wrote nothing (nothing was appended).
 * `alongside`: more CTEs of the statement, which may read `written`; `before`: CTEs ahead of it, which
 * the write may read.
 */
export function writeAndAppendStatement(
  q: string,
  write: string,
  executionId: string,
  writeParameters: number,
  withHistory = false,
  alongside?: string,
  before?: string,
): string {
  return `${writtenCtes(write, before, alongside)},
    target as (select ${executionId} as execution_id from written),
    ${appendCtes(q, writeParameters - 1)}${
      withHistory
        ? `,
    ${earlierCte(q, writeParameters)}`
        : ""
    }
    select x.*, ${APPENDED_COLUMNS}
      from written x
      cross join ${withHistory ? "(select * from earlier union all select * from appended)" : "appended"} a
      cross join (select count(*) from woken) w order by a.seq`;
}

/** The most events a write returns of the history before its own (see writeAndAppendStatement). */
export const MAX_EARLIER_EVENTS = MAX_APPEND_EVENTS;

/**
 * The CTE `earlier`: the history after the sequence number in parameter $`writeParameters + 8`, up to
 * the events this statement appends (which its snapshot cannot see), when there are at most
 * MAX_EARLIER_EVENTS of them. The snapshot is the statement's own: an append that committed while this
 * one waited for the head row is missing from it, which the caller tells by a gap in the numbers.
 */
function earlierCte(q: string, writeParameters: number): string {
  const count = `$${writeParameters + 1}::bigint`;
  const after = `$${writeParameters + 8}::bigint`;
  return `earlier as (
      select ${EVENT_COLUMN_NAMES.map((column) => `e.${column}`).join(", ")}
        from head join ${q}.events e on e.execution_id = head.execution_id
       where e.seq > ${after} and e.seq <= head.last_seq - ${count}
         and head.last_seq - ${count} - ${after} <= ${MAX_EARLIER_EVENTS}
    )`;
}

/** Splits the rows of writeAndAppendStatement into the written row and the events appended. */
export function splitWritten<T>(
  rows: Record<string, unknown>[],
): { row: T; appended: HistoryEvent[] } | undefined {
  if (rows.length === 0) return undefined;
  const prefix = "appended.";
  const row: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rows[0] as Record<string, unknown>)) {
    if (!key.startsWith(prefix)) row[key] = value;
  }
  const appended = rows.map((r) => {
    const event: Record<string, unknown> = {};
    for (const column of EVENT_COLUMN_NAMES) event[column] = r[prefix + column];
    return toEvent(event as unknown as EventRow);
  });
  return { row: row as T, appended };
}

/** The statement's parameters after $1. */
export function appendValues(
  columns: AppendColumns,
  expected: number | null,
  channelPrefix: string | null,
): unknown[] {
  return [columns[0].length, expected, ...columns, channelPrefix];
}

/** A foreign key to executions that found no row: the execution does not exist. */
export function rethrowMissingExecution(error: unknown, executionId: string): never {
  if (error instanceof ValidationError && error.sqlState === "23503") {
    throw new NotFoundError(`execution ${executionId} not found`, { cause: error.cause ?? error });
  }
  throw error;
}

/** After an append wrote nothing: the execution is missing, or its history is not at `expected`. */
export async function explainAppendMiss(
  { db, q }: SqlContext,
  executionId: string,
  expected: number | null,
): Promise<never> {
  const { rows } = await db.query<{ known: boolean; last: number }>(
    `select exists (select 1 from ${q}.executions where id = $1) as known,
            coalesce((select last_seq from ${q}.event_heads where execution_id = $1), 0) as last`,
    [executionId],
  );
  const row = rows[0];
  if (!row?.known) throw new NotFoundError(`execution ${executionId} not found`);
  throw new ConflictError(
    `the history of execution ${executionId} is at sequence ${row.last}, not the expected ${expected}; nothing was written`,
  );
}
