/**
 * Event history: an append-only log per execution. Each event gets the next sequence number of its
 * execution, gap-free and in commit order (see history/append.ts), so a reader that has seen up to n
 * has seen every event numbered up to n, and `expectedLastSequence` turns an append into
 * compare-and-set. An execution must exist to have a history (appending to an unknown one is a
 * NotFoundError): create the run and append its first event in one transaction. Events go when
 * their execution is pruned.
 */

import { forReads, type SqlContext, type StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import { checkId, checkInteger, checkOneOf, refuseUnknownKeys } from "../core/input.js";
import { cursorKey, type Page, pageLimit, toPage } from "../core/key-cursor.js";
import { checkText } from "../core/payload.js";
import { idBatch } from "../core/planned-few.js";
import type { Queryable } from "../db/driver.js";
import {
  appendColumns,
  appendStatement,
  appendValues,
  EVENT_COLUMNS,
  type EventRow,
  eventsChannelPrefix,
  explainAppendMiss,
  MAX_KEY_BYTES,
  optionalSequence,
  toEvent,
} from "./append.js";
import { appendOnCitus } from "./append-distributed.js";
import { appendedOrDiscarded, offloadPayloads, resolvePayloads, restorePayloads } from "./offloaded.js";
import {
  APPEND_OPTION_KEYS,
  type AppendOptions,
  CORRELATION_KEYS,
  type EventCorrelationOptions,
  type EventListOptions,
  type EventWaitOptions,
  type HistoryEvent,
  ITERATE_KEYS,
  LIST_KEYS,
  type NewHistoryEvent,
  WAIT_KEYS,
} from "./types.js";
import { DEFAULT_POLL_INTERVAL_MS, optionalDuration, waitForEvents } from "./wait.js";

/** Where a correlation lookup resumes: the last event's (created_at, execution, sequence). */
const CORRELATION_CURSOR_AT = `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

function sequenceCursor(cursor: string | null | undefined): number | undefined {
  const key = cursorKey(cursor);
  if (key === undefined) return undefined;
  if (!/^\d{1,15}$/.test(key)) {
    throw new ValidationError("cursor is not one returned by a list call", { field: "cursor" });
  }
  return Number(key);
}

function correlationCursor(cursor: string | null | undefined): [string, string, number] | undefined {
  const key = cursorKey(cursor);
  if (key === undefined) return undefined;
  const match = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) ([0-9a-f-]{36}) (\d{1,15})$/.exec(key);
  if (!match) throw new ValidationError("cursor is not one returned by a list call", { field: "cursor" });
  return [match[1] as string, match[2] as string, Number(match[3])];
}

export class Events {
  constructor(protected readonly context: StoreContext) {}

  private get q(): string {
    return this.context.q;
  }

  /**
   * Appends events to the execution's history, all in one statement, and returns them with their
   * sequence numbers. One event in, one out; a list in, a list out (at most 1,000).
   */
  append(executionId: string, event: NewHistoryEvent, options?: AppendOptions): Promise<HistoryEvent>;
  append(
    executionId: string,
    events: readonly NewHistoryEvent[],
    options?: AppendOptions,
  ): Promise<HistoryEvent[]>;
  async append(
    executionId: string,
    input: NewHistoryEvent | readonly NewHistoryEvent[],
    options: AppendOptions = {},
  ): Promise<HistoryEvent | HistoryEvent[]> {
    const id = checkId(executionId, "executionId");
    refuseUnknownKeys(options, APPEND_OPTION_KEYS);
    const many = Array.isArray(input);
    const columns = appendColumns(many ? input : [input as NewHistoryEvent], this.context.limits);
    const expected = optionalSequence(options.expectedLastSequence, "expectedLastSequence");
    if (options.notify !== undefined && typeof options.notify !== "boolean") {
      throw new ValidationError("notify must be true or false", { field: "notify" });
    }
    if (columns[0].length === 0) return [];
    const channel = options.notify ? eventsChannelPrefix(this.context.schema) : null;
    const given = many ? (input as readonly NewHistoryEvent[]) : [input as NewHistoryEvent];
    const offloaded = await offloadPayloads(
      this.context,
      id,
      columns,
      given.map((event) => event.payload),
    );
    // The execution's row is locked (key share: updates of the run go on) before its head row, the
    // order prune takes them in too.
    const { rows } = await appendedOrDiscarded(
      this.context,
      offloaded,
      () =>
        this.context.driver.capabilities.distributed
          ? appendOnCitus(this.context, id, columns, expected, channel)
          : this.context.db.query<EventRow>(
              appendStatement(
                this.q,
                `select id as execution_id from ${this.q}.executions where id = $1 for key share`,
              ),
              [id, ...appendValues(columns, expected, channel)],
              { prepare: true },
            ),
      (result) => result.rows.length === 0,
    );
    if (rows.length === 0) return explainAppendMiss(this.context, id, expected);
    const events = restorePayloads(rows.map(toEvent), offloaded);
    return many ? events : (events[0] as HistoryEvent);
  }

  /** The event at `sequence`; a NotFoundError when there is none. */
  async get(executionId: string, sequence: number): Promise<HistoryEvent> {
    const id = checkId(executionId, "executionId");
    checkInteger(sequence, "sequence", 1);
    const { rows } = await this.context.db.query<EventRow>(
      `select ${EVENT_COLUMNS} from ${this.q}.events where execution_id = $1 and seq = $2`,
      [id, sequence],
    );
    if (!rows[0]) throw new NotFoundError(`execution ${id} has no event ${sequence}`);
    return (await resolvePayloads(this.context, [toEvent(rows[0])]))[0] as HistoryEvent;
  }

  /** The sequence number of the execution's last event (0 when it has none, or does not exist). */
  async lastSequence(executionId: string): Promise<number> {
    const id = checkId(executionId, "executionId");
    const { rows } = await this.context.db.query<{ last_seq: number }>(
      `select last_seq from ${this.q}.event_heads where execution_id = $1`,
      [id],
    );
    return rows[0]?.last_seq ?? 0;
  }

  /**
   * The execution's events by sequence number, a page at a time (keyset on the sequence). Reads from
   * the store's readConnection, when it has one (outside a transaction); `store.primary.events.list`
   * reads what was just appended.
   */
  async list(executionId: string, options: EventListOptions = {}): Promise<Page<HistoryEvent>> {
    const id = checkId(executionId, "executionId");
    refuseUnknownKeys(options, LIST_KEYS);
    const limit = pageLimit(options.limit);
    const order = checkOneOf(options.order ?? "asc", ["asc", "desc"], "order");
    const after = optionalSequence(options.afterSequence, "afterSequence");
    const before = optionalSequence(options.beforeSequence, "beforeSequence");
    const resume = sequenceCursor(options.cursor);
    const values: unknown[] = [id];
    const where = ["execution_id = $1"];
    if (after !== null) where.push(`seq > $${values.push(after)}`);
    if (before !== null) where.push(`seq < $${values.push(before)}`);
    if (resume !== undefined) where.push(`seq ${order === "asc" ? ">" : "<"} $${values.push(resume)}`);
    const reads = forReads(this.context);
    const { rows } = await reads.db.query<EventRow>(
      `select ${EVENT_COLUMNS} from ${this.q}.events where ${where.join(" and ")}
       order by seq ${order} limit $${values.push(limit + 1)}`,
      values,
    );
    const page = toPage(rows, limit, (row) => String(row.seq), toEvent);
    await resolvePayloads(reads, page.items);
    return page;
  }

  /** Every event of the execution after `afterSequence` (default: all), read a page at a time. */
  async *iterate(
    executionId: string,
    options: { afterSequence?: number; pageSize?: number } = {},
  ): AsyncGenerator<HistoryEvent> {
    refuseUnknownKeys(options, ITERATE_KEYS);
    let cursor: string | undefined;
    do {
      const page = await this.list(executionId, {
        afterSequence: options.afterSequence,
        limit: options.pageSize ?? 500,
        cursor,
      });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /**
   * The events with this correlation id, of every execution or of one, oldest first (by time of
   * append, then execution and sequence) or newest first with `order: "desc"`, a page at a time.
   * The time is the server's clock: PGlite's counts whole milliseconds, so events of two
   * executions appended within one millisecond there come in execution order.
   */
  async byCorrelation(
    correlationId: string,
    options: EventCorrelationOptions = {},
  ): Promise<Page<HistoryEvent>> {
    checkText(correlationId, "correlationId", MAX_KEY_BYTES);
    refuseUnknownKeys(options, CORRELATION_KEYS);
    const executionId =
      options.executionId === undefined ? null : checkId(options.executionId, "executionId");
    const limit = pageLimit(options.limit);
    const order = checkOneOf(options.order ?? "asc", ["asc", "desc"], "order");
    const resume = correlationCursor(options.cursor);
    const values: unknown[] = [correlationId, executionId];
    const where = ["correlation_id = $1", "($2::uuid is null or execution_id = $2)"];
    if (resume) {
      const [at, id, seq] = resume;
      where.push(
        `(created_at, execution_id, seq) ${order === "asc" ? ">" : "<"} ($${values.push(at)}::timestamptz, $${values.push(id)}::uuid, $${values.push(seq)}::bigint)`,
      );
    }
    const { rows } = await this.context.db.query<EventRow & { cursor_at: string }>(
      `select ${EVENT_COLUMNS}, ${CORRELATION_CURSOR_AT} as cursor_at from ${this.q}.events
       where ${where.join(" and ")}
       order by created_at ${order}, execution_id ${order}, seq ${order} limit $${values.push(limit + 1)}`,
      values,
    );
    const page = toPage(rows, limit, (row) => `${row.cursor_at} ${row.execution_id} ${row.seq}`, toEvent);
    await resolvePayloads(this.context, page.items);
    return page;
  }

  /**
   * Waits until the execution has events after `afterSequence` and returns them (up to `limit`), or
   * returns none once `timeoutMs` has passed. It wakes at once on a NOTIFY on the execution's channel
   * (sent by `signals.deliver` and by `append` with `notify`), from any process, and polls
   * otherwise. Not inside a transaction: it would hold the transaction open while it waits.
   */
  async wait(executionId: string, options: EventWaitOptions = {}): Promise<HistoryEvent[]> {
    const id = checkId(executionId, "executionId");
    refuseUnknownKeys(options, WAIT_KEYS);
    const after = optionalSequence(options.afterSequence, "afterSequence") ?? 0;
    const limit = pageLimit(options.limit);
    const timeoutMs = optionalDuration(options.timeoutMs, "timeoutMs");
    const pollIntervalMs = optionalDuration(options.pollIntervalMs, "pollIntervalMs");
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new ValidationError("signal must be an AbortSignal", { field: "signal" });
    }
    if (this.context.db.inTransaction) throw await waitRefused(this.context.db);
    return waitForEvents(this.context, {
      executionId: id,
      deadline: timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs,
      pollIntervalMs: Math.max(1, pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS),
      signal: options.signal,
      read: async () => (await this.list(id, { afterSequence: after, limit })).items,
    });
  }
}

/**
 * Why events.wait refuses inside a transaction. Any transaction would be held open while it waits; one
 * that reads from a snapshot (repeatable read, serializable) would also never see the events it waits
 * for, committed after its first statement, so the message names that level: the transaction may have
 * begun without one, at the server's default_transaction_isolation.
 */
async function waitRefused(tx: Queryable): Promise<ValidationError> {
  const level = await tx
    .query<{ level: string }>("select current_setting('transaction_isolation') as level")
    .then(
      ({ rows }) => rows[0]?.level,
      // An aborted transaction answers nothing: the refusal stands without its level.
      () => undefined,
    );
  const why =
    level === "repeatable read" || level === "serializable"
      ? `inside this ${level} transaction: it reads from a snapshot taken at its first statement, so it would never see an event committed after that, and it would hold the transaction open while it waited`
      : "inside a transaction: it would hold the transaction open while it waited";
  return new ValidationError(
    `events.wait cannot wait ${why}; call it on the store (store.events.wait), once the transaction has committed`,
    { field: "transaction" },
  );
}

/** Retention: deletes the events (and history heads) of these executions; returns how many events. */
export async function deleteEventsOf({ db, q }: SqlContext, executionIds: string[]): Promise<number> {
  const ids = idBatch(1, "uuid");
  await db.query(`delete from ${q}.event_heads where execution_id = any(${ids})`, [executionIds]);
  return (await db.query(`delete from ${q}.events where execution_id = any(${ids})`, [executionIds]))
    .rowCount;
}
