/**
 * flowstore rows as the World's entities: an execution is a run (its World fields in `metadata`), a
 * task is a step or a wait, a signal is a hook, a history event is an event. Payloads are bytes, kept
 * through the JSON codec; `resolveData: "none"` leaves them out.
 */

import type { Event, Hook, Step, Wait, WorkflowRun } from "@workflow/world";
import type { Execution, HistoryEvent, Signal, Task } from "../../index.js";
import { decode, decodeOptional, encode } from "./codec.js";
import { eventIdOf, runIdOf, slotEventId } from "./ids.js";

export type ResolveData = "none" | "all";

/** What a run keeps beside flowstore's own columns, in the execution's metadata. */
export interface RunFields {
  deploymentId: string;
  specVersion?: number;
  executionContext?: Record<string, unknown>;
  attributes?: Record<string, string>;
  errorCode?: string;
}

export function runMetadata(fields: RunFields): Record<string, unknown> {
  return encode(fields) as Record<string, unknown>;
}

export function runFields(execution: Execution): RunFields {
  return decode(execution.metadata) as RunFields;
}

/** Drops the keys whose value is undefined (the World's schemas read a present undefined as a value). */
function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

/**
 * An error as spec 3 has it on runs and steps, `{ message, stack?, code? }`: 4.x sends a run's as
 * `{ message, stack }` (its code apart) and a step's as its message, with the stack beside it. Spec 5's
 * are serialized bytes, kept as they are.
 */
export function structuredError(error: unknown, code?: string): unknown {
  if (error === undefined || error === null || error instanceof Uint8Array) return error ?? undefined;
  const given = (typeof error === "object" ? error : { message: String(error) }) as Record<string, unknown>;
  return compact({
    message: typeof given.message === "string" ? given.message : "Unknown error",
    stack: typeof given.stack === "string" ? given.stack : undefined,
    code: typeof given.code === "string" ? given.code : code,
  });
}

/** Whether an entity was written by the SDK's 4.x line (spec 3 and before). */
function isSpec3(specVersion: number | undefined): boolean {
  return specVersion !== undefined && specVersion <= 3;
}

export function toRun(execution: Execution, resolveData: ResolveData = "all"): WorkflowRun {
  const fields = runFields(execution);
  const full = resolveData !== "none";
  const error = decodeOptional(execution.error);
  return compact({
    runId: runIdOf(execution.id),
    status: execution.status,
    deploymentId: fields.deploymentId ?? "",
    workflowName: execution.name,
    specVersion: fields.specVersion,
    executionContext: fields.executionContext,
    input: full ? decodeOptional(execution.input) : undefined,
    output: full ? decodeOptional(execution.output) : undefined,
    error: isSpec3(fields.specVersion) ? structuredError(error, fields.errorCode) : error,
    errorCode: fields.errorCode,
    // The 4.x line's runs have no attributes (spec 4 brought them).
    attributes: isSpec3(fields.specVersion) ? undefined : (fields.attributes ?? {}),
    startedAt: execution.startedAt ?? undefined,
    completedAt: execution.completedAt ?? undefined,
    createdAt: execution.createdAt,
    updatedAt: execution.updatedAt,
  }) as WorkflowRun;
}

/** A task as a step, reported with the spec of the run it belongs to (its runtime's). */
export function toStep(task: Task, resolveData: ResolveData, specVersion: number): Step {
  const full = resolveData !== "none";
  const error = decodeOptional(task.error);
  return compact({
    runId: runIdOf(task.executionId),
    stepId: task.taskId,
    stepName: task.toolId ?? "",
    status: task.status as Step["status"],
    input: full ? decodeOptional(task.input) : undefined,
    output: full ? decodeOptional(task.output) : undefined,
    error: isSpec3(specVersion) ? structuredError(error) : error,
    attempt: task.attempt,
    startedAt: task.startedAt ?? undefined,
    completedAt: task.completedAt ?? undefined,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    retryAfter: task.retryAt ?? undefined,
    specVersion,
  }) as Step;
}

export function toWait(task: Task, specVersion: number): Wait {
  return compact({
    waitId: `${runIdOf(task.executionId)}-${task.taskId}`,
    runId: runIdOf(task.executionId),
    status: task.status === "completed" ? "completed" : "waiting",
    resumeAt: task.retryAt ?? undefined,
    completedAt: task.completedAt ?? undefined,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    specVersion,
  }) as Wait;
}

/** What a hook keeps beside its token and run, in the signal's metadata. */
export interface HookFields {
  hookId: string;
  /** The hook's token, where the signal holds it under a digest (hook-tokens.ts). */
  token?: string;
  metadata?: Uint8Array;
  isWebhook?: boolean;
  isSystem?: boolean;
  specVersion?: number;
}

export interface HookOwner {
  ownerId: string;
  projectId: string;
  environment: string;
}

export function hookFields(signal: Signal): HookFields {
  return decode(signal.metadata) as HookFields;
}

export function toHook(signal: Signal, owner: HookOwner, resolveData: ResolveData = "all"): Hook {
  const fields = hookFields(signal);
  return compact({
    runId: runIdOf(signal.executionId),
    hookId: fields.hookId,
    token: fields.token ?? signal.token,
    ...owner,
    metadata: resolveData === "none" ? undefined : fields.metadata,
    createdAt: signal.createdAt,
    specVersion: fields.specVersion,
    isWebhook: fields.isWebhook ?? true,
    isSystem: fields.isSystem,
  }) as Hook;
}

/**
 * An event's payload in the history: its spec version and its data; a hook_received written with a
 * resume id (the slot line's resumeHook) keeps it and its payload's digest beside them.
 */
export interface EventPayload {
  v: number;
  d?: unknown;
  r?: string;
  g?: string;
}

export function eventPayload(specVersion: number, eventData: unknown): EventPayload {
  return eventData === undefined ? { v: specVersion } : { v: specVersion, d: encode(eventData) };
}

/** The field of each event type's data that holds its payload (left out with `resolveData: "none"`). */
const PAYLOAD_FIELD: Record<string, string> = {
  run_created: "input",
  run_started: "input",
  run_completed: "output",
  run_failed: "error",
  step_created: "input",
  step_started: "input",
  step_completed: "result",
  step_failed: "error",
  step_retrying: "error",
  hook_created: "metadata",
  hook_received: "payload",
};

export function toEvent(event: HistoryEvent, resolveData: ResolveData = "all"): Event {
  const payload = (event.payload ?? {}) as Partial<EventPayload>;
  let eventData = payload.d === undefined ? undefined : (decode(payload.d) as Record<string, unknown>);
  const field = PAYLOAD_FIELD[event.type];
  if (resolveData === "none" && eventData && field && field in eventData) {
    const { [field]: _, ...rest } = eventData;
    eventData = Object.keys(rest).length ? rest : undefined;
  }
  return compact({
    runId: runIdOf(event.executionId),
    // The slot line's events carry their position (each event records the spec that wrote it, and a
    // run is written by one line: run-events.ts refuses the other).
    eventId:
      (payload.v ?? 0) >= 6
        ? slotEventId(event.sequence)
        : eventIdOf(event.executionId, event.sequence, event.createdAt),
    eventType: event.type,
    correlationId: event.correlationId ?? undefined,
    eventData,
    createdAt: event.createdAt,
    specVersion: payload.v,
    resumeId: payload.r,
  }) as unknown as Event;
}
