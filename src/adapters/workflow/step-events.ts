/**
 * Steps and waits, as tasks of the run's execution: a step is a task of type "step" (its name in
 * `toolId`), a wait one of type "wait" (its resume time in `retryAt`). A task's id is derived from the
 * run and the correlation id, so creating a step is `tasks.create`: of two writers, one wins and the
 * other gets EntityConflictError, which the runtime reads as "another invocation has it". Each event
 * is one statement: the task's write appends the event to the run's history (`append`), so no
 * transaction is opened; only a retried step's start reads the step first.
 */

import type { Event, EventResult, Step } from "@workflow/world";
import {
  ConflictError,
  NotFoundError,
  type Task,
  type TaskPatch,
  type TaskRecord,
  type TaskStatus,
  type WithHistory,
} from "../../index.js";
import { toStep, toWait } from "./entities.js";
import {
  EntityConflictError,
  RunExpiredError,
  TooEarlyError,
  WorkflowRunNotFoundError,
  WorkflowWorldError,
} from "./errors.js";
import {
  appendedEvents,
  history,
  isTerminal,
  payloadJson,
  requestHistory,
  sequenceCursor,
  specOf,
  type Write,
  withEvents,
} from "./event-support.js";
import { taskExecIdOf } from "./ids.js";

const UNFINISHED: TaskStatus[] = ["pending", "running"];

function correlationOf(write: Write): string {
  const id = write.request.correlationId;
  if (!id) throw new WorkflowWorldError(`${write.request.eventType} needs a correlationId`, { status: 400 });
  return id;
}

/** Creates the task with the events that record it, in one statement. */
async function createTask(
  write: Write,
  task: Omit<TaskRecord, "executionId">,
  events = requestHistory(write),
): Promise<{ task: Task; events: Event[] }> {
  try {
    const created = await write.scope.tasks.create(
      { ...task, executionId: write.executionId },
      { append: events },
    );
    return { task: created, events: appendedEvents(write, created.appended) };
  } catch (error) {
    if (error instanceof NotFoundError) throw new WorkflowRunNotFoundError(write.runId);
    // Taken already, or the run is finished: either way, not this caller's to create.
    if (error instanceof ConflictError)
      throw new EntityConflictError(`${task.executionType} "${task.taskId}": ${error.message}`);
    throw error;
  }
}

/** Changes the task with the event that records it, in one statement, if it is in one of `statuses`. */
async function updateTask(
  write: Write,
  taskExecId: string,
  what: string,
  patch: TaskPatch,
  options: { expectedStatus?: TaskStatus[]; expectedVersion?: number; historyAfter?: number },
): Promise<{ task: WithHistory<Task>; event: Event }> {
  try {
    const task = await write.scope.tasks.update(taskExecId, patch, {
      ...options,
      append: requestHistory(write),
    });
    return { task, event: appendedEvents(write, task.appended)[0] as Event };
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new WorkflowWorldError(`${what} "${write.request.correlationId}" not found`, { status: 404 });
    }
    if (error instanceof ConflictError) {
      throw new EntityConflictError(
        `Cannot modify ${what.toLowerCase()} "${write.request.correlationId}": ${error.message}`,
      );
    }
    throw error;
  }
}

/**
 * The step, if it may still change: not finished (else EntityConflictError, "someone else finished
 * it"), and running or of a run that has not ended (else RunExpiredError, which the runtime reads as
 * "the run is gone"). A running step may still finish after its run ended: it was under way. The run
 * is read, not locked, so a run that ends between this read and the caller's write leaves the step's
 * event just after its own end.
 */
async function changeableStep(write: Write, taskExecId: string): Promise<Task> {
  let current: Task;
  try {
    current = await write.scope.tasks.get(taskExecId);
  } catch (error) {
    if (error instanceof NotFoundError)
      throw new WorkflowWorldError(`Step "${write.request.correlationId}" not found`, { status: 404 });
    throw error;
  }
  if (isTerminal(current.status)) {
    throw new EntityConflictError(`Cannot modify step in terminal state "${current.status}"`);
  }
  if (current.status !== "running") {
    const run = await write.scope.executions.get(write.executionId);
    if (isTerminal(run.status)) {
      throw new RunExpiredError(`Cannot modify non-running step on run in terminal state "${run.status}"`);
    }
  }
  return current;
}

/**
 * step_completed and step_failed: a running step (the usual case) takes the outcome in one statement;
 * any other is read first, so that one that never started is refused once its run ended.
 */
async function finishStep(
  write: Write,
  taskExecId: string,
  patch: TaskPatch,
  options: Omit<Parameters<typeof updateTask>[4], "expectedStatus"> = {},
): ReturnType<typeof updateTask> {
  try {
    return await updateTask(write, taskExecId, "Step", patch, { ...options, expectedStatus: ["running"] });
  } catch (error) {
    if (!(error instanceof EntityConflictError)) throw error;
  }
  await changeableStep(write, taskExecId);
  return updateTask(write, taskExecId, "Step", patch, { ...options, expectedStatus: UNFINISHED });
}

function stepTask(write: Write, stepName: unknown, input: unknown): Omit<TaskRecord, "executionId"> {
  const stepId = correlationOf(write);
  return {
    taskExecId: taskExecIdOf(write.executionId, "step", stepId),
    taskId: stepId,
    executionType: "step",
    toolId: typeof stepName === "string" ? stepName : null,
    status: "pending",
    attempt: 0,
    input: payloadJson(input),
  };
}

