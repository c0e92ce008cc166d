/**
 * The run's own events. Each writes the execution and appends the event together: run_created,
 * run_started (the usual case) and run_completed in one statement, the rarer ones in a transaction.
 * run_started moves the run to running, making it first when the queue's message came before
 * run_created committed. A finished run frees its hooks' tokens by itself (a signal is held only by a
 * live execution).
 */

import type { Event, EventResult } from "@workflow/world";
import { ConflictError, type Execution, type NewHistoryEvent, NotFoundError } from "../../index.js";
import { applyAttributeChanges, checkAttributeChanges, initialChanges } from "./attributes.js";
import { encode } from "./codec.js";
import { runFields, runMetadata, toRun } from "./entities.js";
import {
  EntityConflictError,
  RunExpiredError,
  RunNotSupportedError,
  WorkflowRunNotFoundError,
} from "./errors.js";
import {
  appendedEvents,
  appendRequest,
  history,
  isTerminal,
  lockExistingRun,
  lockRun,
  readRun,
  requestHistory,
  specOf,
  type Write,
  withEvents,
} from "./event-support.js";
import { lineOf, SERVED } from "./spec.js";

interface RunInput {
  deploymentId?: string;
  workflowName?: string;
  input?: unknown;
  executionContext?: Record<string, unknown>;
  attributes?: Record<string, string>;
  allowReservedAttributes?: boolean;
}

/**
 * Creates the execution of a run from its creation data, with the events that record it; a run that
 * exists is an EntityConflictError.
 */
async function createRun(
  write: Write,
  data: RunInput,
  events: NewHistoryEvent[],
): Promise<{ run: Execution; events: Event[] }> {
  checkAttributeChanges(initialChanges(data.attributes), {}, data.allowReservedAttributes === true);
  try {
    const { execution, appended } = await write.scope.executions.start(
      {
        id: write.executionId,
        name: data.workflowName as string,
        input: encode(data.input),
        metadata: runMetadata({
          deploymentId: data.deploymentId as string,
          specVersion: specOf(write),
          executionContext: data.executionContext,
          attributes: data.attributes,
        }),
      },
      { append: events },
    );
    return { run: execution, events: appendedEvents(write, appended) };
  } catch (error) {
    if (error instanceof ConflictError)
      throw new EntityConflictError(`Workflow run "${write.runId}" already exists`);
    throw error;
  }
}

export async function runCreated(write: Write): Promise<EventResult> {
  const { run, events } = await createRun(write, write.request.eventData as RunInput, requestHistory(write));
  return { event: events[0], run: toRun(run, write.resolveData) };
}

/**
 * A pending run becomes running, with its event, in one statement. Otherwise (it is missing, running
 * or finished) a transaction sorts it out: a missing run is made from the queue's data when the queue's
 * message came before run_created committed (start() sends both at once); a running one is returned
 * as it is, with no second run_started; a finished one is a RunExpiredError.
 */
export async function runStarted(write: Write, preload: boolean): Promise<EventResult> {
  // The start message of a run carries the spec its start() recorded, which the runtime passes on: a
  // run of the other line is refused before anything is written.
  if (lineOf(specOf(write)) !== lineOf(write.spec)) {
    return write.scope.transaction((tx) => startOtherwise({ ...write, scope: tx }, preload));
  }
  // 4.x sends run_started at every delivery of the run's flow, not only the first: a run this process
  // saw start is read, in one statement, rather than started again and found running in a transaction.
  if (STARTED.has(write.executionId)) {
    const run = await readRun(write);
    if (run && run.status !== "pending") return startedAlready(write, run);
  }
  const started = await write.scope.executions
    .update(
      write.executionId,
      { status: "running" },
      { expectedStatus: "pending", append: requestHistory(write, undefined) },
    )
    .catch((error: unknown) => {
      if (error instanceof ConflictError || error instanceof NotFoundError) return undefined;
      throw error;
    });
  if (!started) return write.scope.transaction((tx) => startOtherwise({ ...write, scope: tx }, preload));
  rememberStarted(write.executionId);
  // Refused after the fact when the message did not say the run's spec: the event written carries no
  // data, and the run is running, as its own line would have made it; nothing more is written.
  refuseOtherLine(write, started);
  const result: EventResult = {
    event: appendedEvents(write, started.appended)[0],
    run: toRun(started, write.resolveData),
  };
  return preload ? withEvents(write, result) : result;
}

/**
 * The runs this process started or found started, by execution id: a hint of what run_started will
 * find (it reads the run whatever this says), so that a run's later deliveries cost one read. Past
 * MAX_STARTED it starts again empty: a run forgotten costs its next delivery a failed start, no more.
 */
const STARTED = new Set<string>();
const MAX_STARTED = 10_000;

function rememberStarted(executionId: string): void {
  if (STARTED.size >= MAX_STARTED) STARTED.clear();
  STARTED.add(executionId);
}

/**
 * run_started on a run past pending: a running run is returned as it is, with no second run_started
 * (a concurrent invocation started it; replay is deterministic, so both go on); a finished one is a
 * RunExpiredError.
 */
function startedAlready(write: Write, run: Execution): EventResult {
  refuseOtherLine(write, run);
  if (isTerminal(run.status)) {
    throw new RunExpiredError(`Workflow run "${write.runId}" is already in terminal state "${run.status}"`);
  }
  rememberStarted(write.executionId);
  return { run: toRun(run, write.resolveData) };
}

