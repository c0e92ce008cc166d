/**
 * Mastra's workflow runs (flowstore/mastra, migration 0046's mastra_runs) finished before a prune's cut:
 * a run whose snapshot's status is a final one of the statuses the prune takes, not written since. Each
 * goes whole (its context rows, the blobs of its offloaded entries, its row, its count by trigger), a
 * batch a statement. A run being written at that moment holds its row's lock and is skipped (SKIP
 * LOCKED). Mastra's own retention (the storage's `prune()`) removes runs by their last activity too.
 */

import type { SqlContext } from "../core/context.js";
import { deleteMastraRunHoldings } from "./mastra-tables.js";

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
  // before it. Its rows and blobs go by a second statement (deleteMastraRunHoldings).
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
    await deleteMastraRunHoldings(
      db,
      q,
      rows.map((row) => row.id),
    );
    return rows.length;
  });
}
