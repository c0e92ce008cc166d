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
import { hookCreated, hookDisposed, hookReceived, type Resume } from "./hook-events.js";
import { executionIdOf, sequenceOfEventId, slotOfEventId, timeOfEventId } from "./ids.js";
import { attrSet, runCancelled, runCompleted, runCreated, runFailed, runStarted } from "./run-events.js";
import { announceRunEnd } from "./runs-many.js";
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

/** The events that end a run, which wake the waits for its end (runs-many.ts) once committed. */
export const RUN_ENDS = new Set(["run_completed", "run_failed", "run_cancelled"]);

interface CreateParams {
  resolveData?: ResolveData;
  sinceCursor?: string;
  skipPreload?: boolean;
  /** The slot line's runtime: the highest position it holds, its event due at the next one. */
  eventCount?: number;
  /** The slot line's resumeHook(): writes of one (run, resumeId) collapse onto one hook_received. */
  resumeId?: string;
  resumePayloadDigest?: string;
}

/** Writes one event and applies it to its entity, where `write.scope` says (a transaction, or the store). */
export function applyEvent(write: Write, params: CreateParams, owner: HookOwner): Promise<EventResult> {
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
      return hookReceived(write, owner, resumeOf(params));
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

/** The resume id a hook_received carries, when the caller sent one it can be deduplicated by. */
function resumeOf(params: CreateParams): Resume | undefined {
  if (typeof params.resumeId !== "string" || params.resumeId === "") return undefined;
  const digest = params.resumePayloadDigest;
  return {
    resumeId: params.resumeId,
    ...(typeof digest === "string" ? { resumePayloadDigest: digest } : {}),
  };
}

/**
 * The slot line's bump and report: a write whose runtime held positions up to `eventCount` and whose
 * event committed past the next one (other writers committed between) returns the events it skipped,
 * so the runtime's log stays a prefix of the run's. Never a refusal: positions are taken at the commit
 * (the history's head row orders the run's commits), so the events below this one are committed and
 * read here on the primary. No cursor: a report does not move the reader. Not with `sinceCursor`,
 * whose events since the cursor already include them.
 */
async function reportSkipped(
  store: Store,
  executionId: string,
  result: EventResult,
  params: CreateParams,
): Promise<EventResult> {
  // A result with events already (run_started's preload, a delta since a cursor) holds the skipped ones.
  if (result.events) return result;
  const committed = result.event ? slotOfEventId(result.event.eventId) : undefined;
  const held = params.eventCount;
  if (committed === undefined || typeof held !== "number" || typeof params.sinceCursor === "string")
    return result;
  const span = committed - held - 1;
  if (!Number.isInteger(held) || held < 0 || span < 1) return result;
  const page = await readEvents(store.primary, executionId, {
    after: held,
    limit: span,
    resolveData: params.resolveData ?? "all",
  });
  const events = page.events.filter((event) => (slotOfEventId(event.eventId) ?? committed) < committed);
  return { ...result, events, cursor: null, hasMore: events.length < span };
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
      const result = ONE_STATEMENT.has(data.eventType)
        ? await applyEvent(write(store.primary), params, owner)
        : await store.transaction((tx) => applyEvent(write(tx), params, owner));
      if (RUN_ENDS.has(data.eventType)) announceRunEnd(executionId);
      return reportSkipped(store, executionId, result, params);
    },

    async get(runId, eventId, params) {
      const executionId = executionIdOf(runId);
      const sequence = executionId && sequenceOfEventId(executionId, eventId);
      if (executionId && sequence) {
        const store = await ready;
        const page = await store.primary.events.list(executionId, { afterSequence: sequence - 1, limit: 1 });
        const found = page.items[0];
        // A slot id is the position alone; a spec 3 or 5 id also carries the event's time.
        const same =
          slotOfEventId(eventId) !== undefined || found?.createdAt.getTime() === timeOfEventId(eventId);
        if (found && found.sequence === sequence && same) {
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
