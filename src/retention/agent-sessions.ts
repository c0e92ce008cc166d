/**
 * The OpenAI Agents SDK's conversation sessions (flowstore/openai-agents) idle since before a prune's
 * cut: no item added or cleared since. Each goes whole (items, the blobs of its offloaded items,
 * recorded history transactions, the session row), a batch a statement. A session being written at that
 * moment holds its row's lock and is skipped (SKIP LOCKED); its write then moves it past the cut. An
 * append that waited on a session as it went starts the session again, its items kept.
 */

import { namedBlobsDeletedSql } from "../blobs/index.js";
import type { SqlContext } from "../core/context.js";
import { referencedKeySql } from "../offload/index.js";

/** Deletes up to `batchSize` idle sessions with all they hold; returns how many went. */
export async function deleteIdleSessions(
  context: SqlContext,
  before: Date,
  batchSize: number,
): Promise<number> {
  const { q } = context;
  const { rows } = await context.db.query<{ n: number }>(
    `with idle as (
       select id from ${q}.agent_sessions where updated_at < $1
        order by updated_at limit $2 for update skip locked),
     items as (delete from ${q}.agent_session_items i using idle where i.session_id = idle.id
       returning ${referencedKeySql("i.item")} as blob_key),
     ${namedBlobsDeletedSql(q, "items")},
     operations as (delete from ${q}.agent_session_operations o using idle where o.session_id = idle.id),
     gone as (delete from ${q}.agent_sessions s using idle where s.id = idle.id returning 1)
     select count(*)::int as n from gone`,
    [before, batchSize],
  );
  return rows[0]?.n ?? 0;
}
