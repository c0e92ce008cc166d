/**
 * Task writes that append to their execution's history share statements when made outside a
 * transaction (core/write-batch.ts): a hundred workflows each completing a step at once cost one update of
 * a hundred tasks, one bump of a hundred history heads and one insert of their events, in one round
 * trip and one commit, instead of a hundred (history/batch.ts). A write the batch left out (a taken
 * id, another version or status, a finished or missing execution) runs alone, which answers it as if
 * it had gone alone; so does every write of a batch that failed because another execution took one
 * write's id meanwhile.
 *
 * Rows are found by probes of their keys (lateral, limit 1), never by joining a table with the batch:
 * a plan cached while a table was small would go on scanning it whole (see executions/batch.ts).
 */

import type { StoreContext } from "../core/context.js";
import { TERMINAL_SQL } from "../core/run-status.js";
import type { WriteBatcher } from "../core/write-batch.js";
import {
  type BatchWritten,
  type HistoryWrite,
  historyBatcher,
  historyTail,
  probedRows,
} from "../history/index.js";
import { registerIds } from "./ids.js";
import { COLUMNS } from "./records.js";
import type { Task } from "./types.js";

/** A new task: its columns in the order of createTaskStatement's first fourteen parameters. */
export interface TaskCreate extends HistoryWrite {
  values: unknown[];
  executionId: string;
  parentId: string | null;
}

/** A change of one task: the patch's values, in the order of the batcher's columns. */
export interface TaskChange extends HistoryWrite {
  taskExecId: string;
  expectedVersion: number | null;
  expectedStatus: string[] | null;
  values: unknown[];
}

const CREATED_COLUMNS = `task_exec_id uuid, task_id text, workflow_id text, status text, execution_type text,
  agent_id text, tool_id text, input text, output text, error text, attempt int, started_at timestamptz,
  completed_at timestamptz, retry_at timestamptz`;

export function createBatcher(context: StoreContext): WriteBatcher<TaskCreate, BatchWritten<Task>> {
  const q = context.q;
  const columns = CREATED_COLUMNS.split(",").map((c) => c.trim().split(" ")[0] as string);
  const sql = `with b as (
      select * from jsonb_to_recordset($1::jsonb)
        as b(n int, ${CREATED_COLUMNS}, execution_id uuid, parent_id uuid, events jsonb, after bigint)),
    inserted as (
      insert into ${q}.tasks (${columns.join(", ")}, execution_id, parent_id)
      select ${columns.map((c) => (["input", "output", "error"].includes(c) ? `b.${c}::jsonb` : `b.${c}`)).join(", ")},
             live.id, b.parent_id
        from (select * from b order by execution_id) b
        cross join lateral (
          select e.id from ${q}.executions e
           where e.id = b.execution_id and e.status not in ${TERMINAL_SQL} limit 1 for share of e) live
       -- Held by no execution: a scalar subquery, one probe of task_ids per write, never a join.
       where (select r.task_exec_id from ${q}.task_ids r where r.task_exec_id = b.task_exec_id) is null
      on conflict (task_exec_id, execution_id) do nothing
      returning ${COLUMNS}),
    -- An id another execution took while the statement ran fails the batch, whose writes then go alone
    -- (core/write-batch.ts).
    ${registerIds(q, "inserted")},
    written as (
      select w.*, b.n as "batch.n" from inserted w join b on b.task_exec_id = w."taskExecId"),
    ${historyTail(q, '"executionId"')}`;
  return historyBatcher(
    context,
    sql,
    (input) => ({
      ...Object.fromEntries(columns.map((column, i) => [column, input.values[i]])),
      execution_id: input.executionId,
      parent_id: input.parentId,
    }),
    (input) => input.values[0] as string,
  );
}

/**
 * A batcher of changes that set `fields` (columns with their SQL types), the same in every write of
 * the batch: an update is batched with the updates of the same shape.
 */
export function changeBatcher(
  context: StoreContext,
  fields: Array<[column: string, type: string]>,
): WriteBatcher<TaskChange, BatchWritten<Task>> {
  const q = context.q;
  const t = `${q}.tasks`;
  const values = fields.map(([column], i) => `v${i} ${column === "attempt" ? "int" : "text"}`);
  const sql = `with b as (
      select * from jsonb_to_recordset($1::jsonb)
        as b(n int, task uuid, expected bigint, statuses jsonb, events jsonb, after bigint
             ${values.map((v) => `, ${v}`).join("")})),
    -- The batch's columns are named apart from the table's, which returning names bare.
    written as (
      update ${t} t
         set ${fields.map(([column, type], i) => `${column} = b.v${i}::${type}`).join(", ")},
             version = t.version + 1, updated_at = now()
        -- The version and status are checked by the probe (see probedRows).
        ${probedRows(t, "task_exec_id", "task", [
          "(b.expected is null or x.version = b.expected)",
          "(b.statuses is null or b.statuses ? x.status)",
        ])}
       where t.ctid = probe.found
      returning ${COLUMNS}, b.n as "batch.n"),
    ${historyTail(q, '"executionId"')}`;
  return historyBatcher(
    context,
    sql,
    (input) => ({
      task: input.taskExecId,
      expected: input.expectedVersion,
      statuses: input.expectedStatus,
      ...Object.fromEntries(input.values.map((value, i) => [`v${i}`, value])),
    }),
    (input) => input.taskExecId,
  );
}
