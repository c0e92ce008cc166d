/** A run's tasks as the dashboard shows them: in tree order, each with its depth and duration. */

import type { Task } from "../index.js";

export interface TaskView extends Task {
  depth: number;
  durationMs: number;
}

/** The statuses a task or run ends in. */
export const TERMINAL: ReadonlySet<string> = new Set(["completed", "failed", "cancelled", "timed_out"]);

/** Depth-first, siblings in creation order; a task whose parent is missing is shown as a root. */
export function treeOrder(tasks: Task[]): TaskView[] {
  const ids = new Set(tasks.map((t) => t.taskExecId));
  const children = new Map<string | null, Task[]>();
  for (const task of tasks) {
    const parent = task.parentId !== null && ids.has(task.parentId) ? task.parentId : null;
    const list = children.get(parent) ?? [];
    list.push(task);
    children.set(parent, list);
  }
  const out: TaskView[] = [];
  const seen = new Set<string>();
  const walk = (root: Task) => {
    const stack = [{ task: root, depth: 0 }];
    while (stack.length) {
      const { task, depth } = stack.pop() as { task: Task; depth: number };
      if (seen.has(task.taskExecId)) continue;
      seen.add(task.taskExecId);
      const end = TERMINAL.has(task.status) ? task.updatedAt.getTime() : Date.now();
      out.push({ ...task, depth, durationMs: Math.max(0, end - task.createdAt.getTime()) });
      for (const child of [...(children.get(task.taskExecId) ?? [])].reverse())
        stack.push({ task: child, depth: depth + 1 });
    }
  };
  for (const root of children.get(null) ?? []) walk(root);
  // Tasks whose parent links form a cycle have no root; show them rather than lose them.
  for (const task of tasks) walk(task);
  return out;
}
