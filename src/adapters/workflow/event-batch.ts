/**
 * `events.createBatch` (World spec 6–7): a run's events written in one transaction, in request order
 * at consecutive positions (the first append holds the run's history head until the commit, so no
 * other writer lands between them), each answered as its own `events.create` would have been. What a
 * batch cannot express is refused whole before anything is written: the run's creation, start and
 * cancellation, hook creation and disposal, attributes, and two writes of one entity, except a
 * step_created followed by a step_started of the same step, which becomes one write of a step born
 * running (with the input on the step_created; a step_started carrying input refuses the batch).
 *
 * An event its single create would refuse (a step taken, a run ended) is dropped and the others commit.
 * The transaction runs first without savepoints, the common case costing no more statements than the
 * events; a refusal rolls it back, and it runs again with a savepoint around each event, so that a
 * refused one leaves nothing behind. Types are local for the reason runs-many.ts gives.
 */

import type { Event, Step, WorkflowRun } from "@workflow/world";
import type { Store, StoreScope } from "../../index.js";
import type { HookOwner, ResolveData, toWait } from "./entities.js";
import { toWorldError, WorkflowRunNotFoundError, WorkflowWorldError } from "./errors.js";
import { type EventRequest, readRun, type Write } from "./event-support.js";
import { applyEvent, RUN_ENDS } from "./events.js";
import { executionIdOf } from "./ids.js";
import { announceRunEnd } from "./runs-many.js";
import type { SpecVersion } from "./spec.js";
import { startNewStep } from "./step-events.js";

/** One event of a batch (@workflow/world's BatchEventRequest). */
export interface BatchEventRequest {
  event: EventRequest;
  /** Accepted and not kept: an event's time is its commit's, as for a single create. */
  occurredAt?: Date;
  /** Telemetry of the SDK's own backend; nothing here reads it. */
  computeInstanceId?: string;
}

/** @workflow/world's CreateEventBatchParams. */
export interface BatchParams {
  resolveData?: ResolveData;
  requestId?: string;
}

/** One event's outcome (@workflow/world's BatchEventItemResult). */
export type BatchItemResult =
  | {
      status: 200;
      error?: undefined;
      message?: undefined;
      event: Event;
      run?: WorkflowRun;
      step?: Step;
      wait?: ReturnType<typeof toWait>;
    }
  | {
      status: number;
      error: string;
      message: string;
      event?: undefined;
      run?: undefined;
      step?: undefined;
      wait?: undefined;
    };

/** @workflow/world's EventBatchResult: one outcome per event, in request order. */
export interface EventBatchResult {
  results: BatchItemResult[];
}

/** More than the SDK sends in one batch (32), few enough to hold one transaction briefly. */
const MAX_BATCH_EVENTS = 100;

/** The entity each batchable event writes; the other types are refused in a batch. */
const ENTITY: Record<string, string> = {
  run_completed: "run",
  run_failed: "run",
  step_created: "step",
  step_started: "step",
  step_completed: "step",
  step_failed: "step",
  step_retrying: "step",
  wait_created: "wait",
  wait_completed: "wait",
  hook_received: "hook",
};

/** A batch's unit of work: one event, or the born-running pair, which is one write. */
type Unit = { event: EventRequest } | { created: EventRequest; started: EventRequest };

function refuse(message: string): never {
  throw new WorkflowWorldError(`createBatch: ${message}; nothing was written`, { status: 400 });
}

/** The batch as units, or a refusal of the whole batch. */
function unitsOf(events: unknown): Unit[] {
  if (!Array.isArray(events) || events.length === 0) refuse("it takes a non-empty array of events");
  if (events.length > MAX_BATCH_EVENTS) refuse(`it takes at most ${MAX_BATCH_EVENTS} events`);
  const requests = events.map((item: unknown, i) => {
    const event = (item as { event?: unknown } | null)?.event as EventRequest | undefined;
    if (typeof event !== "object" || event === null || typeof event.eventType !== "string") {
      refuse(`events[${i}] is not { event: { eventType, ... } }`);
    }
    if (!Object.hasOwn(ENTITY, event.eventType)) refuse(`events[${i}]: ${event.eventType} cannot be batched`);
    if (event.eventType === "step_started" && event.eventData?.input !== undefined) {
      refuse(`events[${i}]: a step_started in a batch carries no input (its step_created does)`);
    }
    return event;
  });
  const units: Unit[] = [];
  const written = new Set<string>();
  for (let i = 0; i < requests.length; i++) {
    const event = requests[i] as EventRequest;
    const next = requests[i + 1];
    const entity = `${ENTITY[event.eventType]} ${event.correlationId ?? ""}`;
    if (written.has(entity)) refuse(`events[${i}] writes ${entity} a second time`);
    written.add(entity);
    if (event.eventType === "step_created" && next?.eventType === "step_started") {
      if (next.correlationId === event.correlationId) {
        units.push({ created: event, started: next });
        i++;
        continue;
      }
    }
    units.push({ event });
  }
  return units;
}

