/**
 * Hooks, as signals: a hook's token is a signal token, held by one live run at a time (a unique key,
 * not a check that two writers can both pass). A token another hook holds is not an error: the run
 * records hook_conflict, which the workflow sees as a HookConflictError. A hook goes when it is
 * disposed or its run finishes. Each hook event locks its run first, as the run's own ends do, so none
 * is journaled after the hook's disposal or the run's end.
 */

import type { EventResult } from "@workflow/world";
import { ConflictError, type Signal } from "../../index.js";
import { encode } from "./codec.js";
import { type HookFields, type HookOwner, hookFields, toHook } from "./entities.js";
import { EntityConflictError, HookNotFoundError } from "./errors.js";
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

export async function hookReceived(write: Write, owner: HookOwner): Promise<EventResult> {
  const hookId = write.request.correlationId as string;
  const signal = await lockRunHook(write, hookId);
  const event = await appendRequest(write);
  return { event, hook: toHook(signal, owner, write.resolveData) };
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
