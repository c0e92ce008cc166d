/** What the /api routes return, read through the store's public repositories only. */

import {
  ConflictError,
  EXECUTION_STATUSES,
  type Execution,
  type ExecutionStatus,
  isUuid,
  type JobStatus,
  type Store,
  type Task,
  type Timer,
  ValidationError,
} from "../index.js";
import { type AgentsView, agentsView } from "./agents.js";
import { listMastraRuns, mastraRun } from "./mastra-runs.js";
import { metricsText } from "./metrics.js";
import { queueFigures } from "./queue-figures.js";
import { latestEvents, openEventPayload, openStepOutput, runOrigin, runSteps } from "./run-record.js";
import type { Sampler } from "./sampler.js";
import { type TaskView, treeOrder } from "./task-tree.js";
import { listThreads, threadView } from "./threads.js";
import { timeline } from "./timeline.js";

/** How many tasks an execution's page shows at most. */
export const MAX_TASKS = 5_000;
const TIMERS_DUE_SOON_MS = 5 * 60_000;

/** The workflow an execution runs; a run started by name alone has no definition id or version. */
export interface DefinitionRef {
  id: string | null;
  name: string;
  version: number | null;
}

/** An execution without its (possibly large) input, output and state. */
export interface ExecutionSummary {
  id: string;
  status: ExecutionStatus;
  definition: DefinitionRef | null;
  parentExecutionId: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  durationMs: number | null;
  /** A fork's source and step (null for other runs), and the step of the run's last rewind. */
  forkOf: string | null;
  forkStep: number | null;
  rewoundToStep: number | null;
}

export class DashboardData {
  /** Definitions never change name or version, so their ids are looked up once. */
  private readonly definitions = new Map<string, DefinitionRef | null>();

  constructor(
    private readonly store: Store,
    private readonly sampler: Sampler,
    /** The engine's way to run a finished run again (DashboardOptions.replay), if it has one. */
    private readonly replayer?: (executionId: string) => Promise<string>,
  ) {}

  /** The engine replays runs: the run page offers it for those that did not complete. */
  get replays(): boolean {
    return this.replayer !== undefined;
  }

  /** Runs a failed, cancelled or timed-out run again, as the engine does it; the new run's id. */
  async replay(id: string): Promise<{ id: string; replayOf: string }> {
    if (!this.replayer) throw new ValidationError("this dashboard's engine does not replay runs");
    const run = await this.store.executions.get(id);
    if (!["failed", "cancelled", "timed_out"].includes(run.status)) {
      throw new ConflictError(
        `run ${id} is ${run.status}: only a run that failed, was cancelled or timed out is replayed`,
      );
    }
    return { id: await this.replayer(id), replayOf: id };
  }

  /** A new run that keeps the run's steps below `fromStep` (executions.fork); no engine is called. */
  async forkRun(id: string, fromStep: number, force: boolean) {
    const fork = await this.store.executions.fork(id, { fromStep, force });
    return { id: fork.id, forkOf: id, fromStep };
  }

  /** The run taken back to `toStep` (executions.rewind); its engine resumes it as any pending run. */
  async rewindRun(id: string, toStep: number, force: boolean) {
    const run = await this.store.executions.rewind(id, { toStep, force });
    return { id: run.id, status: run.status, version: run.version };
  }

  /** The store in Prometheus' text format (see metrics.ts). */
  metrics(): Promise<string> {
    return metricsText(this.store);
  }

  async overview() {
    const sample = this.sampler.latest();
    const timersDueSoon = await this.store.timers.listAll({
      dueBefore: new Date(Date.now() + TIMERS_DUE_SOON_MS),
      limit: 20,
    });
    return {
      store: this.store.describe(),
      schema: this.store.schema,
      readOnly: this.store.readOnly,
      sampledAt: sample ? new Date(sample.at) : null,
      sampleIntervalMs: this.sampler.intervalMs,
      executions: sample?.executions ?? null,
      estimated: sample?.estimated ?? [],
      queues: sample?.queues ?? [],
      depth: sample?.depth ?? 0,
      timersDueSoon: timersDueSoon.map(timerView),
      series: this.sampler.history().map((s) => ({
        at: s.at,
        depth: s.depth,
        ready: s.ready,
        running: s.running,
        dead: s.dead,
        finishedPerMinute: Math.round(s.finishedPerMinute * 10) / 10,
      })),
    };
  }

  async definitionNames(): Promise<string[]> {
    const list = await this.store.definitions.list({ limit: 1000 });
    return [...new Set(list.map((d) => d.name))];
  }

