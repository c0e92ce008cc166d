/**
 * Mastra's workflow runs as the store itself sees them (migration 0046's mastra_runs and
 * mastra_run_parts, written by flowstore/mastra): how a run's key is made and read back, where a run's
 * offloaded entries are in the blob store, and the deletion of what a run holds beside its row. The
 * adapter, the store's prune and the dashboard all go by these; none of them reads the adapter's files
 * (a core area never does), so the layout is said here once.
 */

import { releasedContentSql } from "../blobs/index.js";
import type { Queryable } from "../db/driver.js";
import { offloadPrefix, offloadRangeSql } from "../offload/index.js";

/**
 * A run's key: Mastra names a run by its workflow and its id. The id comes first, as JSON, so that
 * every key of one run id shares a prefix (see the adapter's runIdRange) whatever the workflow.
 */
export function mastraRunKey(workflowName: string, runId: string): string {
  return `mastra:[${JSON.stringify(runId)},${JSON.stringify(workflowName)}]`;
}

/** The run id of a run's key (mastraRunKey). */
export function mastraRunIdOf(key: string): string {
  return (JSON.parse(key.slice("mastra:".length)) as [string, string])[0];
}

/** The blob keys of a run's offloaded context entries, by the id it was made with. */
export function mastraBlobPrefix(runId: string): string {
  return offloadPrefix(runId, "mastra");
}

/**
 * Deletes the context rows and the offloaded entries' blobs of the runs `ids`, whose rows `db` (a
 * transaction) deleted by an earlier statement: this one sees what a writer that statement waited on
 * made since its snapshot, which the first, its snapshot taken before it waited, would have missed and
 * left to no run for good.
 */
export async function deleteMastraRunHoldings(
  db: Pick<Queryable, "query">,
  q: string,
  ids: readonly string[],
): Promise<void> {
  const [from, to] = offloadRangeSql("runs.id", "mastra");
  await db.query(
    `with runs as (select unnest($1::uuid[]) as id),
     parts as (delete from ${q}.mastra_run_parts p where p.run_id = any($1::uuid[])),
     blobs as (delete from ${q}.blobs b using runs
        where b.key >= ${from} collate "C" and b.key < ${to} collate "C"
       returning b.id, b.backend, b.location),
     ${releasedContentSql(q, "blobs")}
     select 1`,
    [ids],
  );
}
