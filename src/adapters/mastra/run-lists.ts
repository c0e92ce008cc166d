/**
 * The statements of listWorkflowRuns: the WHERE of its filters, a page of runs with their context rows,
 * and its total (from the run counts of migration 0044 where it can, else counted).
 */

import { CONTEXT_PART, DEFINITION_BODY, definitionIdOf } from "./runs.js";
import { RUN_COLUMNS, withParts } from "./workflow-sql.js";

export interface ListFilter {
  workflowName?: string;
  status?: string;
  resourceId?: string;
  threadId?: string;
  fromDate?: Date;
  toDate?: Date;
}

/**
 * The WHERE of a list and its parameters, from $1 on: executions of the workflow's definition, or of
 * any Mastra workflow's; `filtered` when it asks more of them.
 */
export function listWhere(
  q: string,
  filter: ListFilter,
): { where: string; params: unknown[]; filtered: boolean } {
  const params: unknown[] = [];
  const add = (value: unknown) => `$${params.push(value)}`;
  const conditions = filter.workflowName
    ? [`e.definition_id = ${add(definitionIdOf(filter.workflowName))}`]
    : [
        `e.definition_id = any(array(select id from ${q}.definitions where definition @> '${DEFINITION_BODY}'))`,
        "left(e.idempotency_key, 8) = 'mastra:['",
      ];
  if (filter.status) conditions.push(`e.state->>'status' = ${add(filter.status)}`);
  if (filter.resourceId) conditions.push(`e.metadata #>> '{mastra,resourceId}' = ${add(filter.resourceId)}`);
  if (filter.threadId) {
    // Where Mastra's getSnapshotMemoryInfo finds a run's thread: a suspended step's stream state, or
    // the input's message list; in an entry of the state or in a row (runs.ts). A row in the blob store
    // keeps these paths beside its reference.
    const thread = add(filter.threadId);
    const suspendedIn = (entry: string) =>
      `(${entry}->>'status' = 'suspended'
        and ${entry} #>> '{suspendPayload,__streamState,messageList,memoryInfo,threadId}' = ${thread})`;
    conditions.push(`(e.state #>> '{context,input,messageListState,memoryInfo,threadId}' = ${thread}
      or exists (select 1 from jsonb_each(case when jsonb_typeof(e.state->'context') = 'object'
                   then e.state->'context' end) x where ${suspendedIn("x.value")})
      or exists (select 1 from ${q}.component_state c where c.execution_id = e.id and (${suspendedIn("c.state")}
        or (c.component_id = '${CONTEXT_PART}input'
          and c.state #>> '{messageListState,memoryInfo,threadId}' = ${thread}))))`);
  }
  if (filter.fromDate) conditions.push(`e.created_at >= ${add(filter.fromDate)}`);
  if (filter.toDate) conditions.push(`e.created_at <= ${add(filter.toDate)}`);
  // Filtered: by more than the workflow (or, with none given, more than being Mastra's).
  return {
    where: conditions.join(" and "),
    params,
    filtered: conditions.length > (filter.workflowName ? 1 : 2),
  };
}

/** A page of runs (newest first) with their context rows; $n and $n+1 the limit and offset. */
export function listSql(q: string, where: string, limitAt: number | null): string {
  const page = limitAt === null ? "" : ` limit $${limitAt} offset $${limitAt + 1}`;
  return withParts(
    q,
    `select ${RUN_COLUMNS} from ${q}.executions e where ${where}
      order by e.created_at desc, e.id desc${page}`,
    `"createdAt" desc, id desc`,
  );
}

/** The runs of a workflow ($1, its definition), or of every workflow, as their counts hold them (0044). */
export function countedSql(q: string, byWorkflow: boolean): string {
  return `select coalesce(sum(runs), 0)::bigint as total from ${q}.mastra_run_counts${
    byWorkflow ? " where definition_id = $1" : ""
  }`;
}

export function countSql(q: string, where: string): string {
  return `select count(*)::int as total from ${q}.executions e where ${where}`;
}