/** What a refused event reports: its single create's status, and a code for it. */
function rejectionOf(error: unknown): BatchItemResult | undefined {
  const converted = toWorldError(error) as {
    name?: string;
    status?: number;
    code?: string;
    message?: string;
  };
  const byName: Record<string, number> = {
    EntityConflictError: 409,
    RunExpiredError: 410,
    TooEarlyError: 425,
    HookNotFoundError: 404,
    WorkflowRunNotFoundError: 404,
  };
  const status = byName[converted.name ?? ""] ?? converted.status;
  // A failure of the store (or anything unexplained) fails the whole batch, which the runtime retries.
  if (status === undefined || status >= 500) return undefined;
  const codes: Record<number, string> = {
    400: "bad_request",
    404: "not_found",
    409: "conflict",
    410: "gone",
  };
  const code = codes[status] ?? converted.code ?? converted.name ?? "rejected";
  return { status, error: code, message: String(converted.message ?? code) };
}

/** Thrown to roll the first attempt back when an event was refused: the second uses savepoints. */
class Refused extends Error {}

async function writeUnit(write: (event: EventRequest) => Write, unit: Unit, owner: HookOwner) {
  if ("created" in unit) {
    const made = await startNewStep(
      write(unit.started),
      unit.created.eventData ?? {},
      unit.started.eventData ?? {},
    );
    const ok = (event: Event): BatchItemResult => ({ status: 200, event, step: made.step });
    return [ok(made.created), ok(made.started)];
  }
  const result = await applyEvent(write(unit.event), {}, owner);
  const item: BatchItemResult = {
    status: 200,
    event: result.event as Event,
    ...(result.run ? { run: result.run } : {}),
    ...(result.step ? { step: result.step } : {}),
    ...(result.wait ? { wait: result.wait } : {}),
  };
  return [item];
}

export function createEventBatch(ready: Promise<Store>, owner: HookOwner, spec: SpecVersion) {
  return async function createBatch(
    runId: string,
    events: BatchEventRequest[],
    params: BatchParams = {},
  ): Promise<EventBatchResult> {
    const units = unitsOf(events);
    const executionId = executionIdOf(runId);
    if (!executionId) throw new WorkflowRunNotFoundError(runId);
    const store = await ready;
    const attempt = (savepoints: boolean) =>
      store.transaction(async (tx: StoreScope) => {
        const write = (event: EventRequest): Write => ({
          scope: tx,
          runId,
          executionId,
          request: event,
          resolveData: params.resolveData ?? "all",
          spec,
        });
        if (!(await readRun(write({ eventType: "createBatch" })))) throw new WorkflowRunNotFoundError(runId);
        const results: BatchItemResult[] = [];
        for (const unit of units) {
          try {
            results.push(
              ...(savepoints
                ? await tx.transaction((inner) =>
                    writeUnit((event) => ({ ...write(event), scope: inner }), unit, owner),
                  )
                : await writeUnit(write, unit, owner)),
            );
          } catch (error) {
            const rejection = rejectionOf(error);
            if (!rejection) throw error;
            if (!savepoints) throw new Refused();
            results.push(...("created" in unit ? [rejection, rejection] : [rejection]));
          }
        }
        return results;
      });
    let results: BatchItemResult[];
    try {
      results = await attempt(false);
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      results = await attempt(true);
    }
    if (results.some((result) => RUN_ENDS.has(result.event?.eventType ?? ""))) announceRunEnd(executionId);
    return { results };
  };
}
