/**
 * Children created under a parent task, all in one statement. They take the parent's execution; an
 * engine that writes the run's id on every state it makes (Compozy's child states) may name it on
 * each child, and a child naming another execution is refused with nothing written.
 */

import type { StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import { checkId } from "../core/input.js";
import { executionOfTask, onItsShard, rethrowTaken } from "./ids.js";
import { createChildrenStatement, taskColumns } from "./records.js";
import type { ChildTask, Task } from "./types.js";

export async function createChildren(
  context: StoreContext,
  parentId: string,
  children: readonly ChildTask[],
): Promise<Task[]> {
  checkId(parentId, "parentId");
  if (!Array.isArray(children)) throw new ValidationError("children must be an array", { field: "children" });
  if (children.length === 0) return [];
  const c = taskColumns(children, context.limits, true);
  const named = children.map((child, i) =>
    child.executionId === undefined ? undefined : checkId(child.executionId, childField(children, i)),
  );
  const expected = named.find((id) => id !== undefined) ?? null;
  // Children naming two executions cannot all be in the parent's: which are wrong takes its execution.
  if (named.some((id) => id !== undefined && id !== expected)) {
    await refuseOtherExecution(context, parentId, named);
  }
  // The columns in the order of taskColumns, which is the order of $2..$15; then $16.
  const values: unknown[] = [parentId, ...Object.values(c), expected];
  const shard = await onItsShard(context, parentId, values, "p.execution_id");
  const { rows } = await context.db
    .query<Task>(createChildrenStatement(context.q, shard), values, { prepare: true })
    .catch(rethrowTaken("a child's taskExecId belongs to another execution; nothing was written"));
  if (rows.length === 0) {
    // The statement wrote nothing: the parent is missing, or in another execution than the one named.
    if (expected !== null) await refuseOtherExecution(context, parentId, named);
    throw new NotFoundError(`parent task ${parentId} not found`);
  }
  const byId = new Map(rows.map((row) => [row.taskExecId, row]));
  return c.taskExecId.map((id) => byId.get(id) as Task);
}

/** A ValidationError naming the first child whose executionId is not its parent's, if there is one. */
async function refuseOtherExecution(
  context: StoreContext,
  parentId: string,
  named: (string | undefined)[],
): Promise<void> {
  const actual = await executionOfTask(context, parentId);
  if (actual === undefined) throw new NotFoundError(`parent task ${parentId} not found`);
  const i = named.findIndex((id) => id !== undefined && id !== actual);
  if (i < 0) return;
  const field = childField(named, i);
  throw new ValidationError(
    `${field} ${named[i]} is not the execution of parent task ${parentId} (${actual}): a child is ` +
      "created in its parent's execution; nothing was written",
    { field },
  );
}

/** A child's executionId as taskColumns names a child's fields: indexed unless it is the only one. */
function childField(children: readonly unknown[], i: number): string {
  return children.length === 1 ? "executionId" : `children[${i}].executionId`;
}
