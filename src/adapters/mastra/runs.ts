/**
 * How a Mastra workflow run lives in flowstore: an execution of its workflow's definition (one per
 * workflow name, made on first use) whose idempotency key names the run, its snapshot split in two. The snapshot without its `context` is the execution's state; each entry of the
 * context (a step's result, the run's input) is a component-state row of its own, so a step's update
 * writes that step and nothing else, and two branches writing at once never overwrite each other.
 */

import { createHash } from "node:crypto";
import type { WorkflowRun } from "@mastra/core/storage";
import type { WorkflowRunState } from "@mastra/core/workflows";
import { ValidationError } from "../../core/errors.js";
import { checkText, toJson } from "../../core/payload.js";
import type { ExecutionStatus } from "../../index.js";
import { refuseReserved } from "../../offload/index.js";

/** Component ids of the context's entries start with this; what follows is the entry's key. */
export const CONTEXT_PART = "context/";

/**
 * The execution's idempotency key for a run: Mastra names a run by its workflow and its id. The id comes
 * first, as JSON, so that every key of one run id shares a prefix (runIdRange) whatever the workflow.
 */
export function runKey(workflowName: string, runId: string): string {
  return `mastra:[${JSON.stringify(runId)},${JSON.stringify(workflowName)}]`;
}

/** The keys of every run with this id, as a range of text in byte order: [from, to). */
export function runIdRange(runId: string): [string, string] {
  const prefix = `mastra:[${JSON.stringify(runId)},`;
  return [prefix, `${prefix.slice(0, -1)}-`];
}

/**
 * The id of the definition a workflow's runs are executions of: derived from its name (a UUID of
 * version 8, from SHA-256), so every process names the same one without reading it. Lists of a
 * workflow's runs and their counts are then the executions' index by definition.
 */
export function definitionIdOf(workflowName: string): string {
  const hex = createHash("sha256").update(`mastra-workflow:${workflowName}`).digest("hex");
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** What a Mastra workflow's definition holds: it marks the workflow as Mastra's. */
export const DEFINITION_BODY = '{"engine":"mastra"}';

/** Keys of Mastra's runs sort in [MASTRA_KEYS_FROM, MASTRA_KEYS_TO). */
export const MASTRA_KEYS_FROM = "mastra:[";
export const MASTRA_KEYS_TO = "mastra:\\";

/** A workflow name or run id as Mastra passes it: non-empty text PostgreSQL can hold. */
export function checkName(value: unknown, field: string): string {
  return checkText(value, field, 255);
}

/** Mastra's run statuses as flowstore's lifecycle shows them (the dashboard, counts, retention). */
const STATUS: Record<string, ExecutionStatus> = {
  pending: "pending",
  running: "running",
  waiting: "waiting",
  suspended: "waiting",
  paused: "waiting",
  success: "completed",
  completed: "completed",
  bailed: "completed",
  skipped: "completed",
  failed: "failed",
  tripwire: "failed",
  canceled: "cancelled",
  cancelled: "cancelled",
};

export function executionStatus(mastraStatus: unknown): ExecutionStatus {
  return (typeof mastraStatus === "string" && STATUS[mastraStatus]) || "pending";
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A snapshot as its rows take it: the state's JSON and each context entry's. */
export interface SplitSnapshot {
  status: ExecutionStatus;
  state: string;
  partIds: string[];
  parts: string[];
}

/**
 * Splits a snapshot. A context that is an object becomes rows (and `{}` in the state, which marks that
 * it had one); anything else stays in the state as it is. Refuses what JSON cannot hold faithfully.
 */
export function splitSnapshot(snapshot: unknown, limits?: { jsonBytes: number }): SplitSnapshot {
  if (!isPlainObject(snapshot)) {
    throw new ValidationError("snapshot must be an object (a WorkflowRunState)", { field: "snapshot" });
  }
  const { context, ...rest } = snapshot;
  const partIds: string[] = [];
  const parts: string[] = [];
  let state: Record<string, unknown> = rest;
  if (isPlainObject(context)) {
    state = { ...rest, context: {} };
    for (const [key, value] of Object.entries(context)) {
      if (value === undefined) continue;
      refuseReserved(value, `snapshot.context.${key}`);
      partIds.push(CONTEXT_PART + key);
      parts.push(toJson(value, `snapshot.context.${key}`, limits));
    }
  } else if (context !== undefined) {
    state = { ...rest, context };
  }
  return {
    status: executionStatus(snapshot.status),
    state: toJson(state, "snapshot", limits),
    partIds,
    parts,
  };
}

/** The snapshot @mastra/pg makes for a step result that comes before any snapshot of its run. */
export function pendingSnapshot(runId: string): Record<string, unknown> {
  return {
    context: {},
    activePaths: [],
    timestamp: Date.now(),
    suspendedPaths: {},
    activeStepsPath: {},
    resumeLabels: {},
    serializedStepGraph: [],
    status: "pending",
    value: {},
    waitingPaths: {},
    runId,
    requestContext: {},
  };
}

/** The snapshot back from its state and its context's rows. */
export function joinSnapshot(
  state: unknown,
  parts: readonly { componentId: string; value: unknown }[],
): Record<string, unknown> {
  const snapshot = isPlainObject(state) ? { ...state } : {};
  if (isPlainObject(snapshot.context)) snapshot.context = contextOf(parts);
  return snapshot;
}

/** A context map from its rows. */
export function contextOf(
  parts: readonly { componentId: string; value: unknown }[],
): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  for (const part of parts) {
    if (part.componentId.startsWith(CONTEXT_PART)) {
      context[part.componentId.slice(CONTEXT_PART.length)] = part.value;
    }
  }
  return context;
}

/** A row of withParts (workflow-sql.ts): a run, with its entries as [id, value] pairs. */
export interface RunRow {
  id: string;
  name: string;
  state: Record<string, unknown> | null;
  metadata: { mastra?: { runId?: string; resourceId?: string } };
  createdAt: Date;
  updatedAt: Date;
  parts: [string, unknown][] | null;
}

/** A run's row with its entries as objects, whose values may be put back from the blob store in place. */
export interface RunWithEntries {
  row: RunRow;
  entries: { componentId: string; value: unknown }[];
}

/** Rows of withParts with their entries as objects. */
export function withEntries(rows: readonly RunRow[]): RunWithEntries[] {
  return rows.map((row) => ({
    row,
    entries: (row.parts ?? []).map(([componentId, value]) => ({ componentId, value })),
  }));
}

/** Runs read (withEntries) as Mastra's runs. */
export function groupRuns(runs: readonly RunWithEntries[]): WorkflowRun[] {
  return runs.map(({ row, entries }) => {
    const mastra = row.metadata?.mastra ?? {};
    return {
      workflowName: row.name,
      runId: mastra.runId ?? row.id,
      snapshot: joinSnapshot(row.state, entries) as unknown as WorkflowRunState,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      ...(mastra.resourceId ? { resourceId: mastra.resourceId } : {}),
    };
  });
}