  async executions(query: URLSearchParams) {
    const status = query.get("status") || undefined;
    if (status !== undefined && !(EXECUTION_STATUSES as readonly string[]).includes(status)) {
      throw new ValidationError(`status must be one of ${EXECUTION_STATUSES.join(", ")}`, {
        field: "status",
      });
    }
    const page = await this.store.executions.list({
      status: status as ExecutionStatus | undefined,
      definitionName: query.get("definition") || undefined,
      createdAfter: dateParam(query, "from"),
      createdBefore: dateParam(query, "to"),
      metadata: metadataParam(query),
      cursor: query.get("cursor") || undefined,
      limit: integerParam(query, "limit", 50, 200),
      order: "desc",
    });
    return { items: await Promise.all(page.items.map((e) => this.summary(e))), nextCursor: page.nextCursor };
  }

  async execution(id: string) {
    const execution = await this.store.executions.get(id);
    const [definition, tasks, componentState, correlations, timers, jobs, children] = await Promise.all([
      this.definition(execution),
      this.tasks(id),
      this.store.componentState.list(id),
      this.store.correlations.listForExecution(id),
      this.store.timers.list(id),
      this.store.jobs.list({ executionId: id, limit: 200 }),
      this.store.executions.list({ parentExecutionId: id, limit: 100 }),
    ]);
    const [steps, events, origin, forks] = await Promise.all([
      runSteps(this.store, execution),
      latestEvents(this.store, execution),
      runOrigin(this.store, execution),
      this.store.executions.list({ forkOf: id, order: "desc", limit: 100 }),
    ]);
    return {
      execution: { ...execution, definition, durationMs: duration(execution) },
      origin,
      forks: await Promise.all(forks.items.map((e) => this.summary(e))),
      steps: steps.steps,
      stepsTruncated: steps.more,
      events: events.events,
      earlierEvents: events.earlier,
      timeline: await timeline(this.store, {
        run: execution,
        tasks: tasks.items,
        jobs,
        timers,
        children: children.items,
        steps: steps.steps,
      }),
      tasks: tasks.items,
      tasksTruncated: tasks.truncated,
      componentState,
      correlations,
      timers: timers.map(timerView),
      jobs,
      children: await Promise.all(children.items.map((e) => this.summary(e))),
    };
  }

  async queues(query: URLSearchParams) {
    const queue = query.get("queue") || undefined;
    const after = query.get("after") || undefined;
    const status = (query.get("status") || "dead") as JobStatus;
    if (!["waiting", "running", "dead"].includes(status)) {
      throw new ValidationError("status must be waiting, running or dead", { field: "status" });
    }
    const limit = integerParam(query, "limit", 50, 200);
    const [stats, jobs, workers, schedules] = await Promise.all([
      queueFigures(this.store),
      this.store.jobs.list({ queue, status, after, limit: limit + 1 }),
      this.store.jobs.workers(queue),
      this.store.schedules.list(),
    ]);
    const more = jobs.length > limit;
    const items = more ? jobs.slice(0, limit) : jobs;
    return {
      stats,
      workers,
      jobs: items,
      nextAfter: more ? (items[items.length - 1]?.id ?? null) : null,
      // The cron schedules that enqueue into the queues (of the one shown, when one is).
      schedules: queue === undefined ? schedules : schedules.filter((s) => s.queue === queue),
    };
  }

  job(id: string) {
    return this.store.jobs.get(id);
  }

  /** A step's output or an event's payload, whole: what the run page opens on demand. */
  value(id: string, what: "steps" | "events", n: number): Promise<unknown> {
    return what === "steps" ? openStepOutput(this.store, id, n) : openEventPayload(this.store, id, n);
  }

  /** LangGraph's threads, newest write first, or one thread's checkpoints (threads.ts). */
  threads(view: "threads" | "thread", query: URLSearchParams): Promise<unknown> {
    return view === "threads"
      ? listThreads(this.store, query.get("after") || null)
      : threadView(this.store, query);
  }

  /** Mastra's workflow runs, newest first, or one run with its steps (mastra-runs.ts). */
  mastra(view: "runs" | "run", query: URLSearchParams): Promise<unknown> {
    return view === "runs" ? listMastraRuns(this.store, query) : mastraRun(this.store, query);
  }

  /** The OpenAI Agents SDK's sessions, one session's items, or the runs waiting on approvals (agents.ts). */
  agents(view: AgentsView, query: URLSearchParams): Promise<unknown> {
    return agentsView(this.store, view, query);
  }

  /** Cancels a run with its unfinished descendants and their tasks (executions.cancel with cascade). */
  async cancelRun(id: string): Promise<{ id: string; status: string }> {
    const execution = await this.store.executions.cancel(id, { cascade: true });
    return { id: execution.id, status: execution.status };
  }

  /** Pauses or resumes a queue (see jobs.pause); `changed` is false when it already was so. */
  async pauseQueue(
    queue: string,
    pause: boolean,
  ): Promise<{ queue: string; paused: boolean; changed: boolean }> {
    const changed = pause
      ? await this.store.jobs.pause(queue, { by: "dashboard" })
      : await this.store.jobs.resume(queue);
    return { queue, paused: pause, changed };
  }

