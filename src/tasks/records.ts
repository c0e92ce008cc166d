/**
 * What the task statements share: the columns they return, the checks of a task record laid out one
 * array per column (for unnest), the whole-record write behind upsert and upsertMany, and the checks
 * of a partial update.
 */

import { NotFoundError, ValidationError } from "../core/errors.js";
import {
  checkDistinct,
  checkInteger,
  checkOneOf,
  idOrNew,
  optionalDate,
  optionalText,
  refuseUnknownKeys,
} from "../core/input.js";
import { checkText, type PayloadLimits, toJsonOrNull } from "../core/payload.js";
import { RUN_STATUSES, TERMINAL_SQL } from "../core/run-status.js";
import type { Queryable } from "../db/driver.js";
import { registerIds, rethrowTaken } from "./ids.js";
import {
  CHILD_KEYS,
  type ChildTask,
  RECORD_KEYS,
  type Task,
  type TaskPatch,
  type TaskRecord,
} from "./types.js";

export const COLUMNS = `task_exec_id as "taskExecId", task_id as "taskId", execution_id as "executionId",
  workflow_id as "workflowId", status, execution_type as "executionType", parent_id as "parentId",
  agent_id as "agentId", tool_id as "toolId", input, output, error, attempt, version,
  created_at as "createdAt", updated_at as "updatedAt", started_at as "startedAt",
  completed_at as "completedAt", retry_at as "retryAt"`;

/** A checked batch of tasks, one array per column, in the order of createChildren's unnest. */
export interface Columns {
  taskExecId: string[];
  taskId: string[];
  workflowId: (string | null)[];
  status: string[];
  executionType: string[];
  agentId: (string | null)[];
  toolId: (string | null)[];
  input: (string | null)[];
  output: (string | null)[];
  error: (string | null)[];
  attempt: number[];
  startedAt: (Date | null)[];
  completedAt: (Date | null)[];
  retryAt: (Date | null)[];
}

/** Checks every task and lays the batch out as one array per column, for unnest. */
export function taskColumns(
  tasks: readonly (ChildTask | TaskRecord)[],
  limits: PayloadLimits,
  children = false,
): Columns {
  tasks.forEach((task, i) => {
    const what = tasks.length === 1 ? "" : `${children ? "children" : "tasks"}[${i}]`;
    refuseUnknownKeys(task, children ? CHILD_KEYS : RECORD_KEYS, what);
  });
  const c: Columns = {
    taskExecId: [],
    taskId: [],
    workflowId: [],
    status: [],
    executionType: [],
    agentId: [],
    toolId: [],
    input: [],
    output: [],
    error: [],
    attempt: [],
    startedAt: [],
    completedAt: [],
    retryAt: [],
  };
  const json = (value: unknown, field: string) => toJsonOrNull(value, field, limits);
  for (const task of tasks) {
    c.taskExecId.push(idOrNew(task.taskExecId, "taskExecId"));
    c.taskId.push(checkText(task.taskId, "taskId", 1024));
    c.workflowId.push(optionalText(task.workflowId, "workflowId", 1024));
    c.status.push(checkOneOf(task.status ?? "pending", RUN_STATUSES, "status"));
    c.executionType.push(checkText(task.executionType ?? "basic", "executionType"));
    c.agentId.push(optionalText(task.agentId, "agentId", 1024));
    c.toolId.push(optionalText(task.toolId, "toolId", 1024));
    c.input.push(json(task.input, "input"));
    c.output.push(json(task.output, "output"));
    c.error.push(json(task.error, "error"));
    c.attempt.push(checkInteger(task.attempt ?? 1, "attempt", 0));
    c.startedAt.push(optionalDate(task.startedAt, "startedAt"));
    c.completedAt.push(optionalDate(task.completedAt, "completedAt"));
    c.retryAt.push(optionalDate(task.retryAt, "retryAt"));
  }
  checkDistinct(c.taskExecId, "taskExecId");
  return c;
}

/**
 * Inserts each task, or overwrites every field of the one with its taskExecId in its execution. A task
 * whose id another execution holds is left out (no row for it), as the old key's conflict clause
 * did, so that a caller's transaction goes on; an id another execution took while this statement ran
 * fails it instead: a ConflictError with `taken` as its message, and nothing written.
 */
