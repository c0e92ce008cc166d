/**
 * The statements of listWorkflowRuns: the WHERE of its filters, a page of runs with their context rows,
 * and its total (unfiltered, from the run counts of migration 0046; filtered, counted).
 */

import { CONTEXT_PART } from "./runs.js";
import { partsOf, RUN_COLUMNS, runsOf, withParts } from "./workflow-sql.js";

export interface ListFilter {
  workflowName?: string;
  status?: string;
  resourceId?: string;
  threadId?: string;
  fromDate?: Date;
  toDate?: Date;
}

/**
 * The WHERE of a list and its parameters, from $1 on: runs of the workflow, or of any; `filtered` when
 * it asks more of them.
 */
export function listWhere(
  q: string,
  filter: ListFilter,
): { where: string; params: unknown[]; filtered: boolean } {
  const params: unknown[] = [];
  const add = (value: unknown) => `$${params.push(value)}`;
  const conditions = filter.workflowName ? [`e.workflow_name = ${add(filter.workflowName)}`] : ["true"];
  if (filter.status) conditions.push(`e.state->>'status' = ${add(filter.status)}`);
  if (filter.resourceId) conditions.push(`e.resource_id = ${add(filter.resourceId)}`);
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
      or exists (select 1 from ${partsOf(q)} c where c.run_id = e.id and (${suspendedIn("c.state")}
        or (c.part_id = '${CONTEXT_PART}input'
          and c.state #>> '{messageListState,memoryInfo,threadId}' = ${thread}))))`);
  }
  if (filter.fromDate) conditions.push(`e.created_at >= ${add(filter.fromDate)}`);
  if (filter.toDate) conditions.push(`e.created_at <= ${add(filter.toDate)}`);
  // Filtered: by more than the workflow.
  return { where: conditions.join(" and "), params, filtered: conditions.length > 1 };
}

/** A page of runs (newest first) with their context rows; $n and $n+1 the limit and offset. */
export function listSql(q: string, where: string, limitAt: number | null): string {
  const page = limitAt === null ? "" : ` limit $${limitAt} offset $${limitAt + 1}`;
  return withParts(
    q,
    `select ${RUN_COLUMNS} from ${runsOf(q)} e where ${where}
      order by e.created_at desc, e.key desc${page}`,
    `"createdAt" desc, key desc`,
  );
}

/** The runs of a workflow ($1), or of every workflow, as their counts hold them (0046). */
export function countedSql(q: string, byWorkflow: boolean): string {
  return `select coalesce(sum(runs), 0)::bigint as total from ${q}.mastra_run_counts${
    byWorkflow ? " where workflow_name = $1" : ""
  }`;
}

export function countSql(q: string, where: string): string {
  return `select count(*)::int as total from ${runsOf(q)} e where ${where}`;
}
