/**
 * Hooks, as signals: a hook's token is a signal token, held by one live run at a time (a unique key,
 * not a check that two writers can both pass). A token another hook holds is not an error: the run
 * records hook_conflict, which the workflow sees as a HookConflictError. A hook goes when it is
 * disposed or its run finishes. Each hook event locks its run first, as the run's own ends do, so none
 * is journaled after the hook's disposal or the run's end.
 */

import type { EventResult } from "@workflow/world";
import { ConflictError, type HistoryEvent, type Signal } from "../../index.js";
import { encode } from "./codec.js";
import {
  type EventPayload,
  eventPayload,
  type HookFields,
  type HookOwner,
  hookFields,
  toEvent,
  toHook,
} from "./entities.js";
import { EntityConflictError, HookNotFoundError, WorkflowWorldError } from "./errors.js";
import {
  append,
  appendRequest,
  isTerminal,
  lockExistingRun,
  lockRunTakingChildren,
  specOf,
  type Write,
} from "./event-support.js";
import { signalToken } from "./hook-tokens.js";
import { runIdOf } from "./ids.js";

/** The run's live hook with this id, or undefined. */
export async function findRunHook(
  write: Pick<Write, "scope" | "executionId">,
  hookId: string,
): Promise<Signal | undefined> {
  let cursor: string | null | undefined;
  do {
    const page = await write.scope.signals.list(write.executionId, { cursor, limit: 1000 });
    const found = page.items.find((signal) => hookFields(signal).hookId === hookId);
    if (found) return found;
    cursor = page.nextCursor;
  } while (cursor);
  return undefined;
}

async function conflict(write: Write, token: string, holder: string): Promise<EventResult> {
  const [event] = await append(write, [
    { type: "hook_conflict", eventData: { token, conflictingRunId: runIdOf(holder) } },
  ]);
  return { event };
}

export async function hookCreated(write: Write, owner: HookOwner): Promise<EventResult> {
  const hookId = write.request.correlationId as string;
  const data = (write.request.eventData ?? {}) as {
    token: string;
    metadata?: Uint8Array;
    isWebhook?: boolean;
    isSystem?: boolean;
  };
  await lockRunTakingChildren(write);
  const token = signalToken(data.token);
  const held = await write.scope.signals.get(token);
  if (held) {
    if (held.executionId === write.executionId && hookFields(held).hookId === hookId) {
      throw new EntityConflictError(`Hook "${hookId}" already created`);
    }
    return conflict(write, data.token, held.executionId);
  }
  const fields: HookFields = {
    hookId,
    token: token === data.token ? undefined : data.token,
    metadata: data.metadata,
    isWebhook: data.isWebhook,
    isSystem: data.isSystem ?? false,
    specVersion: specOf(write),
  };
  let claim: Awaited<ReturnType<typeof write.scope.signals.claim>>;
  try {
    claim = await write.scope.signals.claim(token, write.executionId, {
      metadata: encode(fields),
      ifHeld: "return",
    });
  } catch (error) {
    if (error instanceof ConflictError) throw new EntityConflictError(error.message);
    throw error;
  }
  if (!claim.claimed) return conflict(write, data.token, claim.heldBy.executionId);
  // Taken between the read and the claim by another hook of this run.
  if (hookFields(claim.signal).hookId !== hookId) return conflict(write, data.token, write.executionId);
  const event = await appendRequest(write);
  return { event, hook: toHook(claim.signal, owner, write.resolveData) };
}

/**
 * The run's live hook with this id, with the run locked until the transaction ends: the hook cannot be
 * disposed, nor the run finish, before the caller has journaled its event.
 */
async function lockRunHook(write: Write, hookId: string): Promise<Signal> {
  const run = await lockExistingRun(write);
  const signal = isTerminal(run.status) ? undefined : await findRunHook(write, hookId);
  if (!signal) throw new HookNotFoundError(hookId);
  return signal;
}

/** What resumeHook() sends with a hook_received it may send twice: its resume id and payload digest. */
export interface Resume {
  resumeId: string;
  resumePayloadDigest?: string;
}

/** The run's hook_received written with this resume id, if any (the run locked by the caller). */
async function resumed(write: Write, hookId: string, resumeId: string): Promise<HistoryEvent | undefined> {
  let cursor: string | null | undefined;
  do {
    const page = await write.scope.events.byCorrelation(hookId, {
      executionId: write.executionId,
      cursor,
      limit: 1000,
    });
    const found = page.items.find(
      (event) => event.type === "hook_received" && (event.payload as EventPayload | null)?.r === resumeId,
    );
    if (found) return found;
    cursor = page.nextCursor;
  } while (cursor);
  return undefined;
}

/**
 * hook_received. With a resume id, writers of one (run, resume id) collapse onto one event: the run is
 * locked first, so the second writer waits for the first's commit and then finds its event, which it
 * returns (even after the hook or the run has ended: that write already counted). The same resume id
 * with another payload digest is a caller's bug, refused with 422 as the SDK's Worlds do.
 */
export async function hookReceived(write: Write, owner: HookOwner, resume?: Resume): Promise<EventResult> {
  const hookId = write.request.correlationId as string;
  if (resume) {
    await lockExistingRun(write);
    const earlier = await resumed(write, hookId, resume.resumeId);
    if (earlier) {
      const digest = (earlier.payload as EventPayload).g;
      if (
        digest !== undefined &&
        resume.resumePayloadDigest !== undefined &&
        digest !== resume.resumePayloadDigest
      ) {
        throw new WorkflowWorldError(`resumeId "${resume.resumeId}" was used with another payload`, {
          status: 422,
        });
      }
      const live = await findRunHook(write, hookId);
      return {
        event: toEvent(earlier, write.resolveData),
        ...(live ? { hook: toHook(live, owner, write.resolveData) } : {}),
      };
    }
  }
  const signal = await lockRunHook(write, hookId);
  if (!resume) return { event: await appendRequest(write), hook: toHook(signal, owner, write.resolveData) };
  const payload: EventPayload = {
    ...eventPayload(specOf(write), write.request.eventData),
    r: resume.resumeId,
    ...(resume.resumePayloadDigest === undefined ? {} : { g: resume.resumePayloadDigest }),
  };
  const [event] = await write.scope.events.append(write.executionId, [
    { type: "hook_received", correlationId: hookId, payload },
  ]);
  return {
    event: toEvent(event as HistoryEvent, write.resolveData),
    hook: toHook(signal, owner, write.resolveData),
  };
}

export async function hookDisposed(write: Write, owner: HookOwner): Promise<EventResult> {
  const hookId = write.request.correlationId as string;
  const signal = await lockRunHook(write, hookId);
  if (!(await write.scope.signals.release(signal.token, { executionId: write.executionId }))) {
    throw new EntityConflictError(`Hook "${hookId}" already disposed`);
  }
  const event = await appendRequest(write);
  return { event, hook: toHook(signal, owner, write.resolveData) };
}
