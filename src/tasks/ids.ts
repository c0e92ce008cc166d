/**
 * Task ids across executions. Tasks are keyed within their execution (execution_id is in their key, as
 * Citus needs of a table distributed by it), and task_ids holds each id once, with the execution that
 * holds it: every statement that inserts tasks registers their ids in the same statement, so an id
 * that another execution holds fails that statement, and nothing of it is written.
 *
 * Ids are registered after the task rows they name are inserted, by every writer alike: two writers of
 * one id in one execution meet on the task's key first (the second then finds the task and does what
 * it does with a task that exists), two in different executions on the id here, and no writer holds
 * one of the two while it waits for the other, so neither order can deadlock.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ConflictError, violates } from "../core/errors.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { idBatch } from "../core/planned-few.js";

/**
 * The CTE `registered`, which registers the ids of the tasks the statement inserted: the rows of
 * `from` (with "taskExecId" and "executionId") that `where` keeps. An id held already fails the
 * statement (see isTakenId).
 */
export function registerIds(q: string, from = "written", where = ""): string {
  return `registered as (
      insert into ${q}.task_ids (task_exec_id, execution_id)
      select "taskExecId", "executionId" from ${from} ${where})`;
}

/** Whether a statement failed because a task id it inserted is registered to another execution. */
export function isTakenId(error: unknown): boolean {
  return violates(error, "task_ids_pkey");
}

/** A ConflictError with `message` in place of a taken id's, any other error as it is. */
export function rethrowTaken(message: string): (error: unknown) => never {
  return (error) => {
    if (isTakenId(error)) throw new ConflictError(message, { cause: (error as ConflictError).cause });
    throw error;
  };
}

/**
 * Retention: deletes the tasks of these executions and frees their ids, in one statement; returns
 * how many tasks. The ids are deleted by key, one probe each (their executions are not indexed).
 */
export async function deleteTasksOf({ db, q }: SqlContext, executionIds: string[]): Promise<number> {
  const ids = idBatch(1, "uuid");
  const { rows } = await db.query<{ n: number }>(
    `with gone as (
       delete from ${q}.tasks where execution_id = any(${ids}) returning task_exec_id),
     freed as (
       delete from ${q}.task_ids
        where task_exec_id = any(array(select task_exec_id from gone)) and execution_id = any(${ids}))
     select count(*)::int as n from gone`,
    [executionIds],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Retention by partition: frees the ids of these executions' tasks, whose rows go with their range,
 * read from `tasks` (their range's partition); returns how many.
 */
export async function freeTaskIdsOf(
  { db, q }: SqlContext,
  executionIds: ExecutionIds,
  tasks = `${q}.tasks`,
): Promise<number> {
  const among = amongIds("t.execution_id", executionIds);
  const { rowCount } = await db.query(
    `delete from ${q}.task_ids i using ${tasks} t
      where ${among.sql} and i.task_exec_id = t.task_exec_id and i.execution_id = t.execution_id`,
    among.params,
  );
  return rowCount;
}

/**
 * The execution of a task. On Citus from the id's registry, one shard (tasks are distributed by their
 * execution, so a task found by its id alone is looked for on every shard); elsewhere from the task.
 */
export async function executionOfTask(
  { db, q, driver }: Pick<StoreContext, "db" | "q" | "driver">,
  taskExecId: string,
): Promise<string | undefined> {
  const table = driver.capabilities.distributed ? "task_ids" : "tasks";
  const { rows } = await db.query<{ execution_id: string }>(
    `select execution_id from ${q}.${table} where task_exec_id = $1`,
    [taskExecId],
  );
  return rows[0]?.execution_id;
}

/**
 * On Citus, the condition that keeps a statement about a task found by its id alone on the task's
 * shard: its execution, the distribution column (`column`), pushed onto `values`. Elsewhere none: the
 * primary key finds the task. An unknown id gets a condition no row meets.
 */
export async function onItsShard(
  context: Pick<StoreContext, "db" | "q" | "driver">,
  taskExecId: string,
  values: unknown[],
  column: string,
): Promise<string> {
  if (!context.driver.capabilities.distributed) return "";
  values.push((await executionOfTask(context, taskExecId)) ?? null);
  return ` and ${column} = $${values.length}`;
}
