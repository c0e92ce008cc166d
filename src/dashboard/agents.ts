/**
 * The OpenAI Agents SDK's state as flowstore/openai-agents keeps it: the conversation sessions (newest
 * write first, a page at a time, as LangGraph's threads are shown), a session's newest items, and the
 * runs paused on tool approvals with the calls each still waits on (oldest first: the longest waiting
 * at the top). Read from the tables alone, as threads.ts reads LangGraph's: the SDK need not be
 * installed where the dashboard runs.
 */

import { isUuid, type Store, ValidationError } from "../index.js";
import { referenceOf } from "../offload/index.js";

const SESSIONS_PAGE = 50;
const ITEMS_SHOWN = 200;
const RUNS_PAGE = 50;

export interface SessionSummary {
  sessionId: string;
  items: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface SessionItemView {
  position: number;
  /**
   * The item's role (a message) or type (a tool call, its output, a reasoning item...); "offloaded" for
   * an item kept in the blob store (its row holds a reference, `item`), which a page does not fetch.
   */
  kind: string;
  /** Its text, where it has some: a message's text, a call's name and arguments, an output. */
  text: string;
  item: unknown;
}

/** A page of sessions, most recently written first; `after` is the last page's `nextAfter`. */
export async function listSessions(
  store: Store,
  after: string | null,
): Promise<{ items: SessionSummary[]; nextAfter: string | null }> {
  const from = after === null ? null : decodeAfter(after);
  const s = `"${store.schema}"`;
  // Pages are keyed by the write time in microseconds, exactly (a Date keeps milliseconds).
  const us = "(extract(epoch from t.updated_at) * 1000000)::bigint";
  const { rows } = await store.query<{
    id: string;
    created_at: Date;
    updated_at: Date;
    at_us: string;
    items: number;
  }>(
    `select t.id, t.created_at, t.updated_at, ${us}::text as at_us,
            (select count(*)::int from ${s}.agent_session_items i where i.session_id = t.id) as items
       from ${s}.agent_sessions t
      where $1::bigint is null or (${us}, t.id) < ($1, $2::text collate "C")
      order by t.updated_at desc, t.id desc
      limit $3`,
    [from?.atUs ?? null, from?.id ?? null, SESSIONS_PAGE + 1],
  );
  const page = rows.slice(0, SESSIONS_PAGE);
  const last = page.at(-1);
  return {
    items: page.map((row) => ({
      sessionId: row.id,
      items: row.items,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    })),
    nextAfter:
      rows.length > SESSIONS_PAGE && last
        ? Buffer.from(JSON.stringify([last.at_us, last.id])).toString("base64url")
        : null,
  };
}

/** A session's newest items (up to ITEMS_SHOWN), in order, with how many it holds in all. */
export async function sessionItems(
  store: Store,
  sessionId: string,
): Promise<{ sessionId: string; total: number; items: SessionItemView[] }> {
  const s = `"${store.schema}"`;
  const { rows } = await store.query<{ position: string; item: string; total: number }>(
    `select position, item, (select count(*)::int from ${s}.agent_session_items where session_id = $1) as total
       from (select position, item from ${s}.agent_session_items where session_id = $1
              order by position desc limit $2) newest
      order by position`,
    [sessionId, ITEMS_SHOWN],
  );
  return {
    sessionId,
    total: rows[0]?.total ?? 0,
    items: rows.map((row) => describeItem(Number(row.position), JSON.parse(row.item))),
  };
}

export interface WaitingRun {
  id: string;
  agentName: string;
  sessionId: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  /** Its calls in order, each with its decision (null while waiting). */
  approvals: {
    callId: string;
    toolName: string;
    arguments: string | null;
    decision: string | null;
    always: boolean;
    message: string | null;
    decidedBy: string | null;
  }[];
}

/** Runs paused on approvals, oldest first, with their calls; `after` is the last page's last run id. */
export async function pendingApprovals(
  store: Store,
  after: string | null,
): Promise<{ items: WaitingRun[]; nextAfter: string | null }> {
  if (after !== null && !isUuid(after)) {
    throw new ValidationError("after is not one a page of paused runs gave", { field: "after" });
  }
  const s = `"${store.schema}"`;
  const { rows } = await store.query<
    Omit<WaitingRun, "approvals"> & { approvals: WaitingRun["approvals"] | string }
  >(
    `select r.id, r.agent_name as "agentName", r.session_id as "sessionId", r.created_at as "createdAt",
            r.expires_at as "expiresAt",
            (select json_agg(json_build_object('callId', a.call_id, 'toolName', a.tool_name,
                      'arguments', a.arguments, 'decision', a.decision, 'always', a.always,
                      'message', a.message, 'decidedBy', a.decided_by) order by a.position)
               from ${s}.agent_run_approvals a where a.run_id = r.id) as approvals
       from ${s}.agent_paused_runs r
      where r.status = 'paused'
        and ($1::uuid is null or (r.created_at, r.id) > (select created_at, id from ${s}.agent_paused_runs where id = $1))
      order by r.created_at, r.id
      limit $2`,
    [after, RUNS_PAGE + 1],
  );
  const items = rows.slice(0, RUNS_PAGE).map((row) => ({
    ...row,
    approvals: (typeof row.approvals === "string" ? JSON.parse(row.approvals) : row.approvals) ?? [],
  }));
  return { items, nextAfter: rows.length > RUNS_PAGE ? (items.at(-1)?.id ?? null) : null };
}

export type AgentsView = "sessions" | "session" | "approvals";

/** What one of the agents page's requests asks for: ?after= for a page, ?session= for one session. */
export function agentsView(store: Store, view: AgentsView, query: URLSearchParams): Promise<unknown> {
  const after = query.get("after") || null;
  if (view === "sessions") return listSessions(store, after);
  if (view === "approvals") return pendingApprovals(store, after);
  const sessionId = query.get("session");
  if (!sessionId) throw new ValidationError("session is required", { field: "session" });
  return sessionItems(store, sessionId);
}

function describeItem(position: number, item: unknown): SessionItemView {
  const reference = referenceOf(item);
  if (reference) {
    return { position, kind: "offloaded", text: `in the blob store, ${reference.bytes} bytes`, item };
  }
  const value = (item ?? {}) as Record<string, unknown>;
  const kind = String(value.role ?? value.type ?? "item");
  let text = "";
  if (typeof value.content === "string") text = value.content;
  else if (Array.isArray(value.content)) {
    text = value.content
      .map(
        (part) =>
          (part as { text?: unknown; refusal?: unknown })?.text ?? (part as { refusal?: unknown })?.refusal,
      )
      .filter((part) => typeof part === "string")
      .join(" ");
  } else if (typeof value.name === "string") {
    text = `${value.name}(${typeof value.arguments === "string" ? value.arguments : ""})`;
  } else if (value.output !== undefined) {
    const output = value.output as { text?: unknown } | string;
    text =
      typeof output === "string"
        ? output
        : typeof output?.text === "string"
          ? output.text
          : JSON.stringify(output);
  }
  return { position, kind, text, item };
}

function decodeAfter(after: string): { atUs: string; id: string } {
  try {
    const [atUs, id] = JSON.parse(Buffer.from(after, "base64url").toString()) as unknown[];
    if (typeof atUs !== "string" || !/^\d{1,18}$/.test(atUs) || typeof id !== "string") {
      throw new Error("not a cursor");
    }
    return { atUs, id };
  } catch {
    throw new ValidationError("after is not one a page of sessions gave", { field: "after" });
  }
}
