/** What tasks are made of, and what callers pass to write and list them. */

import { optionKeys } from "../core/input.js";
import type { RunStatus } from "../core/run-status.js";
import { APPEND_FIELDS, type AppendOption } from "../history/index.js";

export type TaskStatus = RunStatus;

export interface Task {
  taskExecId: string;
  taskId: string;
  executionId: string;
  workflowId: string | null;
  status: TaskStatus;
  /** The kind of step: "basic" unless the engine says otherwise (parallel, collection, router, ...). */
  executionType: string;
  /** The parent task's taskExecId. */
  parentId: string | null;
  agentId: string | null;
  toolId: string | null;
  input: unknown;
  output: unknown;
  error: unknown;
  attempt: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** When the engine says the task started, finished and is to be tried again (null: not set). */
  startedAt: Date | null;
  completedAt: Date | null;
  retryAt: Date | null;
}

/** A task as written by upsert: fields not given are written as null (or their default). */
export interface TaskRecord {
  /** Omitted: a new task with a fresh UUIDv7. */
  taskExecId?: string;
  taskId: string;
  executionId: string;
  workflowId?: string | null;
  /** Default "pending". */
  status?: TaskStatus;
  /** Default "basic". */
  executionType?: string;
  parentId?: string | null;
  agentId?: string | null;
  toolId?: string | null;
  input?: unknown;
  output?: unknown;
  error?: unknown;
  /** Default 1. */
  attempt?: number;
  /** Dates from the year 1000 to 9999, kept as given. */
  startedAt?: Date | null;
  completedAt?: Date | null;
  retryAt?: Date | null;
}

/**
 * The fields `update` changes: only those given; `null` clears one that may be empty. The task's
 * identity and place (taskExecId, taskId, executionId, parentId) are not among them.
 */
export type TaskPatch = Partial<
  Pick<
    TaskRecord,
    | "status"
    | "workflowId"
    | "executionType"
    | "agentId"
    | "toolId"
    | "input"
    | "output"
    | "error"
    | "attempt"
    | "startedAt"
    | "completedAt"
    | "retryAt"
  >
>;

export interface TaskWriteOptions {
  /** Write only if the task is at this version; otherwise a ConflictError and nothing is written. */
  expectedVersion?: number;
  /** Write only if the task is in this status (or one of these); otherwise a ConflictError. */
  expectedStatus?: TaskStatus | TaskStatus[];
}

/**
 * A child created under a parent: it takes the parent's execution and workflow. An engine that writes
 * the run's id on every state it makes may pass it as `executionId`; it must be the parent's.
 */
export type ChildTask = Omit<TaskRecord, "executionId" | "parentId"> & { executionId?: string };

export interface TaskNode extends Task {
  /** 0 for the root, 1 for its children, and so on. */
  depth: number;
}

export interface TaskProgress {
  total: number;
  byStatus: Record<TaskStatus, number>;
  /** completed / total (0 when there are no tasks). */
  completionRate: number;
  /** failed / total (0 when there are no tasks). */
  failureRate: number;
}

export interface TaskFilter {
  executionId?: string;
  status?: TaskStatus | TaskStatus[];
  agentId?: string;
  toolId?: string;
  parentId?: string;
  executionType?: string;
  /** "asc" (the default): oldest first; "desc": newest first. A cursor goes on in its page's order. */
  order?: "asc" | "desc";
  /** Default 100. */
  limit?: number;
  cursor?: string | null;
}

// The keys each of these takes, refused otherwise (refuseUnknownKeys): a misspelt parentId would
// make a root task, a misspelt expectedVersion an update without its compare-and-set.
const CHILD_FIELDS: Record<keyof ChildTask, true> = {
  taskExecId: true,
  executionId: true,
  taskId: true,
  workflowId: true,
  status: true,
  executionType: true,
  agentId: true,
  toolId: true,
  input: true,
  output: true,
  error: true,
  attempt: true,
  startedAt: true,
  completedAt: true,
  retryAt: true,
};
export const CHILD_KEYS = optionKeys<ChildTask>(CHILD_FIELDS);
// A task read back may be written again as it is (`upsert({ ...task, status })`): the fields only
// read are known too, and ignored as before.
export const RECORD_KEYS = optionKeys<TaskRecord & Task>({
  ...CHILD_FIELDS,
  parentId: true,
  version: true,
  createdAt: true,
  updatedAt: true,
});
export const TASK_WRITE_KEYS = optionKeys<TaskWriteOptions & AppendOption>({
  expectedVersion: true,
  expectedStatus: true,
  ...APPEND_FIELDS,
});
export const FILTER_KEYS = optionKeys<TaskFilter>({
  executionId: true,
  status: true,
  agentId: true,
  toolId: true,
  parentId: true,
  executionType: true,
  order: true,
  limit: true,
  cursor: true,
});
