/**
 * LangGraph's threads, as flowstore/langgraph keeps them: the threads (newest write first, a page at
 * a time), and a thread's checkpoints with what each says of itself (its step, its source, the
 * channels it holds, the writes pending on it). Channel values are the serializer's bytes and stay out.
 * The tables exist on every migrated store, so a store that never ran a graph shows none.
 */

import { type Store, ValidationError } from "../index.js";

const THREADS_PAGE = 50;
const CHECKPOINTS_SHOWN = 200;

export interface ThreadSummary {
  scope: string;
  threadId: string;
  updatedAt: Date;
  checkpoints: number;
}

export interface CheckpointView {
  namespace: string;
  checkpointId: string;
  parentId: string | null;
  /** When LangGraph made it (its `ts`). */
  createdAt: string | null;
  step: number | null;
  source: string | null;
  /** The channels it holds a version of. */
  channels: string[];
  /** Writes of tasks run from it. */
  writes: number;
  metadata: unknown;
}

/** A page of threads, most recently written first; `after` is the last page's `nextAfter`. */
export async function listThreads(
  store: Store,
  after: string | null,
): Promise<{ items: ThreadSummary[]; nextAfter: string | null }> {
  const from = after === null ? null : decodeAfter(after);
  const s = `"${store.schema}"`;
  // Pages are keyed by the write time in microseconds, exactly (a Date keeps milliseconds).
  const us = "(extract(epoch from t.updated_at) * 1000000)::bigint";
  const { rows } = await store.query<{
    scope: string;
    thread_id: string;
    updated_at: Date;
    at_us: string;
    checkpoints: number;
  }>(
    `select t.scope, t.thread_id, t.updated_at, ${us}::text as at_us,
            (select count(*)::int from ${s}.langgraph_checkpoints c
              where c.scope = t.scope and c.thread_id = t.thread_id) as checkpoints
       from ${s}.langgraph_threads t
      where $1::bigint is null or (${us}, t.scope, t.thread_id) < ($1, $2, $3)
      order by t.updated_at desc, t.scope desc, t.thread_id desc
      limit $4`,
    [from?.atUs ?? null, from?.scope ?? null, from?.threadId ?? null, THREADS_PAGE + 1],
  );
  const page = rows.slice(0, THREADS_PAGE);
  const items = page.map((row) => ({
    scope: row.scope,
    threadId: row.thread_id,
    updatedAt: row.updated_at,
    checkpoints: row.checkpoints,
  }));
  const last = page.at(-1);
  return {
    items,
    nextAfter:
      rows.length > THREADS_PAGE && last ? encodeAfter([last.at_us, last.scope, last.thread_id]) : null,
  };
}

/** One thread's checkpoints, by its saver's scope (`scope`, default none) and its id (`thread`). */
export async function threadView(store: Store, query: URLSearchParams) {
  const scope = query.get("scope") ?? "";
  const threadId = query.get("thread");
  if (!threadId) throw new ValidationError("thread is required", { field: "thread" });
  return { scope, threadId, checkpoints: await threadCheckpoints(store, scope, threadId) };
}

/** A thread's checkpoints, newest first (up to CHECKPOINTS_SHOWN), in every namespace. */
export async function threadCheckpoints(
  store: Store,
  scope: string,
  threadId: string,
): Promise<CheckpointView[]> {
  const s = `"${store.schema}"`;
  const { rows } = await store.query<{
    checkpoint_ns: string;
    checkpoint_id: string;
    parent_id: string | null;
    ts: string | null;
    channels: string[] | null;
    metadata: Record<string, unknown> | null;
    writes: number;
  }>(
    `select c.checkpoint_ns, c.checkpoint_id, c.parent_id, c.checkpoint->>'ts' as ts,
            array(select jsonb_object_keys(coalesce(c.checkpoint->'channel_versions', '{}'::jsonb)) order by 1) as channels,
            c.metadata,
            (select count(*)::int from ${s}.langgraph_writes w
              where w.scope = c.scope and w.thread_id = c.thread_id and w.checkpoint_ns = c.checkpoint_ns
                and w.checkpoint_id = c.checkpoint_id) as writes
       from ${s}.langgraph_checkpoints c
      where c.scope = $1 and c.thread_id = $2
      order by c.checkpoint_id desc, c.checkpoint_ns
      limit $3`,
    [scope, threadId, CHECKPOINTS_SHOWN],
  );
  return rows.map((row) => ({
    namespace: row.checkpoint_ns,
    checkpointId: row.checkpoint_id,
    parentId: row.parent_id,
    createdAt: row.ts,
    step: typeof row.metadata?.step === "number" ? row.metadata.step : null,
    source: typeof row.metadata?.source === "string" ? row.metadata.source : null,
    channels: row.channels ?? [],
    writes: row.writes,
    metadata: row.metadata,
  }));
}

function encodeAfter(last: [string, string, string]): string {
  return Buffer.from(JSON.stringify(last)).toString("base64url");
}

function decodeAfter(after: string): { atUs: string; scope: string; threadId: string } {
  try {
    const [atUs, scope, threadId] = JSON.parse(Buffer.from(after, "base64url").toString()) as unknown[];
    if (
      typeof atUs !== "string" ||
      !/^\d{1,18}$/.test(atUs) ||
      typeof scope !== "string" ||
      typeof threadId !== "string"
    ) {
      throw new Error("not a cursor");
    }
    return { atUs, scope, threadId };
  } catch {
    throw new ValidationError("after is not one a page of threads gave", { field: "after" });
  }
}
