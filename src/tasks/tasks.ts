/**
 * Task and step states of an execution, in a tree through `parentId` (the Compozy model). A task is
 * keyed by its `taskExecId`; `taskId` is the step's name in the definition.
 */

import type { StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError } from "../core/errors.js";
import {
  checkId,
  checkLimit,
  checkOneOf,
  checkOneOrMany,
  optionalId,
  optionalVersion,
  refuseUnknownKeys,
  requireTransaction,
} from "../core/input.js";
import { CURSOR_AT, decodeCursor, type Page, toPage } from "../core/keyset.js";
import { checkText } from "../core/payload.js";
import { countsByStatus, RUN_STATUSES } from "../core/run-status.js";
import type { WriteBatcher } from "../core/write-batch.js";
import { explainMiss, type MissedRow } from "../executions/index.js";
import {
  APPEND_KEYS,
  type AppendOption,
  type BatchWritten,
  inBatch,
  type WithHistory,
  writeOne,
} from "../history/index.js";
import { changeBatcher, createBatcher, type TaskChange, type TaskCreate } from "./batch.js";
import { createChildren } from "./children.js";
import { executionOfTask, onItsShard, registerIds, rethrowTaken } from "./ids.js";
import {
  COLUMNS,
  type Columns,
  createTaskStatement,
  patchAssignments,
  taskColumns,
  treeStatement,
  writeTasks,
} from "./records.js";
import {
  type ChildTask,
  FILTER_KEYS,
  TASK_WRITE_KEYS,
  type Task,
  type TaskFilter,
  type TaskNode,
  type TaskPatch,
  type TaskProgress,
  type TaskRecord,
  type TaskWriteOptions,
} from "./types.js";

/** A checked batch of task records, one array per column. */
interface Batch {
  columns: Columns;
  executionIds: string[];
  parentIds: (string | null)[];
}

/** Where a task write that matched no row looks up why. */
const TASK_ROW: MissedRow = { table: "tasks", key: "task_exec_id", noun: "task" };

export class Tasks {
  // Made when first used: a transaction's repositories never batch.
  private creates?: WriteBatcher<TaskCreate, BatchWritten<Task>>;
  private readonly changes = new Map<string, WriteBatcher<TaskChange, BatchWritten<Task>>>();

  constructor(protected readonly context: StoreContext) {}

  private get q(): string {
    return this.context.q;
  }

  /** Inserts the task, or overwrites every field of the one with this taskExecId (same execution only). */
  async upsert(task: TaskRecord): Promise<Task> {
    const { columns, executionIds, parentIds } = this.records([task]);
    const taken = `task ${task.taskExecId} belongs to another execution; nothing was written`;
    const [row] = await writeTasks(
      this.context.db,
      this.q,
      columns,
      executionIds,
      parentIds,
      taken,
      this.distributed,
    );
    if (row) return row;
    throw new ConflictError(taken);
  }

  /**
   * Inserts a new task, in one statement (with `append`, the events its creation records too). A
   * taskExecId that is taken is a ConflictError, and so is an execution that is finished: nothing is
   * written. With a taskExecId the engine derives from what the task is (a step's id in its run), two
   * writers racing to create the same task get exactly one winner.
   */
  async create(task: TaskRecord, options: AppendOption = {}): Promise<WithHistory<Task>> {
    refuseUnknownKeys(options, APPEND_KEYS);
    const { columns, executionIds, parentIds } = this.records([task]);
    const values = [...Object.values(columns).map((column) => column[0]), executionIds[0], parentIds[0]];
    // Outside a transaction, a write that appends shares a statement and a commit (tasks/batch.ts).
    const batched = await inBatch(this.context, executionIds[0] as string, options, (events) => {
      this.creates ??= createBatcher(this.context);
      const executionId = executionIds[0] as string;
      return this.creates.write({ values, executionId, parentId: parentIds[0] ?? null, ...events });
    });
    if (batched) return batched;
    const taken = `task ${columns.taskExecId[0]} exists already; nothing was written`;
    const row = await writeOne<Task>(
      this.context,
      createTaskStatement(this.q),
      values,
      { column: '"executionId"', id: executionIds[0] as string },
      options,
      registerIds(this.q),
    ).catch(rethrowTaken(taken));
    if (row) return row;
    const { rows } = await this.context.db.query<{ status: string | null; taken: boolean }>(
      `select (select status from ${this.q}.executions where id = $1) as status,
              exists (select 1 from ${this.q}.task_ids where task_exec_id = $2) as taken`,
      [executionIds[0], columns.taskExecId[0]],
    );
    const found = rows[0];
    if (found?.taken) throw new ConflictError(taken);
    if (!found?.status)
      throw new NotFoundError(`execution ${executionIds[0]} not found; nothing was written`);
    throw new ConflictError(
      `execution ${executionIds[0]} is ${found.status}: a finished execution takes no new task`,
    );
  }

  /** Many upserts in one statement, all or none. Returned in the order given. */
  async upsertMany(tasks: readonly TaskRecord[]): Promise<Task[]> {
    if (tasks.length === 0) return [];
    const records = this.records(tasks);
    const { columns, executionIds, parentIds } = records;
    const taken = "a task in the batch belongs to another execution; nothing was written";
    const rows = await this.context.db.transaction(async (tx) => {
      const written = await writeTasks(tx, this.q, columns, executionIds, parentIds, taken, this.distributed);
      if (written.length < tasks.length) throw new ConflictError(taken);
      return written;
    });
    const byId = new Map(rows.map((row) => [row.taskExecId, row]));
    return records.columns.taskExecId.map((id) => byId.get(id) as Task);
  }

