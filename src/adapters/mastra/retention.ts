/**
 * Mastra's own retention (`retention` in the storage's options, then `storage.prune()`): a batch of
 * rows older than a table's `maxAge` deleted per statement, with what they own. Runs go by their last
 * activity (as @mastra/pg's do), with their context rows and blobs; threads by their last activity (a
 * message saved marks it), with their messages and observational memory; messages by when they were
 * made; resources by their last update.
 */

import {
  executeRetentionPrune,
  type PruneOptions,
  type PruneResult,
  type RetentionTablesDescriptor,
  resolveRetentionTargets,
  retentionCutoffMs,
  type TableRetentionPolicy,
} from "@mastra/core/storage";
import type { StoreScope } from "../../index.js";
import { deleteMastraRunHoldings } from "../../retention/index.js";
import type { MastraSql } from "./tables.js";
import { runsOf } from "./workflow-sql.js";

export const WORKFLOW_RETENTION: RetentionTablesDescriptor = {
  workflowSnapshot: { table: "mastra_runs", column: "updated_at", indexed: false },
};

export const MEMORY_RETENTION: RetentionTablesDescriptor = {
  messages: { table: "mastra_messages", column: "created_at", indexed: true },
  resources: { table: "mastra_resources", column: "updated_at", indexed: true },
  threads: { table: "mastra_threads", column: "updated_at", indexed: true },
};

/** Deletes up to $2 rows older than $1 and what they own; returns how many. */
function batchSql(q: string, table: string): string {
  switch (table) {
    case "mastra_threads":
      return `with chosen as (
          select id from ${q}.mastra_threads where updated_at < $1 order by updated_at limit $2 for update skip locked),
        messages as (delete from ${q}.mastra_messages m using chosen c where m.thread_id = c.id),
        observations as (delete from ${q}.mastra_observational_memory o using chosen c
          where o.lookup_key = 'thread:' || c.id),
        gone as (delete from ${q}.mastra_threads t using chosen c where t.id = c.id returning 1)
        select count(*)::int as n from gone`;
    default:
      return `with gone as (
          delete from ${q}.${table} where id in (
            select id from ${q}.${table} where ${MEMORY_COLUMN[table]} < $1 order by ${MEMORY_COLUMN[table]} limit $2
            for update skip locked)
          returning 1)
        select count(*)::int as n from gone`;
  }
}

const MEMORY_COLUMN: Record<string, string> = {
  mastra_messages: "created_at",
  mastra_resources: "updated_at",
};

/** Mastra's prune of one domain, `order` the tables' keys in the order they go. */
export function pruneDomain(
  sql: MastraSql,
  domain: string,
  descriptor: RetentionTablesDescriptor,
  order: string[],
  policies: Record<string, TableRetentionPolicy>,
  options?: PruneOptions,
): Promise<PruneResult[]> {
  const targets = resolveRetentionTargets({ policies, descriptor, order });
  return executeRetentionPrune({
    domain,
    targets,
    options,
    cutoffFor: (target, now) => new Date(retentionCutoffMs(target.policy, now)),
    deleteBatch: async (target, cutoff, limit) => {
      if (target.table === "mastra_runs") {
        const idle = `e.key in (select key from ${runsOf(sql.q)} where updated_at < $1 limit $2 for update skip locked)`;
        return deleteRuns(sql.db, sql.q, idle, [cutoff, limit]);
      }
      const { rows } = await sql.db.query<{ n: number }>(batchSql(sql.q, target.table), [cutoff, limit]);
      return rows[0]?.n ?? 0;
    },
  });
}

/**
 * Deletes the runs `where` chooses (of runs `e`, with `params`), with their context rows and blobs
 * (entries offloaded); returns how many went. The rows and blobs go by a second statement of the same
 * transaction, which sees what a writer the first waited on wrote: the first's own snapshot, taken
 * before it waited, would miss a context row that writer made, and leave it to no run for good.
 */
export function deleteRuns(
  db: Pick<StoreScope, "transaction">,
  q: string,
  where: string,
  params: unknown[],
): Promise<number> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      `delete from ${runsOf(q)} e where ${where} returning e.id`,
      params,
    );
    if (rows.length > 0) {
      await deleteMastraRunHoldings(
        tx,
        q,
        rows.map((row) => row.id),
      );
    }
    return rows.length;
  });
}
