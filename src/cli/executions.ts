/** `flowstore executions list|show|fork|rewind`. */

import { type Command, Option } from "commander";
import { EXECUTION_STATUSES, type ExecutionStatus, type Store, type Task, type TaskNode } from "../index.js";
import { type CliContext, columns, wholeNumber } from "./context.js";
import { registerCutCommands } from "./executions-cut.js";

export function registerExecutionCommands(program: Command, cli: CliContext): void {
  const executions = program
    .command("executions")
    .description("workflow runs: list them, show one's task tree, fork or rewind one at a step")
    .addHelpText("after", "\nExample:\n  $ flowstore executions show <id>");

  executions
    .command("list")
    .description("executions, newest first, a page at a time")
    .addOption(new Option("--status <status>", "one status only").choices([...EXECUTION_STATUSES]))
    .option("--definition <name>", "runs of the workflow with this name (any version, or none registered)")
    .option("--limit <n>", "page size", wholeNumber(1), 50)
    .option("--cursor <cursor>", "the nextCursor of the previous page")
    .addHelpText("after", "\nExample:\n  $ flowstore executions list --status failed --limit 20 --json")
    .action((options: { status?: ExecutionStatus; definition?: string; limit: number; cursor?: string }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const page = await store.executions.list({
          status: options.status,
          definitionName: options.definition,
          limit: options.limit,
          cursor: options.cursor,
          order: "desc",
        });
        cli.print(page, () => {
          const table = columns(
            page.items.map((e) => ({
              id: e.id,
              workflow: e.name,
              status: e.status,
              created: e.createdAt,
              duration: duration(e.startedAt ?? e.createdAt, e.completedAt),
              key: e.idempotencyKey,
            })),
            "no executions",
          );
          return page.nextCursor ? `${table}\nmore: --cursor ${page.nextCursor}` : table;
        });
      }),
    );

  executions
    .command("show")
    .description("one execution: its fields and its task tree with statuses and durations")
    .argument("<id>", "execution id")
    .addHelpText("after", "\nExample:\n  $ flowstore executions show 0192f0c4-8a1e-7c3d-9f00-5b6e2d4c1a77")
    .action((id: string) =>
      cli.withStore({ migrate: false }, async (store) => {
        const execution = await store.executions.get(id);
        const tasks = await taskForest(store, id);
        const [components, correlations, timers] = await Promise.all([
          store.componentState.list(id),
          store.correlations.listForExecution(id),
          store.timers.list(id),
        ]);
        cli.print({ execution, tasks, componentState: components, correlations, timers }, () => {
          const lines = [
            `execution ${execution.id}`,
            `  status     ${execution.status}`,
            `  created    ${execution.createdAt.toISOString()}`,
            `  duration   ${duration(execution.startedAt ?? execution.createdAt, execution.completedAt)}`,
          ];
          if (execution.idempotencyKey) lines.push(`  key        ${execution.idempotencyKey}`);
          if (execution.parentExecutionId) lines.push(`  parent     ${execution.parentExecutionId}`);
          if (execution.input !== null) lines.push(`  input      ${short(execution.input)}`);
          if (execution.output !== null) lines.push(`  output     ${short(execution.output)}`);
          if (execution.error !== null) lines.push(`  error      ${short(execution.error)}`);
          lines.push("tasks");
          if (tasks.length === 0) lines.push("  (none)");
          for (const task of tasks) {
            lines.push(
              `  ${"  ".repeat(task.depth)}${task.taskId}  ${task.status}  ${duration(task.createdAt, FINISHED.has(task.status) ? task.updatedAt : null)}`,
            );
          }
          if (components.length) {
            lines.push("component state");
            for (const c of components) lines.push(`  ${c.componentId} v${c.version}  ${short(c.state)}`);
          }
          if (correlations.length) lines.push(`correlations  ${correlations.map((c) => c.key).join(", ")}`);
          if (timers.length) {
            lines.push("timers");
            for (const t of timers) lines.push(`  ${t.name}  fires ${t.fireAt.toISOString()}`);
          }
          return lines.join("\n");
        });
      }),
    );

  registerCutCommands(executions, cli);
}

const FINISHED = new Set(["completed", "failed", "cancelled", "timed_out"]);

/** Every task of the execution, as trees under each root (a task whose parent is not in it), depth first. */
async function taskForest(store: Store, executionId: string): Promise<TaskNode[]> {
  const all: Task[] = [];
  let cursor: string | null | undefined;
  do {
    const page = await store.tasks.list({ executionId, limit: 1000, cursor });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  const ids = new Set(all.map((t) => t.taskExecId));
  const children = new Map<string | null, Task[]>();
  for (const task of all) {
    const parent = task.parentId && ids.has(task.parentId) ? task.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), task]);
  }
  const out: TaskNode[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const task of children.get(parent) ?? []) {
      out.push({ ...task, depth });
      walk(task.taskExecId, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

/** From start to end (or to now, marked as still going). */
export function duration(start: Date, end: Date | null): string {
  const ms = (end ?? new Date()).getTime() - start.getTime();
  const text =
    ms < 1000
      ? `${ms} ms`
      : ms < 60_000
        ? `${(ms / 1000).toFixed(1)} s`
        : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return end ? text : `${text} (so far)`;
}

function short(value: unknown, max = 100): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