/**
 * A run the SDK's other line recorded is not continued by this one: its runtime reads and writes
 * errors and streams in another shape (spec.ts).
 */
function refuseOtherLine(write: Write, run: Execution): void {
  const recorded = runFields(run).specVersion;
  if (recorded !== undefined && lineOf(recorded) !== lineOf(write.spec)) {
    throw new RunNotSupportedError(write.runId, recorded, write.spec, SERVED[lineOf(write.spec)]);
  }
}

async function startOtherwise(write: Write, preload: boolean): Promise<EventResult> {
  let run = await lockRun(write);
  const data = write.request.eventData as RunInput | undefined;
  if (!run && data?.deploymentId && data.workflowName && data.input !== undefined) {
    // In a savepoint, so that losing the race to run_created leaves this transaction usable.
    try {
      ({ run } = await write.scope.transaction((tx) =>
        createRun({ ...write, scope: tx }, data, history(write, [{ type: "run_created", eventData: data }])),
      ));
    } catch (error) {
      if (!(error instanceof EntityConflictError)) throw error;
      run = await lockRun(write);
    }
  }
  if (!run) throw new WorkflowRunNotFoundError(write.runId);
  if (run.status !== "pending") return startedAlready(write, run);
  refuseOtherLine(write, run);
  run = await write.scope.executions.update(write.executionId, { status: "running" });
  rememberStarted(write.executionId);
  const event = await appendRequest(write, undefined);
  const result: EventResult = { event, run: toRun(run, write.resolveData) };
  return preload ? withEvents(write, result) : result;
}

async function finishableRun(write: Write): Promise<Execution> {
  const run = await lockExistingRun(write);
  if (isTerminal(run.status)) {
    throw new EntityConflictError(`Cannot transition run from terminal state "${run.status}"`);
  }
  return run;
}

/** A run that is not finished completes, with its event, in one statement. */
export async function runCompleted(write: Write): Promise<EventResult> {
  try {
    const run = await write.scope.executions.complete(
      write.executionId,
      encode(write.request.eventData?.output),
      {
        append: requestHistory(write),
      },
    );
    return { event: appendedEvents(write, run.appended)[0], run: toRun(run, write.resolveData) };
  } catch (error) {
    if (error instanceof NotFoundError) throw new WorkflowRunNotFoundError(write.runId);
    if (error instanceof ConflictError)
      throw new EntityConflictError(`Cannot complete run: ${error.message}`);
    throw error;
  }
}

export async function runFailed(write: Write): Promise<EventResult> {
  const current = await finishableRun(write);
  // Nor does it fail one: the other line's runtime fails a run it was refused on after 48 deliveries.
  refuseOtherLine(write, current);
  const data = write.request.eventData ?? {};
  const errorCode = typeof data.errorCode === "string" ? data.errorCode : undefined;
  const run = await write.scope.executions.update(write.executionId, {
    status: "failed",
    error: encode(data.error),
    ...(errorCode === undefined ? {} : { metadata: runMetadata({ ...runFields(current), errorCode }) }),
  });
  const event = await appendRequest(write);
  return { event, run: toRun(run, write.resolveData) };
}

export async function runCancelled(write: Write): Promise<EventResult> {
  const current = await lockExistingRun(write);
  // Cancelling a cancelled run is recorded and answered with the run, not refused.
  if (current.status !== "cancelled") {
    if (isTerminal(current.status)) {
      throw new EntityConflictError(`Cannot transition run from terminal state "${current.status}"`);
    }
  }
  const run =
    current.status === "cancelled" ? current : await write.scope.executions.cancel(write.executionId);
  const event = await appendRequest(write);
  return { event, run: toRun(run, write.resolveData) };
}

interface AttrSetData {
  changes: { key: string; value: string | null }[];
  writer: { type: string };
  allowReservedAttributes?: boolean;
}

/** Merges attribute changes into the run; the caller appends an event when there is one. */
export async function setAttributes(
  write: Write,
  changes: AttrSetData["changes"],
  allowReserved: boolean,
): Promise<Execution> {
  const current = await lockExistingRun(write);
  if (isTerminal(current.status)) {
    throw new EntityConflictError(`Cannot set attributes on run in terminal state "${current.status}"`);
  }
  const fields = runFields(current);
  const attributes = fields.attributes ?? {};
  checkAttributeChanges(changes, attributes, allowReserved);
  return write.scope.executions.update(write.executionId, {
    metadata: runMetadata({ ...fields, attributes: applyAttributeChanges(attributes, changes) }),
  });
}

export async function attrSet(write: Write): Promise<EventResult> {
  const data = write.request.eventData as unknown as AttrSetData;
  const { correlationId } = write.request;
  await lockExistingRun(write); // first, so that two writers of one correlation id go one at a time
  if (correlationId && data.writer?.type === "workflow") {
    // A workflow's attr_set is replayed with the same correlation id: the first one counts.
    const earlier = await write.scope.events.byCorrelation(correlationId, { executionId: write.executionId });
    if (earlier.items.some((event) => event.type === "attr_set")) {
      throw new EntityConflictError(`attr_set for correlationId "${correlationId}" already exists`);
    }
  }
  const run = await setAttributes(write, data.changes ?? [], data.allowReservedAttributes === true);
  const event = await appendRequest(write);
  return { event, run: toRun(run, write.resolveData) };
}