export async function stepCreated(write: Write): Promise<EventResult> {
  const data = write.request.eventData ?? {};
  const { task, events } = await createTask(write, stepTask(write, data.stepName, data.input));
  return { event: events[0], step: toStep(task, write.resolveData, specOf(write)) };
}

/**
 * Creates a step already running, with its step_created and step_started events, in one statement:
 * the create is the claim, so of two writers only one gets the step (the other EntityConflictError).
 */
export async function startNewStep(
  write: Write,
  created: Record<string, unknown>,
  started: Record<string, unknown>,
): Promise<{ created: Event; started: Event; step: Step }> {
  const { task, events } = await createTask(
    write,
    {
      ...stepTask(write, created.stepName, created.input),
      status: "running",
      attempt: 1,
      startedAt: new Date(),
    },
    history(write, [
      { type: "step_created", eventData: created },
      { type: "step_started", eventData: started },
    ]),
  );
  const step = toStep(task, write.resolveData, specOf(write));
  return { created: events[0] as Event, started: events[1] as Event, step };
}

export async function stepStarted(write: Write): Promise<EventResult> {
  const data = write.request.eventData ?? {};
  const now = new Date();
  // A step_started with the step's name and input creates the step (the runtime skipped step_created).
  if (typeof data.stepName === "string" && data.input !== undefined) {
    const { input: _, ...started } = data;
    const made = await startNewStep(write, { stepName: data.stepName, input: data.input }, started);
    return { event: made.started, step: made.step, stepCreated: true };
  }
  const stepId = correlationOf(write);
  const taskExecId = taskExecIdOf(write.executionId, "step", stepId);
  // Read, then write at that version: a writer in between makes the write a conflict, and the
  // runtime tries again.
  const current = await changeableStep(write, taskExecId);
  if (current.retryAt && current.retryAt.getTime() > now.getTime()) {
    throw new TooEarlyError(`Cannot start step "${stepId}": retryAfter timestamp has not been reached yet`, {
      retryAfter: Math.ceil((current.retryAt.getTime() - now.getTime()) / 1000),
    });
  }
  const { task, event } = await updateTask(
    write,
    taskExecId,
    "Step",
    { status: "running", attempt: current.attempt + 1, startedAt: current.startedAt ?? now, retryAt: null },
    { expectedVersion: current.version },
  );
  return { event, step: toStep(task, write.resolveData, specOf(write)) };
}

/**
 * A failed step's error as the step keeps it: 4.x (spec 3) sends the message as a string with the stack
 * beside it, kept together as `{ message, stack }`; spec 5 sends serialized bytes, kept as they are.
 */
function stepError(data: Record<string, unknown>): unknown {
  if (typeof data.error !== "string") return data.error;
  return typeof data.stack === "string"
    ? { message: data.error, stack: data.stack }
    : { message: data.error };
}

/**
 * step_completed, step_failed and step_retrying: a step that is not finished takes the outcome (one
 * that never started, only while its run has not ended, except a retry, which the runtime does not
 * expect to be refused so).
 */
export async function stepOutcome(write: Write, sinceCursor: string | undefined): Promise<EventResult> {
  const stepId = correlationOf(write);
  const data = write.request.eventData ?? {};
  const now = new Date();
  const error = payloadJson(stepError(data));
  const patch: TaskPatch =
    write.request.eventType === "step_completed"
      ? { status: "completed", output: payloadJson(data.result), completedAt: now }
      : write.request.eventType === "step_failed"
        ? { status: "failed", error, completedAt: now }
        : {
            status: "pending",
            error,
            retryAt: data.retryAfter === undefined ? null : new Date(data.retryAfter as string | Date),
          };
  const taskExecId = taskExecIdOf(write.executionId, "step", stepId);
  // Asked for the run's events since a cursor, the write reads them in its own statement (the runtime
  // then skips a list call), or, past a thousand, they are read apart a page at a time.
  const after = sequenceCursor(sinceCursor);
  const reads = after === undefined ? {} : { historyAfter: after };
  const { task, event } = await (write.request.eventType === "step_retrying"
    ? updateTask(write, taskExecId, "Step", patch, { ...reads, expectedStatus: UNFINISHED })
    : finishStep(write, taskExecId, patch, reads));
  const result: EventResult = { event, step: toStep(task, write.resolveData, specOf(write)) };
  if (after === undefined) return result;
  if (!task.history) return withEvents(write, result, after);
  const last = task.history[task.history.length - 1];
  const cursor = String(last ? last.sequence : after);
  return { ...result, events: appendedEvents(write, task.history), cursor, hasMore: false };
}

export async function waitCreated(write: Write): Promise<EventResult> {
  const waitId = correlationOf(write);
  const data = write.request.eventData ?? {};
  const { task, events } = await createTask(write, {
    taskExecId: taskExecIdOf(write.executionId, "wait", waitId),
    taskId: waitId,
    executionType: "wait",
    status: "waiting",
    attempt: 0,
    retryAt: data.resumeAt === undefined ? null : new Date(data.resumeAt as string | Date),
  });
  return { event: events[0], wait: toWait(task, specOf(write)) };
}

export async function waitCompleted(write: Write): Promise<EventResult> {
  const waitId = correlationOf(write);
  const taskExecId = taskExecIdOf(write.executionId, "wait", waitId);
  const { task, event } = await updateTask(
    write,
    taskExecId,
    "Wait",
    { status: "completed", completedAt: new Date() },
    { expectedStatus: ["waiting"] },
  );
  return { event, wait: toWait(task, specOf(write)) };
}