export async function writeTasks(
  db: Queryable,
  q: string,
  c: Columns,
  executionIds: string[],
  parentIds: (string | null)[],
  taken: string,
  distributed: boolean,
): Promise<Task[]> {
  // Its holder, if any, is its execution. A scalar subquery is one probe of task_ids per task: never a
  // join the planner could turn into a scan of the table (see core/planned-few.ts). Citus cannot plan
  // a subquery correlated with an unnest; there the registry is joined (its own shard per id).
  const held = distributed
    ? `left join ${q}.task_ids r on r.task_exec_id = u.task_exec_id
          where coalesce(r.execution_id, u.execution_id) = u.execution_id`
    : `where coalesce((select r.execution_id from ${q}.task_ids r where r.task_exec_id = u.task_exec_id),
                         u.execution_id) = u.execution_id`;
  const { rows } = await db
    .query<Task>(
      `with written as (
         insert into ${q}.tasks as t (task_exec_id, task_id, execution_id, workflow_id, status,
           execution_type, parent_id, agent_id, tool_id, input, output, error, attempt,
           started_at, completed_at, retry_at)
         select u.* from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                              $7::uuid[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[],
                              $13::int[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[])
                         as u(task_exec_id, task_id, execution_id)
          ${held}
         on conflict (task_exec_id, execution_id) do update set
           task_id = excluded.task_id, workflow_id = excluded.workflow_id, status = excluded.status,
           execution_type = excluded.execution_type, parent_id = excluded.parent_id,
           agent_id = excluded.agent_id, tool_id = excluded.tool_id, input = excluded.input,
           output = excluded.output, error = excluded.error, attempt = excluded.attempt,
           started_at = excluded.started_at, completed_at = excluded.completed_at,
           -- The proposed row's time (its default, now()): Citus refuses a call of now() here.
           retry_at = excluded.retry_at, version = t.version + 1, updated_at = excluded.updated_at
         returning ${COLUMNS}),
       -- A task this statement inserted is at version 1, one it overwrote past it: only new ids register.
       ${registerIds(q, "written", "where version = 1")}
       select * from written`,
      [
        c.taskExecId,
        c.taskId,
        executionIds,
        c.workflowId,
        c.status,
        c.executionType,
        parentIds,
        c.agentId,
        c.toolId,
        c.input,
        c.output,
        c.error,
        c.attempt,
        c.startedAt,
        c.completedAt,
        c.retryAt,
      ],
      // Fixed text, and the upsert is a hot path: planned once per connection.
      { prepare: true },
    )
    .catch(rethrowTaken(taken))
    .catch(rethrowMissingExecution);
  return rows;
}

/**
 * Inserts one task unless its taskExecId is taken or its execution is missing or finished (then it
 * returns no row); an id another execution took while the statement ran fails the statement that
 * registers it (registerIds, sent alongside). The execution is locked (share) so that it cannot finish
 * meanwhile. Parameters: the columns of one task in the order of `Columns`, then its execution ($15)
 * and parent ($16).
 */
export function createTaskStatement(q: string): string {
  return `insert into ${q}.tasks (task_exec_id, task_id, workflow_id, status, execution_type, agent_id, tool_id,
       input, output, error, attempt, started_at, completed_at, retry_at, execution_id, parent_id)
     select $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::jsonb, $9::jsonb,
            $10::jsonb, $11::int, $12::timestamptz, $13::timestamptz, $14::timestamptz, e.id, $16::uuid
       from ${q}.executions e where e.id = $15::uuid and e.status not in ${TERMINAL_SQL}
        and not exists (select 1 from ${q}.task_ids r where r.task_exec_id = $1::uuid)
        for share of e
     on conflict (task_exec_id, execution_id) do nothing
     returning ${COLUMNS}`;
}

/**
 * Inserts the children of the parent task $1 in one statement, taking its execution and workflow;
 * $2..$15 are the columns of taskColumns, in its order; $16 the execution the children name (null:
 * none); `onShard` a condition on the parent's execution, on Citus. No row when the parent is missing
 * or in another execution than $16.
 */