  private records(tasks: readonly TaskRecord[]): Batch {
    return {
      columns: taskColumns(tasks, this.context.limits),
      executionIds: tasks.map((task) => checkId(task.executionId, "executionId")),
      parentIds: tasks.map((task) => optionalId(task.parentId, "parentId")),
    };
  }

  /**
   * Changes only the fields given (`null` clears a field that may be empty), in one statement (with
   * `append`, the events the change records too). With `expectedVersion`, a task at another version,
   * and with `expectedStatus`, a task in another status, is a ConflictError and nothing is written.
   */
  async update(
    taskExecId: string,
    patch: TaskPatch,
    options: TaskWriteOptions & AppendOption = {},
  ): Promise<WithHistory<Task>> {
    checkId(taskExecId, "taskExecId");
    refuseUnknownKeys(options, TASK_WRITE_KEYS);
    const expected = optionalVersion(options.expectedVersion);
    const statuses =
      options.expectedStatus === undefined
        ? null
        : checkOneOrMany(options.expectedStatus, RUN_STATUSES, "expectedStatus");
    const values: unknown[] = [taskExecId, expected, statuses];
    const { assignments, fields } = patchAssignments(patch, values, this.context.limits);
    const batched =
      assignments.length > 0 &&
      (await inBatch(this.context, this.ownerOf(taskExecId), options, (events) => {
        const key = fields.map((field) => field.join(" ")).join(",");
        let batcher = this.changes.get(key);
        if (!batcher) {
          batcher = changeBatcher(this.context, fields);
          this.changes.set(key, batcher);
        }
        return batcher.write({
          taskExecId,
          expectedVersion: expected,
          expectedStatus: statuses,
          values: values.slice(3),
          ...events,
        });
      }));
    if (batched) return batched;
    const shard = await onItsShard(this.context, taskExecId, values, "execution_id");
    const row = await writeOne<Task>(
      this.context,
      `update ${this.q}.tasks
       set ${[...assignments, "version = version + 1", "updated_at = now()"].join(", ")}
       where task_exec_id = $1 and ($2::bigint is null or version = $2) and ($3::text[] is null or status = any($3))${shard}
       returning ${COLUMNS}`,
      values,
      { column: '"executionId"', id: this.ownerOf(taskExecId) },
      options,
    );
    return row ?? explainMiss(this.context, taskExecId, expected, patch.status ?? null, statuses, TASK_ROW);
  }

  /** The execution of a task, looked up when a payload its write appends must be filed under it. */
  private ownerOf(taskExecId: string): () => Promise<string | undefined> {
    return () => executionOfTask(this.context, taskExecId);
  }

  private get distributed(): boolean {
    return this.context.driver.capabilities.distributed;
  }

  async get(taskExecId: string): Promise<Task> {
    checkId(taskExecId, "taskExecId");
    const values: unknown[] = [taskExecId];
    const shard = await onItsShard(this.context, taskExecId, values, "execution_id");
    const { rows } = await this.context.db.query<Task>(
      `select ${COLUMNS} from ${this.q}.tasks where task_exec_id = $1${shard}`,
      values,
    );
    if (!rows[0]) throw new NotFoundError(`task ${taskExecId} not found`);
    return rows[0];
  }

  /** Reads and locks the task until the transaction ends. */
  async getForUpdate(taskExecId: string): Promise<Task> {
    requireTransaction(this.context.db, "tasks.getForUpdate");
    checkId(taskExecId, "taskExecId");
    const values: unknown[] = [taskExecId];
    const shard = await onItsShard(this.context, taskExecId, values, "execution_id");
    const { rows } = await this.context.db.query<Task>(
      `select ${COLUMNS} from ${this.q}.tasks where task_exec_id = $1${shard} for update`,
      values,
    );
    if (!rows[0]) throw new NotFoundError(`task ${taskExecId} not found`);
    return rows[0];
  }

  /** Oldest first (newest first with order "desc"), keyset-paginated. */
  async list(filter: TaskFilter = {}): Promise<Page<Task>> {
    refuseUnknownKeys(filter, FILTER_KEYS);
    const limit = checkLimit(filter.limit, 100);
    const order = checkOneOf(filter.order ?? "asc", ["asc", "desc"], "order");
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
        `(created_at, task_exec_id) ${order === "asc" ? ">" : "<"} ($${values.length - 1}::timestamptz, $${values.length}::uuid)`,
      );
    }
    values.push(limit + 1);
    const { rows } = await this.context.db.query<Task & { cursor_at?: string }>(
      `select ${COLUMNS}, ${CURSOR_AT} as cursor_at from ${this.q}.tasks
       ${conditions.length ? `where ${conditions.join(" and ")}` : ""}
       order by created_at ${order}, task_exec_id ${order}
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
   * The task and all its descendants in one recursive query (records.ts), depth first: a parent right
   * before its subtree, siblings by id (creation order for UUIDv7 ids).
   */
  async tree(rootId: string): Promise<TaskNode[]> {
    checkId(rootId, "rootId");
    const values: unknown[] = [rootId];
    // On Citus a recursive query runs within one shard, named in both its parts.
    const shard = await onItsShard(this.context, rootId, values, "execution_id");
    const { rows } = await this.context.db.query<TaskNode>(treeStatement(this.q, shard), values);
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
   * taskExecId, a bad field, an `executionId` other than the parent's), none. They take the parent's
   * execution and workflow.
   */
  createChildren(parentId: string, children: readonly ChildTask[]): Promise<Task[]> {
    return createChildren(this.context, parentId, children);
  }
}
