/**
 * A run's timeline: what happened when, as lanes over time for the run page's waterfall. Bars have a
 * start and an end (null while they go on): the run, its tasks in tree order, its jobs, its child runs
 * with their own tasks inline. Marks are instants: each step's checkpoint, each timer's fire time, and
 * the history's events, one lane per event type (a run of a thousand events stays a few lanes).
 * Read through the store's public repositories only, each list capped so a page stays quick.
 */

import type { Execution, HistoryEvent, Job, Store, Task, Timer } from "../index.js";
import { TERMINAL, treeOrder } from "./task-tree.js";

/** The most events, child runs and tasks of a child a timeline reads. */
export const TIMELINE_EVENTS = 5_000;
const TIMELINE_CHILDREN = 20;
const CHILD_TASKS = 200;

export interface TimelineBar {
  kind: "run" | "task" | "job" | "child";
  label: string;
  status: string;
  /** Epoch milliseconds. */
  start: number;
  /** Epoch milliseconds; null while it goes on. */
  end: number | null;
  depth: number;
  /** A child run's id, for a link. */
  id?: string;
}

export interface TimelineMarks {
  kind: "step" | "timer" | "events";
  label: string;
  /** Each instant (epoch ms) with what it was, as [at, title]. */
  marks: [number, string][];
}

export interface Timeline {
  /** The first and last instants on it (the last is now while the run goes on). */
  from: number;
  to: number;
  bars: TimelineBar[];
  lanes: TimelineMarks[];
  /** True when the history had more events than TIMELINE_EVENTS. */
  eventsTruncated: boolean;
}

function taskBar(task: Task, depth: number): TimelineBar {
  const start = (task.startedAt ?? task.createdAt).getTime();
  const ended = task.completedAt ?? (TERMINAL.has(task.status) ? task.updatedAt : null);
  return {
    kind: "task",
    label: task.taskId,
    status: task.status,
    start,
    end: ended ? Math.max(start, ended.getTime()) : null,
    depth,
  };
}

function runBar(run: Execution, kind: "run" | "child", depth: number): TimelineBar {
  const start = (run.startedAt ?? run.createdAt).getTime();
  const ended = run.completedAt ?? (TERMINAL.has(run.status) ? run.updatedAt : null);
  return {
    kind,
    label: run.name,
    status: run.status,
    start,
    end: ended ? Math.max(start, ended.getTime()) : null,
    depth,
    id: run.id,
  };
}

/** Tasks as bars in tree order (treeOrder), each as deep as its place in the tree, below `base`. */
function taskBars(tasks: Task[], base: number): TimelineBar[] {
  return treeOrder(tasks).map((task) => taskBar(task, base + task.depth));
}

async function events(store: Store, executionId: string): Promise<{ items: HistoryEvent[]; more: boolean }> {
  const items: HistoryEvent[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.events.list(executionId, { limit: 1_000, cursor });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && items.length < TIMELINE_EVENTS);
  return { items: items.slice(0, TIMELINE_EVENTS), more: cursor !== null || items.length > TIMELINE_EVENTS };
}

/** What the run page has read already, which the timeline shows too. */
export interface RunParts {
  run: Execution;
  tasks: Task[];
  jobs: Job[];
  timers: Timer[];
  children: Execution[];
}

export async function timeline(store: Store, parts: RunParts): Promise<Timeline> {
  const { run, tasks, jobs, timers } = parts;
  const children = parts.children.slice(0, TIMELINE_CHILDREN);
  const [steps, history, childTasks] = await Promise.all([
    store.steps.list(run.id),
    events(store, run.id),
    Promise.all(children.map((child) => store.tasks.list({ executionId: child.id, limit: CHILD_TASKS }))),
  ]);
  const bars: TimelineBar[] = [runBar(run, "run", 0), ...taskBars(tasks, 1)];
  for (const job of jobs) {
    const start = job.createdAt.getTime();
    const end = job.status === "running" ? null : Math.max(start, job.updatedAt.getTime());
    bars.push({
      kind: "job",
      label: `job ${job.name} (${job.queue})`,
      status: job.status,
      start,
      end,
      depth: 1,
    });
  }
  children.forEach((child, i) => {
    bars.push(runBar(child, "child", 1), ...taskBars(childTasks[i]?.items ?? [], 2));
  });
  const lanes: TimelineMarks[] = [];
  if (steps.length) {
    lanes.push({
      kind: "step",
      label: "steps",
      marks: steps.map((s) => [
        s.createdAt.getTime(),
        `step ${s.number} ${s.name}${s.error ? " (failed)" : ""}`,
      ]),
    });
  }
  if (timers.length) {
    lanes.push({
      kind: "timer",
      label: "timers",
      marks: timers.map((t) => [t.fireAt.getTime(), `timer ${t.name}`]),
    });
  }
  const byType = new Map<string, [number, string][]>();
  for (const event of history.items) {
    const marks = byType.get(event.type) ?? [];
    marks.push([event.createdAt.getTime(), `#${event.sequence} ${event.type}`]);
    byType.set(event.type, marks);
  }
  for (const [type, marks] of byType)
    lanes.push({ kind: "events", label: `${type} (${marks.length})`, marks });
  const instants = [
    ...bars.flatMap((bar) => [bar.start, bar.end ?? Date.now()]),
    ...lanes.flatMap((lane) => lane.marks.map(([at]) => at)),
  ];
  return {
    from: Math.min(...instants),
    to: Math.max(...instants),
    bars,
    lanes,
    eventsTruncated: history.more,
  };
}
