/**
 * Mastra's own retention (`retention` in the storage's options, then `storage.prune()`): a batch of
 * rows older than a table's `maxAge` deleted per statement, with what they own. Runs go by their last
 * activity (as @mastra/pg's do), their key, context rows, blobs and execution together; threads by
 * their last activity (a message saved marks it), with their messages and observational memory;
 * messages by when they were made; resources by their last update. flowstore's own `store.prune()` takes finished runs as well.
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
import { blobsOfRunsSql } from "./offloaded.js";
import { DEFINITION_BODY } from "./runs.js";
import type { MastraSql } from "./tables.js";

export const WORKFLOW_RETENTION: RetentionTablesDescriptor = {
  workflowSnapshot: { table: "executions", column: "updated_at", indexed: false },
};

export const MEMORY_RETENTION: RetentionTablesDescriptor = {
  messages: { table: "mastra_messages", column: "created_at", indexed: true },
  resources: { table: "mastra_resources", column: "updated_at", indexed: true },
  threads: { table: "mastra_threads", column: "updated_at", indexed: true },
};

/** Deletes up to $2 rows older than $1 and what they own; returns how many. */
function batchSql(q: string, table: string): string {
  switch (table) {
    case "executions":
      return `with chosen as (
          select e.id, e.idempotency_key from ${q}.executions e
           where e.definition_id = any(array(select id from ${q}.definitions where definition @> '${DEFINITION_BODY}'))
             and e.updated_at < $1
           limit $2 for update skip locked),
        keys as (delete from ${q}.execution_keys k using chosen c where k.idempotency_key = c.idempotency_key),
        parts as (delete from ${q}.component_state p using chosen c where p.execution_id = c.id),
        ${blobsOfRunsSql(q, "chosen")},
        gone as (delete from ${q}.executions e using chosen c where e.id = c.id returning 1)
        select count(*)::int as n from gone`;
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
      const { rows } = await sql.db.query<{ n: number }>(batchSql(sql.q, target.table), [cutoff, limit]);
      return rows[0]?.n ?? 0;
    },
  });
}

/**
 * Deletes runs, their keys, context rows, blobs (entries offloaded) and executions: the run of key $1, or with `range` every run
 * whose key is in [$1, $2).
 */
export function deleteSql(q: string, range = false): string {
  const keys = range ? "idempotency_key >= $1 and idempotency_key < $2" : "idempotency_key = $1";
  return `with run as (
      delete from ${q}.execution_keys where ${keys}
      returning execution_id as id),
    parts as (delete from ${q}.component_state c using run where c.execution_id = run.id),
    ${blobsOfRunsSql(q, "run")},
    gone as (delete from ${q}.executions e using run where e.id = run.id returning e.id)
    select count(*)::int as n from gone`;
}
