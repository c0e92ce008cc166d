/**
 * Task and step states of an execution, in a tree through `parentId` (the Compozy model). A task is
 * keyed by its `taskExecId`; `taskId` is the step's name in the definition.
 */

import type { SqlContext, StoreContext } from "../context.js";
import type { Queryable } from "../db/driver.js";
import { ConflictError, NotFoundError, ValidationError } from "../errors.js";
import { checkText, toJsonOrNull } from "../payload.js";
import {
  checkDistinct,
  checkId,
  checkInteger,
  checkLimit,
  checkOneOf,
  checkOneOrMany,
  idOrNew,
  optionalId,
  optionalText,
  requireTransaction,
} from "./input.js";
import { CURSOR_AT, decodeCursor, type Page, toPage } from "./keyset.js";
import { countsByStatus, RUN_STATUSES } from "./run-status.js";
import type { ChildTask, Task, TaskFilter, TaskNode, TaskProgress, TaskRecord } from "./task-types.js";

const COLUMNS = `task_exec_id as "taskExecId", task_id as "taskId", execution_id as "executionId",
  workflow_id as "workflowId", status, execution_type as "executionType", parent_id as "parentId",
  agent_id as "agentId", tool_id as "toolId", input, output, error, attempt, version,
  created_at as "createdAt", updated_at as "updatedAt"`;

interface Columns {
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
}

/** A checked batch of task records, one array per column. */
interface Batch {
  columns: Columns;
  executionIds: string[];
  parentIds: (string | null)[];
}

export class Tasks {
  constructor(protected readonly context: StoreContext) {}

  private get q(): string {
    return this.context.q;
  }

  /** Inserts the task, or overwrites every field of the one with this taskExecId (same execution only). */
  async upsert(task: TaskRecord): Promise<Task> {
    const [row] = await this.write(this.context.db, this.records([task]));
    if (row) return row;
    throw new ConflictError(`task ${task.taskExecId} belongs to another execution; nothing was written`);
  }

  /** Many upserts in one statement, all or none. Returned in the order given. */
  async upsertMany(tasks: readonly TaskRecord[]): Promise<Task[]> {
    if (tasks.length === 0) return [];
    const records = this.records(tasks);
    const rows = await this.context.db.transaction(async (tx) => {
      const written = await this.write(tx, records);
      if (written.length < tasks.length) {
        throw new ConflictError("a task in the batch belongs to another execution; nothing was written");
      }
      return written;
    });
    const byId = new Map(rows.map((row) => [row.taskExecId, row]));
    return records.columns.taskExecId.map((id) => byId.get(id) as Task);
  }

  private records(tasks: readonly TaskRecord[]): Batch {
    return {
      columns: this.columns(tasks),
      executionIds: tasks.map((task) => checkId(task.executionId, "executionId")),
      parentIds: tasks.map((task) => optionalId(task.parentId, "parentId")),
    };
  }

  private async write(db: Queryable, { columns, executionIds, parentIds }: Batch): Promise<Task[]> {
    const { rows } = await db
      .query<Task>(
        `insert into ${this.q}.tasks as t (task_exec_id, task_id, execution_id, workflow_id, status,
           execution_type, parent_id, agent_id, tool_id, input, output, error, attempt)
         select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                              $7::uuid[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[],
                              $13::int[])
         on conflict (task_exec_id) do update set
           task_id = excluded.task_id, workflow_id = excluded.workflow_id, status = excluded.status,
           execution_type = excluded.execution_type, parent_id = excluded.parent_id,
           agent_id = excluded.agent_id, tool_id = excluded.tool_id, input = excluded.input,
           output = excluded.output, error = excluded.error, attempt = excluded.attempt,
           version = t.version + 1, updated_at = now()
         where t.execution_id = excluded.execution_id
         returning ${COLUMNS}`,
        [
          columns.taskExecId,
          columns.taskId,
          executionIds,
          columns.workflowId,
          columns.status,
          columns.executionType,
          parentIds,
          columns.agentId,
          columns.toolId,
          columns.input,
          columns.output,
          columns.error,
          columns.attempt,
        ],
      )
      .catch(rethrowMissingExecution);
    return rows;
  }