  /** Pauses or resumes a cron schedule (see schedules.pause); `changed` is false when it already was so. */
  async pauseSchedule(
    name: string,
    pause: boolean,
  ): Promise<{ name: string; paused: boolean; changed: boolean }> {
    const changed = pause ? await this.store.schedules.pause(name) : await this.store.schedules.resume(name);
    return { name, paused: pause, changed };
  }

  /** Deletes a job that is dead (a live one is not the dashboard's to delete: 409). */
  async deleteDead(id: string): Promise<{ deleted: string[] }> {
    const job = await this.store.jobs.get(id);
    if (job.status !== "dead")
      throw new ConflictError(`job ${id} is ${job.status}, not dead; nothing was deleted`);
    return { deleted: await this.store.jobs.cancel([id]) };
  }

  /** Retries or deletes every dead job of a queue, a page of 500 at a time. */
  async everyDead(
    queue: string,
    action: "retry" | "delete",
  ): Promise<{ retried?: string[]; deleted?: string[] }> {
    const done: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.store.primary.jobs.list({ queue, status: "dead", limit: 500, after });
      if (page.length === 0) break;
      const ids = page.map((job) => job.id);
      const acted = action === "retry" ? await this.store.jobs.retry(ids) : await this.store.jobs.cancel(ids);
      done.push(...acted);
      // The next page goes on after the last job still dead (a retry skips one whose key is held): those
      // acted on have left the list, and one deleted has no place in it to go on from.
      after = ids.filter((id) => !acted.includes(id)).at(-1) ?? after;
    }
    return action === "retry" ? { retried: done } : { deleted: done };
  }

  async retry(id: string): Promise<{ retried: string[] }> {
    return { retried: await this.store.jobs.retry([id]) };
  }

  private async definition(execution: Execution): Promise<DefinitionRef | null> {
    const id = execution.definitionId;
    if (id === null) return { id: null, name: execution.name, version: null };
    if (!this.definitions.has(id)) {
      const found = await this.store.definitions.get(id).catch(() => null);
      this.definitions.set(id, found && { id: found.id, name: found.name, version: found.version });
    }
    return this.definitions.get(id) ?? null;
  }

  private async summary(e: Execution): Promise<ExecutionSummary> {
    return {
      id: e.id,
      status: e.status,
      definition: await this.definition(e),
      parentExecutionId: e.parentExecutionId,
      createdAt: e.createdAt,
      updatedAt: e.updatedAt,
      startedAt: e.startedAt,
      completedAt: e.completedAt,
      durationMs: duration(e),
      forkOf: e.forkOf,
      forkStep: e.forkStep,
      rewoundToStep: e.rewoundToStep,
    };
  }

  /** Every task of the execution (up to MAX_TASKS) in tree order: a parent right before its subtree. */
  private async tasks(executionId: string): Promise<{ items: TaskView[]; truncated: boolean }> {
    const all: Task[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.store.tasks.list({ executionId, limit: 1000, cursor });
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor && all.length < MAX_TASKS);
    return { items: treeOrder(all), truncated: cursor !== null };
  }
}

function duration(e: Execution): number | null {
  if (!e.startedAt) return null;
  const end = e.completedAt ?? new Date();
  return Math.max(0, end.getTime() - e.startedAt.getTime());
}

function timerView(t: Timer) {
  const { id, executionId, name, fireAt, payload, queue, leaseOwner, leaseExpiresAt } = t;
  return { id, executionId, name, fireAt, payload, queue, leaseOwner, leaseExpiresAt };
}

function integerParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ValidationError(`${name} must be an integer from 1 to ${max}`, { field: name });
  }
  return value;
}

/** An instant given as ISO 8601 text (`from`, `to`), or undefined when absent. */
function dateParam(query: URLSearchParams, name: string): Date | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError(`${name} must be a date and time (ISO 8601)`, { field: name });
  }
  return date;
}

/** `meta`: `key=value` (a string value), or a JSON object the metadata must contain. */
function metadataParam(query: URLSearchParams): Record<string, unknown> | undefined {
  const raw = query.get("meta")?.trim();
  if (!raw) return undefined;
  if (raw.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ValidationError("meta must be key=value or a JSON object", { field: "meta" });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ValidationError("meta must be key=value or a JSON object", { field: "meta" });
    }
    return parsed as Record<string, unknown>;
  }
  const at = raw.indexOf("=");
  if (at <= 0) throw new ValidationError("meta must be key=value or a JSON object", { field: "meta" });
  return { [raw.slice(0, at).trim()]: raw.slice(at + 1).trim() };
}

export function checkJobId(id: string): string {
  if (!isUuid(id)) throw new ValidationError("job id must be a UUID", { field: "id" });
  return id;
}