export function createChildrenStatement(q: string, onShard = ""): string {
  // The target has an alias of its own: without one, Citus sends its RETURNING to a worker naming the
  // table by its name, which the shard's name has replaced there ("missing FROM-clause entry").
  return `with written as (
     insert into ${q}.tasks as t (task_exec_id, task_id, execution_id, workflow_id, status,
       execution_type, parent_id, agent_id, tool_id, input, output, error, attempt, started_at,
       completed_at, retry_at)
     select u.task_exec_id, u.task_id, p.execution_id, coalesce(u.workflow_id, p.workflow_id),
       u.status, u.execution_type, p.task_exec_id, u.agent_id, u.tool_id, u.input, u.output,
       u.error, u.attempt, u.started_at, u.completed_at, u.retry_at
     from ${q}.tasks p,
       unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
              $9::jsonb[], $10::jsonb[], $11::jsonb[], $12::int[], $13::timestamptz[],
              $14::timestamptz[], $15::timestamptz[])
         as u(task_exec_id, task_id, workflow_id, status, execution_type, agent_id, tool_id,
              input, output, error, attempt, started_at, completed_at, retry_at)
     where p.task_exec_id = $1 and ($16::uuid is null or p.execution_id = $16::uuid)${onShard}
     returning ${COLUMNS}),
   ${registerIds(q)}
   select * from written`;
}

/**
 * The task $1 and its descendants, depth first; `onShard` a condition on their execution, on Citus.
 * The planner sizes a recursive step's input at 10 rows whatever it is, and with stale statistics it
 * then hashes the whole table once per level. Each node's children are therefore fetched by a lateral
 * subquery that `offset 0` keeps from being flattened: one probe of tasks_parent per node.
 */
export function treeStatement(q: string, onShard: string): string {
  return `with recursive tree as (
       select t.*, 0 as depth, array[t.task_exec_id] as path
       from ${q}.tasks t where t.task_exec_id = $1${onShard}
       union all
       select c.*, p.depth + 1, p.path || c.task_exec_id
       from tree p cross join lateral (
         select * from ${q}.tasks where parent_id = p.task_exec_id${onShard} offset 0
       ) c
       where c.task_exec_id <> all(p.path)
     )
     select ${COLUMNS}, depth from tree order by path`;
}

function rethrowMissingExecution(error: unknown): never {
  if (error instanceof ValidationError && error.sqlState === "23503") {
    throw new NotFoundError("the task's execution does not exist; nothing was written", {
      cause: error.cause ?? error,
    });
  }
  throw error;
}

/** What update may change: each field's column, its SQL type and its check (null clears, where allowed). */
const PATCH_FIELDS: Record<
  keyof TaskPatch,
  [string, string, (value: unknown, limits: PayloadLimits) => unknown]
> = {
  status: ["status", "text", (v) => checkOneOf(v, RUN_STATUSES, "status")],
  workflowId: ["workflow_id", "text", (v) => optionalText(v, "workflowId", 1024)],
  executionType: ["execution_type", "text", (v) => checkText(v, "executionType")],
  agentId: ["agent_id", "text", (v) => optionalText(v, "agentId", 1024)],
  toolId: ["tool_id", "text", (v) => optionalText(v, "toolId", 1024)],
  input: ["input", "jsonb", (v, limits) => toJsonOrNull(v, "input", limits)],
  output: ["output", "jsonb", (v, limits) => toJsonOrNull(v, "output", limits)],
  error: ["error", "jsonb", (v, limits) => toJsonOrNull(v, "error", limits)],
  attempt: ["attempt", "int", (v) => checkInteger(v, "attempt", 0)],
  startedAt: ["started_at", "timestamptz", (v) => optionalDate(v, "startedAt")],
  completedAt: ["completed_at", "timestamptz", (v) => optionalDate(v, "completedAt")],
  retryAt: ["retry_at", "timestamptz", (v) => optionalDate(v, "retryAt")],
};

/**
 * Checks a patch and returns the assignments for the fields it gives (an undefined field is left
 * out) with each one's column and SQL type (what a batch of updates of that shape is made of),
 * pushing their values onto `values`. A field update cannot change is refused.
 */
export function patchAssignments(
  patch: unknown,
  values: unknown[],
  limits: PayloadLimits,
): { assignments: string[]; fields: Array<[column: string, type: string]> } {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new ValidationError("the patch must be an object of the fields to change", { field: "patch" });
  }
  const assignments: string[] = [];
  const fields: Array<[column: string, type: string]> = [];
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const spec = Object.hasOwn(PATCH_FIELDS, field) ? PATCH_FIELDS[field as keyof TaskPatch] : undefined;
    if (!spec) {
      throw new ValidationError(
        `${field} cannot be changed by update; it takes ${Object.keys(PATCH_FIELDS).join(", ")}`,
        { field },
      );
    }
    const [column, type, check] = spec;
    values.push(check(value, limits));
    assignments.push(`${column} = $${values.length}::${type}`);
    fields.push([column, type]);
  }
  return { assignments, fields };
}
