/**
 * A run's timeline: what happened when, as lanes over time for the run page's waterfall. Bars have a
 * start and an end (null while they go on): the run, its tasks in tree order, its jobs, its child runs
 * with their own tasks inline. Marks are instants: each step's checkpoint, each timer's fire time, and
 * the history's events, one lane per event type (a run of a thousand events stays a few lanes), and a
 * rewind's moment. It starts when the run was created: a fork's copied records keep the source's times,
 * which belong to the source's timeline (the page's steps table marks its copied steps).
 * Each list is capped so a page stays quick; the events are read without their payloads.
 */

import type { Execution, Job, Store, Task, Timer } from "../index.js";
import type { StepView } from "./run-record.js";
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
  kind: "step" | "timer" | "events" | "rewind";
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

interface EventMark {
  seq: number;
  type: string;
  created_at: Date;
}

/** The first TIMELINE_EVENTS events of the run from `from` on: their sequence, type and time only. */
async function events(
  store: Store,
  executionId: string,
  from: Date,
): Promise<{ items: EventMark[]; more: boolean }> {
  const { rows } = await store.query<EventMark>(
    `select seq, type, created_at from "${store.schema}".events
      where execution_id = $1 and created_at >= $2 order by seq limit $3`,
    [executionId, from, TIMELINE_EVENTS + 1],
  );
  return { items: rows.slice(0, TIMELINE_EVENTS), more: rows.length > TIMELINE_EVENTS };
}

/** What the run page has read already, which the timeline shows too. */
export interface RunParts {
  run: Execution;
  tasks: Task[];
  jobs: Job[];
  timers: Timer[];
  children: Execution[];
  /** Its steps, as the page shows them (run-record.ts). */
  steps: StepView[];
}

export async function timeline(store: Store, parts: RunParts): Promise<Timeline> {
  const { run, tasks, jobs, timers } = parts;
  const children = parts.children.slice(0, TIMELINE_CHILDREN);
  const from = run.createdAt.getTime();
  const steps = parts.steps.filter((s) => !s.copied && s.createdAt.getTime() >= from);
  const [history, childTasks] = await Promise.all([
    events(store, run.id, run.createdAt),
    Promise.all(children.map((child) => store.tasks.list({ executionId: child.id, limit: CHILD_TASKS }))),
  ]);
  const bars: TimelineBar[] = [runBar(run, "run", 0), ...taskBars(tasks, 1)];
  const lanes: TimelineMarks[] = [];
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
  if (steps.length) {
    lanes.push({
      kind: "step",
      label: "steps",
      marks: steps.map((s) => [
        s.createdAt.getTime(),
        `step ${s.number} ${s.name}${s.error !== null ? " (failed)" : ""}`,
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
  if (run.rewoundAt !== null) {
    lanes.push({
      kind: "rewind",
      label: "rewound",
      marks: [
        [run.rewoundAt.getTime(), `rewound to step ${run.rewoundToStep} (version ${run.rewoundVersion})`],
      ],
    });
  }
  const byType = new Map<string, [number, string][]>();
  for (const event of history.items) {
    const marks = byType.get(event.type) ?? [];
    marks.push([event.created_at.getTime(), `#${event.seq} ${event.type}`]);
    byType.set(event.type, marks);
  }
  for (const [type, marks] of byType)
    lanes.push({ kind: "events", label: `${type} (${marks.length})`, marks });
  // Copied tasks and jobs from before the run was created are cut at its creation, or left out.
  const shown = bars
    .filter((bar) => bar.end === null || bar.end >= from)
    .map((bar) => (bar.start < from ? { ...bar, start: from } : bar));
  const instants = [
    ...shown.flatMap((bar) => [bar.start, bar.end ?? Date.now()]),
    ...lanes.flatMap((lane) => lane.marks.map(([at]) => at)),
  ];
  return {
    from: Math.max(from, Math.min(...instants)),
    to: Math.max(...instants),
    bars: shown,
    lanes,
    eventsTruncated: history.more,
  };
}
