/**
 * Signals: a token (a hook's URL part, a message name) held by one execution while it runs. A payload
 * delivered to the token becomes an event in the holder's history (appended as events.append does)
 * and wakes whoever waits on that history. A token is free again once its holder releases it,
 * finishes (a terminal status) or is deleted; nothing needs to be cleaned up for that.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { checkId, checkOneOf, optionalText, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { cursorKey, PAGE_KEYS, type Page, type PageOptions, pageLimit, toPage } from "../core/key-cursor.js";
import { checkText } from "../core/payload.js";
import { isTerminal, type RunStatus, TERMINAL_SQL } from "../core/run-status.js";
import { liveRuns } from "../executions/index.js";
import type { HistoryEvent } from "../history/index.js";
import {
  type AppendColumns,
  appendStatement,
  appendValues,
  type EventRow,
  eventsChannelPrefix,
  MAX_KEY_BYTES,
  optionalPayload,
  toEvent,
} from "../history/index.js";
import {
  claimOnCitus,
  deliverOnCitus,
  liveHolding,
  releaseOnCitus,
  SIGNAL_RETURNING,
  type SignalRow,
} from "./distributed.js";

export interface Signal {
  token: string;
  /** The execution that holds the token. */
  executionId: string;
  /** What the holder said about it when claiming (JSON, or bytes as a Uint8Array); null when nothing. */
  metadata: unknown;
  createdAt: Date;
}

export interface SignalClaimOptions {
  /** Kept with the token (JSON, or bytes as a Uint8Array), returned by get and list. */
  metadata?: unknown;
  /**
   * What to do when another live execution holds the token: "throw" a ConflictError (the default), or
   * "return" `{ claimed: false, heldBy }`.
   */
  ifHeld?: "throw" | "return";
}

export type SignalClaim = { claimed: true; signal: Signal } | { claimed: false; heldBy: Signal };

export interface SignalDeliverOptions {
  /** The event's type (default "signal"). */
  type?: string;
  /** The event's correlation id (default: the token; null for none). */
  correlationId?: string | null;
  /** When no live execution holds the token: "throw" a NotFoundError (the default), or "return" `{ delivered: false }`. */
  ifNotHeld?: "throw" | "return";
}

export type SignalDelivery = { delivered: true; event: HistoryEvent } | { delivered: false };

export interface SignalListOptions extends PageOptions {
  /** Only the tokens this execution holds. */
  executionId?: string;
  /** "asc" (the default): oldest claim first; "desc": newest first. A cursor goes on in its page's order. */
  order?: "asc" | "desc";
}

// A misspelt ifNotHeld would throw where the caller meant to carry on; a misspelt executionId on
// release would free a token whichever execution holds it.
const CLAIM_KEYS = optionKeys<SignalClaimOptions>({ metadata: true, ifHeld: true });
const DELIVER_KEYS = optionKeys<SignalDeliverOptions>({ type: true, correlationId: true, ifNotHeld: true });
const LIST_ALL_KEYS = optionKeys<SignalListOptions>({
  limit: true,
  cursor: true,
  executionId: true,
  order: true,
});
const RELEASE_KEYS = optionKeys<{ executionId?: string }>({ executionId: true });

const COLUMNS = "s.token, s.execution_id, s.metadata, s.metadata_bytes, s.created_at";
/** Rows of `s` whose holder (joined as `e`) has not finished. */
const LIVE = `e.id = s.execution_id and e.status not in ${TERMINAL_SQL}`;

