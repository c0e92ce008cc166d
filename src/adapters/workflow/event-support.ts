/** What the event writers share: the request's shape, appends, run lookups, reads after a cursor. */

import type { Event, EventResult } from "@workflow/world";
import {
  type Execution,
  type HistoryEvent,
  type NewHistoryEvent,
  NotFoundError,
  type StoreScope,
} from "../../index.js";
import { encode } from "./codec.js";
import { eventPayload, type ResolveData, toEvent } from "./entities.js";
import { EntityConflictError, WorkflowRunNotFoundError, WorkflowWorldError } from "./errors.js";
import type { SpecVersion } from "./spec.js";

/** An `events.create` request, as the writers read it. */
export interface EventRequest {
  eventType: string;
  correlationId?: string;
  specVersion?: number;
  eventData?: Record<string, unknown>;
}

/**
 * What every writer gets: where to write (the store, where one statement does it all, or a
 * transaction), the run (both ids) and how much data to return.
 */
export interface Write {
  scope: StoreScope;
  runId: string;
  executionId: string;
  request: EventRequest;
  resolveData: ResolveData;
  /** The spec of the World that writes (3 or 5). */
  spec: SpecVersion;
}

/** The spec the request was written with: its own, else the World's. */
export function specOf(write: Write): number {
  return write.request.specVersion ?? write.spec;
}

const TERMINAL = new Set(["completed", "failed", "cancelled", "timed_out"]);

export function isTerminal(status: string): boolean {
  return TERMINAL.has(status);
}

/** Appends events to the run's history in one statement and returns them as the World's. */
export async function append(
  write: Write,
  entries: { type: string; eventData?: unknown; correlationId?: string }[],
): Promise<Event[]> {
  const events = await write.scope.events.append(write.executionId, history(write, entries));
  return events.map((event) => toEvent(event, write.resolveData));
}

/** Events as the history keeps them: the World's event type, correlation id and data. */
export function history(
  write: Write,
  entries: { type: string; eventData?: unknown; correlationId?: string }[],
): NewHistoryEvent[] {
  return entries.map((entry) => ({
    type: entry.type,
    correlationId: entry.correlationId ?? write.request.correlationId ?? null,
    payload: eventPayload(specOf(write), entry.eventData),
  }));
}

/** The request itself as a history event (with `eventData`, which may be the request's own or a part of it). */
export function requestHistory(
  write: Write,
  eventData: unknown = write.request.eventData,
): NewHistoryEvent[] {
  return history(write, [{ type: write.request.eventType, eventData }]);
}

/** The World's events of what a write appended. */
export function appendedEvents(write: Write, appended: HistoryEvent[] | undefined): Event[] {
  return (appended ?? []).map((event) => toEvent(event, write.resolveData));
}

/** Appends the request itself (with `eventData`, which may be the request's own or a part of it). */
export async function appendRequest(
  write: Write,
  eventData: unknown = write.request.eventData,
): Promise<Event> {
  const [event] = await append(write, [{ type: write.request.eventType, eventData }]);
  return event as Event;
}

/** The execution `read` finds, or undefined when there is none. */
async function runOrNone(read: Promise<Execution>): Promise<Execution | undefined> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/** The run's execution as it is (not locked), or undefined when there is none. */
export function readRun(write: Write): Promise<Execution | undefined> {
  return runOrNone(write.scope.executions.get(write.executionId));
}

/** The run's execution locked for update, or undefined when there is none. */
export function lockRun(write: Write): Promise<Execution | undefined> {
  return runOrNone(write.scope.executions.getForUpdate(write.executionId));
}

/** The run's execution, locked for update; WorkflowRunNotFoundError when there is none. */
export async function lockExistingRun(write: Write): Promise<Execution> {
  const run = await lockRun(write);
  if (!run) throw new WorkflowRunNotFoundError(write.runId);
  return run;
}

/**
 * A child entity (hook) may be created only while its run exists and is not finished. The run stays
 * locked until the caller's transaction ends, so the run cannot finish in between.
 */
export async function lockRunTakingChildren(write: Write): Promise<void> {
  const run = await lockExistingRun(write);
  if (isTerminal(run.status)) {
    throw new EntityConflictError(`Cannot create new entities on run in terminal state "${run.status}"`);
  }
}

/** A World cursor over a run's events: the sequence number the next page starts after. */
export function sequenceCursor(cursor: string | null | undefined): number | undefined {
  if (cursor === undefined || cursor === null || cursor === "") return undefined;
  if (!/^\d{1,15}$/.test(cursor))
    throw new WorkflowWorldError(`not an event cursor: ${cursor}`, { status: 400 });
  return Number(cursor);
}

export interface EventPage {
  events: Event[];
  cursor: string | null;
  hasMore: boolean;
}

/** The run's events after a sequence number (or before it, newest first), a page at a time. */
export async function readEvents(
  scope: StoreScope,
  executionId: string,
  options: { after?: number; order?: "asc" | "desc"; limit?: number; resolveData: ResolveData },
): Promise<EventPage> {
  const order = options.order ?? "asc";
  const page = await scope.events.list(executionId, {
    order,
    limit: options.limit ?? 1000,
    ...(options.after === undefined
      ? {}
      : order === "asc"
        ? { afterSequence: options.after }
        : { beforeSequence: options.after }),
  });
  const last: HistoryEvent | undefined = page.items[page.items.length - 1];
  return {
    events: page.items.map((event) => toEvent(event, options.resolveData)),
    cursor: last ? String(last.sequence) : options.after === undefined ? null : String(options.after),
    hasMore: page.nextCursor !== null,
  };
}

/**
 * The result of a write with the run's events after `after` (all of them when undefined), the write's
 * own among them: the runtime then skips a list call.
 */
export async function withEvents(write: Write, result: EventResult, after?: number): Promise<EventResult> {
  const page = await readEvents(write.scope, write.executionId, { after, resolveData: write.resolveData });
  return { ...result, events: page.events, cursor: page.cursor, hasMore: page.hasMore };
}

/** JSON for a payload column (bytes kept through the codec). */
export function payloadJson(value: unknown): unknown {
  return value === undefined ? null : encode(value);
}
