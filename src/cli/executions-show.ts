/**
 * `flowstore executions show`: one run's fields, where it came from (the run it was forked from and at
 * which step, its last rewind), its forks, its steps (each with its duration and output or error; a
 * value offloaded to the blob store named by its key, for `flowstore blobs get`) and its task tree.
 */

import type { Command } from "commander";
import type { Execution, Store, Task, TaskNode } from "../index.js";
import type { CliContext } from "./context.js";

export function registerShowCommand(executions: Command, cli: CliContext): void {
  executions
    .command("show")
    .description("one execution: its fields, origin, forks, steps and task tree with statuses and durations")
    .argument("<id>", "execution id")
    .addHelpText("after", "\nExample:\n  $ flowstore executions show 0192f0c4-8a1e-7c3d-9f00-5b6e2d4c1a77")
    .action((id: string) =>
      cli.withStore({ migrate: false }, async (store) => {
        const execution = await store.executions.get(id);
        // The run's record as the dashboard reads it (loaded here only: it brings the dashboard's module).
        const { runOrigin, runSteps } = await import("../dashboard/index.js");
        const [tasks, components, correlations, timers, origin, steps, forks] = await Promise.all([
          taskForest(store, id),
          store.componentState.list(id),
          store.correlations.listForExecution(id),
          store.timers.list(id),
          runOrigin(store, execution),
          runSteps(store, execution),
          store.executions.list({ forkOf: id, order: "desc", limit: 100 }),
        ]);
        const forkList = forks.items.map((f) => ({
          id: f.id,
          status: f.status,
          forkStep: f.forkStep,
          createdAt: f.createdAt,
        }));
        const json = {
          execution,
          origin,
          forks: forkList,
          steps: steps.steps,
          stepsTruncated: steps.more,
          tasks,
          componentState: components,
          correlations,
          timers,
        };
        cli.print(json, () => {
          const lines = [
            `execution ${execution.id}`,
            `  status     ${execution.status}`,
            `  created    ${execution.createdAt.toISOString()}`,
            `  duration   ${duration(execution.startedAt ?? execution.createdAt, execution.completedAt)}`,
          ];
          if (origin.fork) {
            const { of, step, source } = origin.fork;
            const what = source ? `${source.name}, ${source.status}` : "no longer in the store";
            lines.push(`  fork of    ${of} at step ${step} (${what})`);
          }
          if (origin.rewind) {
            const { toStep, version, at } = origin.rewind;
            lines.push(`  rewound    to step ${toStep} at version ${version}, ${at.toISOString()}`);
          }
          if (execution.idempotencyKey) lines.push(`  key        ${execution.idempotencyKey}`);
          if (execution.parentExecutionId) lines.push(`  parent     ${execution.parentExecutionId}`);
          if (execution.input !== null) lines.push(`  input      ${short(execution.input)}`);
          if (execution.output !== null) lines.push(`  output     ${short(execution.output)}`);
          if (execution.error !== null) lines.push(`  error      ${short(execution.error)}`);
          if (forkList.length) {
            lines.push("forks");
            for (const f of forkList) lines.push(`  ${f.id}  ${f.status}  from step ${f.forkStep}`);
          }
          lines.push("steps");
          if (steps.steps.length === 0) lines.push("  (none)");
          for (const s of steps.steps) {
            const took = s.durationMs === null ? "-" : milliseconds(s.durationMs);
            const copied = s.copied ? "  (forked from the source)" : "";
            const tries =
              s.attempts === null ? "" : `  ${s.attempts === 1 ? "1 attempt" : `${s.attempts} attempts`}`;
            lines.push(`  ${s.number}  ${s.name}${tries}  ${took}  ${outcome(s)}${copied}`);
          }
          if (steps.more) lines.push("  (only the first 1,000 steps)");
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
}

/** A step's output or error in one line; a value left out is described, an offloaded one by its key. */
function outcome(step: {
  error: unknown;
  output?: unknown;
  outputRef: { bytes: number; kind: string; offloaded: string | null } | null;
}): string {
  if (step.error !== null) return `error ${errorText(step.error)}`;
  const ref = step.outputRef;
  if (ref) {
    const what = `${ref.kind === "bytes" ? "bytes" : "JSON"}, ${ref.bytes} bytes`;
    return ref.offloaded ? `offloaded (${what}): flowstore blobs get ${ref.offloaded} -o -` : `(${what})`;
  }
  return "output" in step ? short(step.output) : "(no output)";
}

/** An Error as the store keeps it (name, message, stack) by its name and message; anything else as JSON. */
function errorText(error: unknown): string {
  const { name, message } = (typeof error === "object" && error !== null ? error : {}) as Record<
    string,
    unknown
  >;
  return typeof message === "string"
    ? `${typeof name === "string" ? name : "Error"}: ${message}`
    : short(error);
}

const FINISHED = new Set(["completed", "failed", "cancelled", "timed_out"]);

/** Where a run came from, as `executions list` marks it: a fork and its step, or its last rewind. */
export function originLabel(e: Execution): string | null {
  if (e.forkOf !== null) return `fork of ${e.forkOf} at step ${e.forkStep}`;
  if (e.rewoundToStep !== null) return `rewound to step ${e.rewoundToStep}`;
  return null;
}

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
  const text = milliseconds((end ?? new Date()).getTime() - start.getTime());
  return end ? text : `${text} (so far)`;
}

function milliseconds(ms: number): string {
  return ms < 1000
    ? `${ms} ms`
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function short(value: unknown, max = 100): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