/** A claim time as the database's microsecond text: a Date's milliseconds would skip or repeat rows. */
const CLAIMED_AT = `to_char(s.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Where a page in claim order goes on: after the holding claimed at `at` with `token`. */
function claimKey(cursor: string): { at: string; token: string } {
  try {
    const [at, token] = JSON.parse(cursorKey(cursor) as string) as unknown[];
    if (typeof at === "string" && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(at) && typeof token === "string") {
      return { at, token };
    }
  } catch {}
  throw new ValidationError("cursor is not one returned by a list call", { field: "cursor" });
}

function toSignal(row: SignalRow): Signal {
  return {
    token: row.token,
    executionId: row.execution_id,
    metadata: row.metadata_bytes ?? row.metadata,
    createdAt: row.created_at,
  };
}

export class Signals {
  constructor(protected readonly context: StoreContext) {}

  private get q(): string {
    return this.context.q;
  }

  /** On Citus, where a statement cannot join a token's row with its holder's run (see distributed.ts). */
  private get distributed(): boolean {
    return this.context.driver.capabilities.distributed;
  }

  /**
   * Makes the execution the token's holder. A token held by another live execution is a ConflictError
   * (or, with `ifHeld: "return"`, `{ claimed: false, heldBy }`); one the execution holds already is
   * returned as it is. A finished execution cannot claim (ConflictError), an unknown one is a
   * NotFoundError.
   */
  claim(
    token: string,
    executionId: string,
    options?: SignalClaimOptions & { ifHeld?: "throw" },
  ): Promise<{ claimed: true; signal: Signal }>;
  claim(token: string, executionId: string, options: SignalClaimOptions): Promise<SignalClaim>;
  async claim(token: string, executionId: string, options: SignalClaimOptions = {}): Promise<SignalClaim> {
    checkText(token, "token", MAX_KEY_BYTES);
    const id = checkId(executionId, "executionId");
    refuseUnknownKeys(options, CLAIM_KEYS);
    const metadata = optionalPayload(options.metadata, "metadata", this.context.limits);
    const ifHeld = checkOneOf(options.ifHeld ?? "throw", ["throw", "return"], "ifHeld");
    if (this.distributed) {
      const { claimed, row } = await claimOnCitus(this.context, token, id, metadata);
      if (claimed) return { claimed, signal: toSignal(row) };
      if (ifHeld === "return") return { claimed, heldBy: toSignal(row) };
      throw new ConflictError(`the token is held by execution ${row.execution_id}`);
    }
    // A row whose holder finished is stale: the claim takes it over in the same statement. The
    // holder must be seen finished, not merely not seen running: a holder that committed (with its
    // claim) while this statement waited for the token is not in this statement's snapshot, and
    // taking the token from it would make two holders. A finished execution stays finished, so a
    // finish this snapshot sees is for good.
    // A row whose holder is gone (deleted outside retention, which deletes its signals first) is stale
    // too, but a holder missing from the snapshot may be that new one instead. It is gone only if the
    // snapshot sees the row with this holder: the holding had then committed, and its holder with or
    // before it, as the claimer's row is locked (for key share) until its claim commits, so a delete
    // of it waits for the claim, and a claimer deleted first inserts nothing.
    const sql = `insert into ${this.q}.signals as s (token, execution_id, metadata, metadata_bytes)
      select $1, e.id, $3::jsonb, $4::bytea from ${this.q}.executions e
       where e.id = $2 and e.status not in ${TERMINAL_SQL}
       for key share of e
      -- created_at: the proposed row's (its default, now()); Citus refuses a call of now() here. So is
      -- recorded, its place in the order fork and rewind cut by (migration 0033): a new holding.
      on conflict (token) do update
        set execution_id = excluded.execution_id, metadata = excluded.metadata,
            metadata_bytes = excluded.metadata_bytes, created_at = excluded.created_at,
            recorded = excluded.recorded
        where s.execution_id <> excluded.execution_id
          and (exists (select 1 from ${this.q}.executions e
                        where e.id = s.execution_id and e.status in ${TERMINAL_SQL})
               or not exists (select 1 from ${this.q}.executions e where e.id = s.execution_id)
                  and exists (select 1 from ${this.q}.signals v
                               where v.token = s.token and v.execution_id = s.execution_id))
      returning ${SIGNAL_RETURNING}`;
    // Not claimed: explained below. Only if the token came free in between is the claim tried again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { rows } = await this.context.db.query<SignalRow>(sql, [
        token,
        id,
        metadata.json,
        metadata.bytes,
      ]);
      if (rows[0]) return { claimed: true, signal: toSignal(rows[0]) };
      const held = await this.explainMiss(token, id);
      if (held?.executionId === id) return { claimed: true, signal: held };
      if (held && ifHeld === "return") return { claimed: false, heldBy: held };
      if (held) throw new ConflictError(`the token is held by execution ${held.executionId}`);
    }
    throw new ConflictError("the token changed hands while being claimed; try again");
  }

  /** After a claim wrote nothing: the live holder, or an error for a claimer that cannot hold one. */
  private async explainMiss(token: string, executionId: string): Promise<Signal | undefined> {
    const { rows } = await this.context.db.query<Partial<SignalRow> & { claimer: RunStatus | null }>(
      `select c.status as claimer, ${COLUMNS}
         from (select 1) one
         left join ${this.q}.executions c on c.id = $2
         left join (${this.q}.signals s join ${this.q}.executions e on ${LIVE}) on s.token = $1`,
      [token, executionId],
    );
    const row = rows[0];
    if (!row?.claimer) throw new NotFoundError(`execution ${executionId} not found`);
    if (isTerminal(row.claimer)) {
      throw new ConflictError(
        `execution ${executionId} is ${row.claimer}: a finished execution holds no token`,
      );
    }
    return row.token === null || row.token === undefined ? undefined : toSignal(row as SignalRow);
  }

  /** The token's live holding, or null when no live execution holds it. */
  async get(token: string): Promise<Signal | null> {
    checkText(token, "token", MAX_KEY_BYTES);
    if (this.distributed) {
      const row = await liveHolding(this.context, token);
      return row ? toSignal(row) : null;
    }
    const { rows } = await this.context.db.query<SignalRow>(
      `select ${COLUMNS} from ${this.q}.signals s join ${this.q}.executions e on ${LIVE} where s.token = $1`,
      [token],
    );
    return rows[0] ? toSignal(rows[0]) : null;
  }

  /** The tokens an execution holds, in token order (byte order), a page at a time; none once it finished. */
  async list(executionId: string, options: PageOptions = {}): Promise<Page<Signal>> {
    const id = checkId(executionId, "executionId");
    refuseUnknownKeys(options, PAGE_KEYS);
    const limit = pageLimit(options.limit);
    const after = cursorKey(options.cursor);
    const values: unknown[] = [id, limit + 1];
    // On Citus, the run is checked first: the tokens of a finished run are none.
    if (this.distributed && (await liveRuns(this.context.db, this.q, [id])).size === 0) {
      return toPage([], limit, (row: SignalRow) => row.token, toSignal);
    }
    const { rows } = await this.context.db.query<SignalRow>(
      `select ${COLUMNS} from ${this.q}.signals s ${this.distributed ? "" : `join ${this.q}.executions e on ${LIVE}`}
        where s.execution_id = $1 ${after === undefined ? "" : `and s.token > $${values.push(after)}`}
        order by s.token limit $2`,
      values,
    );
    return toPage(rows, limit, (row) => row.token, toSignal);
  }

  /**
   * The live holdings of every execution (or of one, with `executionId`) in the order they were
   * claimed: oldest first, or newest first with order "desc", a page at a time. A cursor holds the
   * last holding's claim time and token, so a page goes on after it in the index signals_claimed
   * without counting rows.
   */
  async listAll(options: SignalListOptions = {}): Promise<Page<Signal>> {
    refuseUnknownKeys(options, LIST_ALL_KEYS);
    const order = checkOneOf(options.order ?? "asc", ["asc", "desc"], "order");
    const limit = pageLimit(options.limit);
    const values: unknown[] = [limit + 1];
    // Only the conditions that apply are sent: "$n is null or ..." would keep the index from them.
    const conditions: string[] = [];
    if (options.executionId !== undefined) {
      conditions.push(`s.execution_id = $${values.push(checkId(options.executionId, "executionId"))}`);
    }
    if (options.cursor !== undefined && options.cursor !== null) {
      const { at, token } = claimKey(options.cursor);
      const [a, t] = [values.push(at), values.push(token)];
      conditions.push(
        `(s.created_at, s.token) ${order === "asc" ? ">" : "<"} ($${a}::timestamptz, $${t}::text)`,
      );
    }
    const page = (join: string, where: string[], given: unknown[]) =>
      this.context.db.query<SignalRow & { claimed_at: string }>(
        `select ${COLUMNS}, ${CLAIMED_AT} as claimed_at from ${this.q}.signals s ${join}
          ${where.length ? `where ${where.join(" and ")}` : ""}
          order by s.created_at ${order}, s.token ${order} limit $1`,
        given,
      );
    const key = (row: SignalRow & { claimed_at: string }) => JSON.stringify([row.claimed_at, row.token]);
    if (!this.distributed) {
      const { rows } = await page(`join ${this.q}.executions e on ${LIVE}`, conditions, values);
      return toPage(rows, limit, key, toSignal);
    }
    // On Citus: a page of holdings, then which of their runs are live; the holdings of finished runs are
    // left out, and the next holdings read after the last one read, until the page is full.
    const live: (SignalRow & { claimed_at: string })[] = [];
    let after: string[] = [];
    let more: unknown[] = [];
    for (;;) {
      const { rows } = await page("", [...conditions, ...after], [...values, ...more]);
      const running = await liveRuns(
        this.context.db,
        this.q,
        rows.map((row) => row.execution_id),
      );
      live.push(...rows.filter((row) => running.has(row.execution_id)));
      const last = rows[rows.length - 1];
      if (live.length > limit || rows.length <= limit || !last) break;
      const [a, t] = [values.length + 1, values.length + 2];
      after = [`(s.created_at, s.token) ${order === "asc" ? ">" : "<"} ($${a}::timestamptz, $${t}::text)`];
      more = [last.claimed_at, last.token];
    }
    return toPage(live.slice(0, limit + 1), limit, key, toSignal);
  }

  /**
   * Frees the token (only if `executionId` holds it, when given). True when a live holding was
   * released.
   */
  async release(token: string, options: { executionId?: string } = {}): Promise<boolean> {
    checkText(token, "token", MAX_KEY_BYTES);
    refuseUnknownKeys(options, RELEASE_KEYS);
    const id = options.executionId === undefined ? null : checkId(options.executionId, "executionId");
    if (this.distributed) return releaseOnCitus(this.context, token, id);
    const { rows } = await this.context.db.query<{ live: boolean }>(
      `delete from ${this.q}.signals s using ${this.q}.executions e
        where s.token = $1 and ($2::uuid is null or s.execution_id = $2) and e.id = s.execution_id
        returning e.status not in ${TERMINAL_SQL} as live`,
      [token, id],
    );
    return rows[0]?.live === true;
  }

  /**
   * Delivers a payload (JSON, or bytes as a Uint8Array) to the token's live holder: appends it to the
   * holder's history as an event (type "signal", the token as correlation id, unless told otherwise)
   * and NOTIFYs the holder's channel, both with the caller's transaction when there is one. The event
   * goes to the execution holding the token when the delivery runs. No live holder: a NotFoundError,
   * or `{ delivered: false }` with `ifNotHeld: "return"`; nothing is written.
   */
  deliver(
    token: string,
    payload?: unknown,
    options?: SignalDeliverOptions & { ifNotHeld?: "throw" },
  ): Promise<{ delivered: true; event: HistoryEvent }>;
  deliver(token: string, payload: unknown, options: SignalDeliverOptions): Promise<SignalDelivery>;
  async deliver(
    token: string,
    payload?: unknown,
    options: SignalDeliverOptions = {},
  ): Promise<SignalDelivery> {
    checkText(token, "token", MAX_KEY_BYTES);
    refuseUnknownKeys(options, DELIVER_KEYS);
    const ifNotHeld = checkOneOf(options.ifNotHeld ?? "throw", ["throw", "return"], "ifNotHeld");
    const type = checkText(options.type ?? "signal", "type");
    const correlationId =
      options.correlationId === undefined
        ? token
        : optionalText(options.correlationId, "correlationId", MAX_KEY_BYTES);
    const { json, bytes } = optionalPayload(payload, "payload", this.context.limits);
    const columns: AppendColumns = [[type], [json], [bytes], [correlationId]];
    if (this.distributed) {
      const event = await deliverOnCitus(this.context, token, columns);
      if (event) return { delivered: true, event };
      if (ifNotHeld === "return") return { delivered: false };
      throw new NotFoundError("no live execution holds the token");
    }
    // The holder's row is locked (key share) before its head row, as an append locks them.
    const target = `select s.execution_id from ${this.q}.signals s join ${this.q}.executions e on ${LIVE}
       where s.token = $1 for key share of e`;
    const { rows } = await this.context.db.query<EventRow>(
      appendStatement(this.q, target),
      [token, ...appendValues(columns, null, eventsChannelPrefix(this.context.schema))],
      { prepare: true },
    );
    const row = rows[0];
    if (row) return { delivered: true, event: toEvent(row) };
    if (ifNotHeld === "return") return { delivered: false };
    throw new NotFoundError("no live execution holds the token");
  }
}

/** Retention: deletes the signals of these executions; returns how many. */
export async function deleteSignalsOf({ db, q }: SqlContext, executionIds: ExecutionIds): Promise<number> {
  const among = amongIds("execution_id", executionIds);
  return (await db.query(`delete from ${q}.signals where ${among.sql}`, among.params)).rowCount;
}
