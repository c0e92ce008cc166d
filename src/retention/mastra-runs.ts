/**
 * Mastra's workflow runs (flowstore/mastra, migration 0046's mastra_runs) finished before a prune's cut:
 * a run whose snapshot's status is a final one of the statuses the prune takes, not written since. Each
 * goes whole (its context rows, the blobs of its offloaded entries, its row, its count by trigger), a
 * batch a statement. A run being written at that moment holds its row's lock and is skipped (SKIP
 * LOCKED). Mastra's own retention (the storage's `prune()`) removes runs by their last activity too.
 */

import { releasedContentSql } from "../blobs/index.js";
import type { SqlContext } from "../core/context.js";

/** Mastra's final statuses, by the status of flowstore's lifecycle each is (a prune's `statuses`). */
const FINAL: Record<string, string[]> = {
  completed: ["success", "completed", "bailed", "skipped"],
  failed: ["failed", "tripwire"],
  cancelled: ["canceled", "cancelled"],
};

/** Deletes up to `batchSize` finished runs with all they hold; returns how many went. */
export async function deleteFinishedMastraRuns(
  context: SqlContext,
  before: Date,
  statuses: readonly string[],
  batchSize: number,
): Promise<number> {
  const { q } = context;
  const final = statuses.flatMap((status) => FINAL[status] ?? []);
  if (final.length === 0) return 0;
  // Oldest first through the runs' index by creation time: a run written last before the cut was made
  // before it. Its rows and blobs (found by their keys' prefix, src/adapters/mastra/offloaded.ts) go by
  // a second statement, which sees what a writer the first waited on made since its snapshot.
  return context.db.transaction(async (db) => {
    const { rows } = await db.query<{ id: string }>(
      `delete from ${q}.mastra_runs e where e.key in (
         select key from ${q}.mastra_runs
          where created_at < $1 and updated_at < $1 and state->>'status' = any($2::text[])
          order by created_at, key limit $3 for update skip locked)
       returning e.id`,
      [before, final, batchSize],
    );
    if (rows.length === 0) return 0;
    await db.query(
      `with runs as (select unnest($1::uuid[]) as id),
       parts as (delete from ${q}.mastra_run_parts p where p.run_id = any($1::uuid[])),
       blobs as (delete from ${q}.blobs b using runs
          where b.key >= 'flowstore:offloaded/' || runs.id::text || '/mastra/' collate "C"
            and b.key < 'flowstore:offloaded/' || runs.id::text || '/mastra0' collate "C"
         returning b.id, b.backend, b.location),
       ${releasedContentSql(q, "blobs")}
       select 1`,
      [rows.map((row) => row.id)],
    );
    return rows.length;
  });
}