  /** Checks every task and lays the batch out as one array per column, for unnest. */
  private columns(tasks: readonly (ChildTask | TaskRecord)[]): Columns {
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
    };
    const json = (value: unknown, field: string) => toJsonOrNull(value, field, this.context.limits);
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
    }
    checkDistinct(c.taskExecId, "taskExecId");
    return c;
  }

  async get(taskExecId: string): Promise<Task> {
    checkId(taskExecId, "taskExecId");
    const { rows } = await this.context.db.query<Task>(
      `select ${COLUMNS} from ${this.q}.tasks where task_exec_id = $1`,
      [taskExecId],
    );
    if (!rows[0]) throw new NotFoundError(`task ${taskExecId} not found`);
    return rows[0];
  }

  /** Reads and locks the task until the transaction ends. */
  async getForUpdate(taskExecId: string): Promise<Task> {
    requireTransaction(this.context.db, "tasks.getForUpdate");
    checkId(taskExecId, "taskExecId");
    const { rows } = await this.context.db.query<Task>(
      `select ${COLUMNS} from ${this.q}.tasks where task_exec_id = $1 for update`,
      [taskExecId],
    );
    if (!rows[0]) throw new NotFoundError(`task ${taskExecId} not found`);
    return rows[0];
  }

  /** Oldest first, keyset-paginated. */
  async list(filter: TaskFilter = {}): Promise<Page<Task>> {
    const limit = checkLimit(filter.limit, 100);
    const values: unknown[] = [];
    const conditions: string[] = [];
    const add = (condition: (n: string) => string, value: unknown) => {
      values.push(value);
      conditions.push(condition(`$${values.length}`));
    };
    if (filter.executionId !== undefined)
      add((n) => `execution_id = ${n}`, checkId(filter.executionId, "executionId"));
    if (filter.status !== undefined)
      add((n) => `status = any(${n}::text[])`, checkOneOrMany(filter.status, RUN_STATUSES, "status"));
    if (filter.agentId !== undefined)
      add((n) => `agent_id = ${n}`, checkText(filter.agentId, "agentId", 1024));
    if (filter.toolId !== undefined) add((n) => `tool_id = ${n}`, checkText(filter.toolId, "toolId", 1024));
    if (filter.parentId !== undefined) add((n) => `parent_id = ${n}`, checkId(filter.parentId, "parentId"));
    if (filter.executionType !== undefined)
      add((n) => `execution_type = ${n}`, checkText(filter.executionType, "executionType"));
    if (filter.cursor !== undefined && filter.cursor !== null) {
      const { at, id } = decodeCursor(filter.cursor);
      values.push(at, id);
      conditions.push(
        `(created_at, task_exec_id) > ($${values.length - 1}::timestamptz, $${values.length}::uuid)`,
      );
    }
    values.push(limit + 1);
    const { rows } = await this.context.db.query<Task & { cursor_at?: string }>(
      `select ${COLUMNS}, ${CURSOR_AT} as cursor_at from ${this.q}.tasks
       ${conditions.length ? `where ${conditions.join(" and ")}` : ""}
       order by created_at, task_exec_id
       limit $${values.length}`,
      values,
    );
    return toPage(rows, limit, (row) => row.taskExecId);
  }

  /** Every task of the execution by taskId; where a taskId repeats, the newest task wins. */
  async listInExecution(executionId: string): Promise<Map<string, Task>> {
    checkId(executionId, "executionId");
    const { rows } = await this.context.db.query<Task>(
      `select ${COLUMNS} from ${this.q}.tasks where execution_id = $1 order by created_at, task_exec_id`,
      [executionId],
    );
    return new Map(rows.map((row) => [row.taskId, row]));
  }

  /** The direct children, oldest first. */
  async listChildren(parentId: string): Promise<Task[]> {
    checkId(parentId, "parentId");
    const { rows } = await this.context.db.query<Task>(
      `select ${COLUMNS} from ${this.q}.tasks where parent_id = $1 order by created_at, task_exec_id`,
      [parentId],
    );
    return rows;
  }

  /** The outputs of the direct children that have one, by taskId. */
  async childOutputs(parentId: string): Promise<Map<string, unknown>> {
    checkId(parentId, "parentId");
    const { rows } = await this.context.db.query<{ taskId: string; output: unknown }>(
      `select task_id as "taskId", output from ${this.q}.tasks
       where parent_id = $1 and output is not null
       order by created_at, task_exec_id`,
      [parentId],
    );
    return new Map(rows.map((row) => [row.taskId, row.output]));
  }

  /** The child with this taskId (the newest, if it repeats), or null. */
  async getChild(parentId: string, taskId: string): Promise<Task | null> {
    checkId(parentId, "parentId");
    checkText(taskId, "taskId", 1024);
    const { rows } = await this.context.db.query<Task>(
      `select ${COLUMNS} from ${this.q}.tasks where parent_id = $1 and task_id = $2
       order by created_at desc, task_exec_id desc limit 1`,
      [parentId, taskId],
    );
    return rows[0] ?? null;
  }

  /**
   * The task and all its descendants in one recursive query, depth first: a parent right before its
   * subtree, siblings by id (creation order for UUIDv7 ids).
   *
   * The planner sizes a recursive step's input at 10 rows whatever it is, and with stale statistics it
   * then hashes the whole table once per level. Each node's children are therefore fetched by a
   * lateral subquery that `offset 0` keeps from being flattened: one probe of tasks_parent per node.
   */
  async tree(rootId: string): Promise<TaskNode[]> {
    checkId(rootId, "rootId");
    const { rows } = await this.context.db.query<TaskNode>(
      `with recursive tree as (
         select t.*, 0 as depth, array[t.task_exec_id] as path
         from ${this.q}.tasks t where t.task_exec_id = $1
         union all
         select c.*, p.depth + 1, p.path || c.task_exec_id
         from tree p cross join lateral (
           select * from ${this.q}.tasks where parent_id = p.task_exec_id offset 0
         ) c
         where c.task_exec_id <> all(p.path)
       )
       select ${COLUMNS}, depth from tree order by path`,
      [rootId],
    );
    if (rows.length === 0) throw new NotFoundError(`task ${rootId} not found`);
    return rows;
  }

  /** Counts of the direct children per status, and the completion and failure rates, from the database. */
  async progress(parentId: string): Promise<TaskProgress> {
    checkId(parentId, "parentId");
    const { rows } = await this.context.db.query<{
      total: number;
      completionRate: number;
      failureRate: number;
      byStatus: { status: string; count: number }[] | null;
    }>(
      `select coalesce(sum(count), 0)::int as total,
         coalesce(sum(count) filter (where status = 'completed') / nullif(sum(count), 0), 0)::float8
           as "completionRate",
         coalesce(sum(count) filter (where status = 'failed') / nullif(sum(count), 0), 0)::float8
           as "failureRate",
         json_agg(json_build_object('status', status, 'count', count)) as "byStatus"
       from (select status, count(*) as count from ${this.q}.tasks where parent_id = $1 group by status) s`,
      [parentId],
    );
    const row = rows[0];
    return {
      total: row?.total ?? 0,
      byStatus: countsByStatus(row?.byStatus ?? []),
      completionRate: row?.completionRate ?? 0,
      failureRate: row?.failureRate ?? 0,
    };
  }

  /**
   * Creates the children of `parentId` in one statement: all of them or, on any error (a taken
   * taskExecId, a bad field), none. They take the parent's execution and workflow.
   */
  async createChildren(parentId: string, children: readonly ChildTask[]): Promise<Task[]> {
    checkId(parentId, "parentId");
    if (!Array.isArray(children))
      throw new ValidationError("children must be an array", { field: "children" });
    if (children.length === 0) return [];
    const c = this.columns(children);
    const { rows } = await this.context.db.query<Task>(
      `insert into ${this.q}.tasks (task_exec_id, task_id, execution_id, workflow_id, status, execution_type,
         parent_id, agent_id, tool_id, input, output, error, attempt)
       select u.task_exec_id, u.task_id, p.execution_id, coalesce(u.workflow_id, p.workflow_id), u.status,
         u.execution_type, p.task_exec_id, u.agent_id, u.tool_id, u.input, u.output, u.error, u.attempt
       from ${this.q}.tasks p,
         unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                $9::jsonb[], $10::jsonb[], $11::jsonb[], $12::int[])
           as u(task_exec_id, task_id, workflow_id, status, execution_type, agent_id, tool_id,
                input, output, error, attempt)
       where p.task_exec_id = $1
       returning ${COLUMNS}`,
      [
        parentId,
        c.taskExecId,
        c.taskId,
        c.workflowId,
        c.status,
        c.executionType,
        c.agentId,
        c.toolId,
        c.input,
        c.output,
        c.error,
        c.attempt,
      ],
    );
    if (rows.length === 0) throw new NotFoundError(`parent task ${parentId} not found`);
    const byId = new Map(rows.map((row) => [row.taskExecId, row]));
    return c.taskExecId.map((id) => byId.get(id) as Task);
  }
}

function rethrowMissingExecution(error: unknown): never {
  if (error instanceof ValidationError && error.sqlState === "23503") {
    throw new NotFoundError("the task's execution does not exist; nothing was written", {
      cause: error.cause ?? error,
    });
  }
  throw error;
}

/** Retention: deletes the tasks of these executions; returns how many. */
export async function deleteTasksOf({ db, q }: SqlContext, executionIds: string[]): Promise<number> {
  return (await db.query(`delete from ${q}.tasks where execution_id = any($1::uuid[])`, [executionIds]))
    .rowCount;
}
