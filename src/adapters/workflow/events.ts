/**
 * `world.events`: create appends an event and applies it to its entity in one transaction; the reads
 * list a run's history in commit order (flowstore's gap-free sequence is the cursor, so an event that
 * commits late is never skipped) or the events of one correlation id.
 */

import type {
  Event,
  EventResult,
  ListEventsByCorrelationIdParams,
  ListEventsParams,
  PaginatedResponse,
  Storage,
} from "@workflow/world";
import type { Store, StoreScope } from "../../index.js";
import { type HookOwner, type ResolveData, toEvent } from "./entities.js";
import { WorkflowRunNotFoundError, WorkflowWorldError } from "./errors.js";
import { type EventRequest, readEvents, sequenceCursor, type Write } from "./event-support.js";
import { hookCreated, hookDisposed, hookReceived } from "./hook-events.js";
import { executionIdOf, sequenceOfEventId, timeOfEventId } from "./ids.js";
import { attrSet, runCancelled, runCompleted, runCreated, runFailed, runStarted } from "./run-events.js";
import type { SpecVersion } from "./spec.js";
import { stepCreated, stepOutcome, stepStarted, waitCompleted, waitCreated } from "./step-events.js";
import { cursorOf, limitOf } from "./storage.js";

/** The events written without a transaction: each is one statement, or reads then writes at a version. */
const ONE_STATEMENT = new Set([
  "run_created",
  "run_started",
  "run_completed",
  "step_created",
  "step_started",
  "step_completed",
  "step_failed",
  "step_retrying",
  "wait_created",
  "wait_completed",
]);

interface CreateParams {
  resolveData?: ResolveData;
  sinceCursor?: string;
  skipPreload?: boolean;
}

function apply(write: Write, params: CreateParams, owner: HookOwner): Promise<EventResult> {
  switch (write.request.eventType) {
    case "run_created":
      return runCreated(write);
    case "run_started":
      return runStarted(write, params.skipPreload !== true);
    case "run_completed":
      return runCompleted(write);
    case "run_failed":
      return runFailed(write);
    case "run_cancelled":
      return runCancelled(write);
    case "attr_set":
      return attrSet(write);
    case "step_created":
      return stepCreated(write);
    case "step_started":
      return stepStarted(write);
    case "step_completed":
    case "step_failed":
    case "step_retrying":
      return stepOutcome(write, params.sinceCursor);
    case "hook_created":
      return hookCreated(write, owner);
    case "hook_received":
      return hookReceived(write, owner);
    case "hook_disposed":
      return hookDisposed(write, owner);
    case "wait_created":
      return waitCreated(write);
    case "wait_completed":
      return waitCompleted(write);
    default:
      throw new WorkflowWorldError(`unknown event type ${JSON.stringify(write.request.eventType)}`, {
        status: 400,
      });
  }
}

function pageOf(page: {
  events: Event[];
  cursor: string | null;
  hasMore: boolean;
}): PaginatedResponse<Event> {
  return { data: page.events, cursor: page.cursor, hasMore: page.hasMore };
}

export function createEvents(ready: Promise<Store>, owner: HookOwner, spec: SpecVersion): Storage["events"] {
  return {
    async create(runId: string | null, data: EventRequest, params: CreateParams = {}): Promise<EventResult> {
      if (!runId)
        throw new WorkflowWorldError("this World takes the run id from the runtime, which makes it", {
          status: 400,
        });
      const executionId = executionIdOf(runId);
      if (!executionId) {
        if (data.eventType === "run_created")
          throw new WorkflowWorldError(`Invalid runId: "${runId}" is not a valid ULID`, { status: 400 });
        throw new WorkflowRunNotFoundError(runId);
      }
      const store = await ready;
      const write = (scope: StoreScope): Write => ({
        scope,
        runId,
        executionId,
        request: data,
        resolveData: params.resolveData ?? "all",
        spec,
      });
      // The common events are one statement each (a write that appends its event); the others run in a
      // transaction of their own.
      // On the primary: the run's events read back after the write must include it, whatever the
      // store's readConnection.
      if (ONE_STATEMENT.has(data.eventType)) return apply(write(store.primary), params, owner);
      return store.transaction((tx) => apply(write(tx), params, owner));
    },

    async get(runId, eventId, params) {
      const executionId = executionIdOf(runId);
      const sequence = executionId && sequenceOfEventId(executionId, eventId);
      if (executionId && sequence) {
        const store = await ready;
        const page = await store.primary.events.list(executionId, { afterSequence: sequence - 1, limit: 1 });
        const found = page.items[0];
        if (found && found.sequence === sequence && found.createdAt.getTime() === timeOfEventId(eventId)) {
          return toEvent(found, params?.resolveData ?? "all");
        }
      }
      throw new WorkflowWorldError(`Event not found: ${eventId}`, { status: 404 });
    },

    async list(params: ListEventsParams) {
      const executionId = executionIdOf(params.runId);
      if (!executionId) return { data: [], cursor: null, hasMore: false };
      const store = await ready;
      // A run replays from its history: the primary's, never a replica's that may lag behind it.
      const page = await readEvents(store.primary, executionId, {
        after: sequenceCursor(params.pagination?.cursor),
        order: params.pagination?.sortOrder ?? "asc",
        limit: limitOf(params.pagination, 100),
        resolveData: params.resolveData ?? "all",
      });
      return pageOf(page);
    },

    async listByCorrelationId(params: ListEventsByCorrelationIdParams) {
      // 4.x's params may name the run (optional there): then only its events.
      const { runId } = params as { runId?: string };
      const executionId = runId === undefined ? undefined : executionIdOf(runId);
      if (runId !== undefined && !executionId) return { data: [], cursor: null, hasMore: false };
      const store = await ready;
      const page = await store.events.byCorrelation(params.correlationId, {
        ...(executionId ? { executionId } : {}),
        cursor: cursorOf(params.pagination),
        limit: limitOf(params.pagination, 100),
        order: params.pagination?.sortOrder ?? "asc",
      });
      const events = page.items.map((event) => toEvent(event, params.resolveData ?? "all"));
      return { data: events, cursor: page.nextCursor, hasMore: page.nextCursor !== null };
    },
  } as Storage["events"];
}
