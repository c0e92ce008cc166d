/** What executions are made of, and what callers pass to start, change and list them. */

import { optionKeys } from "../core/input.js";
import type { RunStatus } from "../core/run-status.js";
import { APPEND_FIELDS, type AppendOption } from "../history/index.js";

export type { Page } from "../core/keyset.js";
export { RUN_STATUSES as EXECUTION_STATUSES } from "../core/run-status.js";
export type ExecutionStatus = RunStatus;

export interface Execution {
  id: string;
  /** The registered definition it runs; null for a run started by name with none registered. */
  definitionId: string | null;
  /** The workflow's name: its definition's, or the one it was started with. */
  name: string;
  status: ExecutionStatus;
  input: unknown;
  output: unknown;
  error: unknown;
  /** The engine's own state of the run. */
  state: unknown;
  metadata: Record<string, unknown>;
  idempotencyKey: string | null;
  parentExecutionId: string | null;
  parentTaskId: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** When the run first became running. */
  startedAt: Date | null;
  /** When the run reached a terminal status. */
  completedAt: Date | null;
  /** The run this one was forked from (executions.fork); null for a run started otherwise. */
  forkOf: string | null;
  /** The step this run was forked at: it kept the source's steps below it. Null when not a fork. */
  forkStep: number | null;
  /** The step the run's last rewind took it back to (executions.rewind); null when never rewound. */
  rewoundToStep: number | null;
  /** The version that rewind gave the run (later writes move the run's own version on). */
  rewoundVersion: number | null;
  /** When that rewind ran (its transaction's time). */
  rewoundAt: Date | null;
}

export interface StartExecution {
  id?: string;
  /**
   * The definition to run: its id, or its name and version (no version: the newest active one). A
   * name with no definition registered under it starts a run of that name with no definition.
   */
  definitionId?: string;
  name?: string;
  version?: number;
  input?: unknown;
  /** A second start with the same key returns the first execution instead of creating another. */
  idempotencyKey?: string;
  parentExecutionId?: string;
  parentTaskId?: string;
  metadata?: Record<string, unknown>;
  /** Default "pending". */
  status?: "pending" | "running";
}

/** Fields to change; an absent field is left as it is, `null` clears it. */
export interface ExecutionPatch {
  status?: ExecutionStatus;
  input?: unknown;
  output?: unknown;
  error?: unknown;
  state?: unknown;
  /** Replaces the metadata object. */
  metadata?: Record<string, unknown>;
}

/**
 * The whole object, for engines that own it: every field not given is written as null. It needs a
 * definitionId or a name (or both, when the name is the definition's).
 */
export interface ExecutionRecord {
  id: string;
  definitionId?: string | null;
  name?: string | null;
  status: ExecutionStatus;
  input?: unknown;
  output?: unknown;
  error?: unknown;
  state?: unknown;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string | null;
  parentExecutionId?: string | null;
  parentTaskId?: string | null;
}

export interface ExecutionWriteOptions {
  /** Write only if the row is at this version; otherwise a ConflictError and nothing is written. */
  expectedVersion?: number;
  /** update: write only if the run is in this status (or one of these); otherwise a ConflictError. */
  expectedStatus?: ExecutionStatus | ExecutionStatus[];
}

export interface CancelExecutionOptions extends ExecutionWriteOptions {
  /** Also cancel every unfinished descendant execution and the unfinished tasks of all of them. */
  cascade?: boolean;
}

export interface ExecutionFilter {
  /** Only these executions (at most 1,000 ids): several runs read as one snapshot, in one statement. */
  ids?: readonly string[];
  status?: ExecutionStatus | ExecutionStatus[];
  definitionId?: string;
  /** Runs of the workflow with this name: of any version of its definition, or started by name alone. */
  definitionName?: string;
  parentExecutionId?: string;
  /** The forks of this run (executions.fork), those whose forkOf it is. */
  forkOf?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  updatedAfter?: Date;
  updatedBefore?: Date;
  /** Executions whose metadata contains this object (`@>`). */
  metadata?: Record<string, unknown>;
}

