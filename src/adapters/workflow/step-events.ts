/**
 * Steps and waits, as tasks of the run's execution: a step is a task of type "step" (its name in
 * `toolId`), a wait one of type "wait" (its resume time in `retryAt`). A task's id is derived from the
 * run and the correlation id, so creating a step is `tasks.create`: of two writers, one wins and the
 * other gets EntityConflictError, which the runtime reads as "another invocation has it".
 */

import type { EventResult } from "@workflow/world";
import { ConflictError, type Task, type TaskRecord } from "../../index.js";
import { toStep, toWait } from "./entities.js";
import { EntityConflictError, RunExpiredError, TooEarlyError } from "./errors.js";
import {
  append,
  appendRequest,
  checkRunTakesChildren,
  isTerminal,
  lockTask,
  payloadJson,
  readEvents,
  sequenceCursor,
  type Write,
} from "./event-support.js";
import { taskExecIdOf } from "./ids.js";

function correlationOf(write: Write): string {
  const id = write.request.correlationId;
  if (!id) throw new EntityConflictError(`${write.request.eventType} needs a correlationId`);
  return id;
}

async function createTask(write: Write, task: Omit<TaskRecord, "executionId">): Promise<Task> {
  try {
    return await write.tx.tasks.create({ ...task, executionId: write.executionId });
  } catch (error) {
    if (error instanceof ConflictError) {
      throw new EntityConflictError(`${task.executionType} "${task.taskId}" already exists`);
    }
    throw error;
  }
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
  await checkRunTakesChildren(write);
  const task = await createTask(write, stepTask(write, data.stepName, data.input));
  const event = await appendRequest(write);
  return { event, step: toStep(task, write.resolveData) };
}

export async function stepStarted(write: Write): Promise<EventResult> {
  const data = write.request.eventData ?? {};
  const now = new Date();
  // A step_started with the step's name and input creates the step (the runtime skipped step_created):
  // the create is the claim, so of two invocations only one runs the step.
  if (typeof data.stepName === "string" && data.input !== undefined) {
    await checkRunTakesChildren(write);
    const task = await createTask(write, {
      ...stepTask(write, data.stepName, data.input),
      status: "running",
      attempt: 1,
      startedAt: now,
    });
    const { input: _, ...started } = data;
    const [, event] = await append(write, [
      { type: "step_created", eventData: { stepName: data.stepName, input: data.input } },
      { type: "step_started", eventData: started },
    ]);
    return { event, step: toStep(task, write.resolveData), stepCreated: true };
  }
  const stepId = correlationOf(write);
  const current = await lockTask(write, taskExecIdOf(write.executionId, "step", stepId), "Step");
  if (isTerminal(current.status)) {
    throw new EntityConflictError(`Cannot modify step in terminal state "${current.status}"`);
  }
  if (current.status !== "running") {
    const run = await write.tx.executions.get(write.executionId);
    if (isTerminal(run.status)) {
      throw new RunExpiredError(`Cannot modify non-running step on run in terminal state "${run.status}"`);
    }
  }
  if (current.retryAt && current.retryAt.getTime() > now.getTime()) {
    throw new TooEarlyError(`Cannot start step "${stepId}": retryAfter timestamp has not been reached yet`, {
      retryAfter: Math.ceil((current.retryAt.getTime() - now.getTime()) / 1000),
    });
  }
  const task = await write.tx.tasks.update(current.taskExecId, {
    status: "running",
    attempt: current.attempt + 1,
    startedAt: current.startedAt ?? now,
    retryAt: null,
  });
  const event = await appendRequest(write);
  return { event, step: toStep(task, write.resolveData) };
}

/** step_completed, step_failed and step_retrying: a step that is not finished takes the outcome. */
export async function stepOutcome(write: Write, sinceCursor: string | undefined): Promise<EventResult> {
  const stepId = correlationOf(write);
  const data = write.request.eventData ?? {};
  const current = await lockTask(write, taskExecIdOf(write.executionId, "step", stepId), "Step");
  if (isTerminal(current.status)) {
    throw new EntityConflictError(`Cannot modify step in terminal state "${current.status}"`);
  }
  const now = new Date();
  const patch =
    write.request.eventType === "step_completed"
      ? { status: "completed" as const, output: payloadJson(data.result), completedAt: now }
      : write.request.eventType === "step_failed"
        ? { status: "failed" as const, error: payloadJson(data.error), completedAt: now }
        : {
            status: "pending" as const,
            error: payloadJson(data.error),
            retryAt: data.retryAfter === undefined ? null : new Date(data.retryAfter as string | Date),
          };
  const task = await write.tx.tasks.update(current.taskExecId, patch);
  const event = await appendRequest(write);
  const result: EventResult = { event, step: toStep(task, write.resolveData) };
  const after = sequenceCursor(sinceCursor);
  if (after === undefined) return result;
  // The events since the caller's cursor, this one among them: the runtime then skips a list call.
  const page = await readEvents(write.tx, write.executionId, { after, resolveData: write.resolveData });
  return { ...result, events: page.events, cursor: page.cursor, hasMore: page.hasMore };
}

export async function waitCreated(write: Write): Promise<EventResult> {
  const waitId = correlationOf(write);
  const data = write.request.eventData ?? {};
  await checkRunTakesChildren(write);
  const task = await createTask(write, {
    taskExecId: taskExecIdOf(write.executionId, "wait", waitId),
    taskId: waitId,
    executionType: "wait",
    status: "waiting",
    attempt: 0,
    retryAt: data.resumeAt === undefined ? null : new Date(data.resumeAt as string | Date),
  });
  const event = await appendRequest(write);
  return { event, wait: toWait(task) };
}

export async function waitCompleted(write: Write): Promise<EventResult> {
  const waitId = correlationOf(write);
  const current = await lockTask(write, taskExecIdOf(write.executionId, "wait", waitId), "Wait");
  if (current.status === "completed") throw new EntityConflictError(`Wait "${waitId}" already completed`);
  const task = await write.tx.tasks.update(current.taskExecId, {
    status: "completed",
    completedAt: new Date(),
  });
  const event = await appendRequest(write);
  return { event, wait: toWait(task) };
}