export interface ExecutionListOptions {
  /** Default 100. */
  limit?: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string | null;
  /** By creation time, then id; default "asc" (oldest first). */
  order?: "asc" | "desc";
}

// The keys each of these takes, refused otherwise (refuseUnknownKeys): a misspelt idempotencyKey
// would start a second run, a misspelt expectedVersion would write without its compare-and-set.
export const START_KEYS = optionKeys<StartExecution>({
  id: true,
  definitionId: true,
  name: true,
  version: true,
  input: true,
  idempotencyKey: true,
  parentExecutionId: true,
  parentTaskId: true,
  metadata: true,
  status: true,
});
const PATCH_FIELDS: Record<keyof ExecutionPatch, true> = {
  status: true,
  input: true,
  output: true,
  error: true,
  state: true,
  metadata: true,
};
export const PATCH_KEYS = optionKeys<ExecutionPatch>(PATCH_FIELDS);
// A run read back may be written again as it is (`upsert({ ...run, status })`): the fields only read
// are known too, and ignored as before.
export const RECORD_KEYS = optionKeys<ExecutionRecord & Execution>({
  ...PATCH_FIELDS,
  id: true,
  definitionId: true,
  name: true,
  idempotencyKey: true,
  parentExecutionId: true,
  parentTaskId: true,
  version: true,
  createdAt: true,
  updatedAt: true,
  startedAt: true,
  completedAt: true,
  forkOf: true,
  forkStep: true,
  rewoundToStep: true,
  rewoundVersion: true,
  rewoundAt: true,
});
export const WRITE_KEYS = optionKeys<ExecutionWriteOptions & AppendOption>({
  expectedVersion: true,
  expectedStatus: true,
  ...APPEND_FIELDS,
});
export const MERGE_KEYS = optionKeys<Pick<ExecutionWriteOptions, "expectedVersion">>({
  expectedVersion: true,
});
export const CANCEL_KEYS = optionKeys<CancelExecutionOptions>({
  expectedVersion: true,
  expectedStatus: true,
  cascade: true,
});
const FILTER_FIELDS: Record<keyof ExecutionFilter, true> = {
  ids: true,
  status: true,
  definitionId: true,
  definitionName: true,
  parentExecutionId: true,
  forkOf: true,
  createdAfter: true,
  createdBefore: true,
  updatedAfter: true,
  updatedBefore: true,
  metadata: true,
};
export const LIST_KEYS = optionKeys<ExecutionFilter & ExecutionListOptions>({
  ...FILTER_FIELDS,
  limit: true,
  cursor: true,
  order: true,
});
export const ITERATE_KEYS = optionKeys<ExecutionFilter & { pageSize?: number; order?: "asc" | "desc" }>({
  ...FILTER_FIELDS,
  pageSize: true,
  order: true,
});
export const COUNT_KEYS = optionKeys<Omit<ExecutionFilter, "status">>(
  (({ status: _, ...rest }) => rest)(FILTER_FIELDS),
);

/** What executions.fork and executions.rewind share: how a run that has not finished is treated. */
interface CutOptions {
  /**
   * Fork or rewind a run that has not finished (pending, running, waiting) too. Without it such a
   * run is refused with a ConflictError: whoever runs it would go on writing past the cut.
   */
  force?: boolean;
  /** Only if the run is at this version; otherwise a ConflictError and nothing is written. */
  expectedVersion?: number;
}

export interface ForkExecutionOptions extends CutOptions {
  /** The step the new run runs again from: it keeps the source's steps numbered below it. */
  fromStep: number;
}

export interface RewindExecutionOptions extends CutOptions {
  /** The first step deleted: the run keeps its steps numbered below it and runs again from it. */
  toStep: number;
}

export const FORK_KEYS = optionKeys<ForkExecutionOptions>({
  fromStep: true,
  force: true,
  expectedVersion: true,
});
export const REWIND_KEYS = optionKeys<RewindExecutionOptions>({
  toStep: true,
  force: true,
  expectedVersion: true,
});
