/** A paused run's state: what the SDK's approval items are saved as, and the state restored, or refused clearly. */

import { type RunContext, RunState, type RunToolApprovalItem } from "@openai/agents-core";
import { installedVersion } from "../../config/installed-version.js";
import { ConflictError, ValidationError } from "../../index.js";
import type { AnyAgent, Approval, PausedRun } from "./paused-run-types.js";

/** The run's state restored for `agent`: refused with both SDK versions, or the graph it misses, named. */
export async function restore<TContext, TAgent extends AnyAgent>(
  run: PausedRun & { state: string },
  agent: TAgent,
  context: RunContext<TContext> | undefined,
): Promise<RunState<TContext, TAgent>> {
  try {
    return context === undefined
      ? await RunState.fromString<TContext, TAgent>(agent, run.state)
      : await RunState.fromStringWithContext<TContext, TAgent>(agent, run.state, context);
  } catch (error) {
    const reason = (error as Error).message;
    const here = installedSdkVersion();
    const versions =
      run.sdkVersion === here
        ? ""
        : `; it was saved by @openai/agents-core ${run.sdkVersion} (run state schema ${run.stateSchema}), and this process has ${here}`;
    throw new ConflictError(
      `paused run ${run.id} does not restore for agent ${JSON.stringify(agent?.name)}: ${reason}${versions}`,
      { cause: error },
    );
  }
}

export function describeApproval(
  item: RunToolApprovalItem,
): Omit<Approval, "decision" | "always" | "message" | "decidedBy" | "decidedAt"> {
  const callId = callIdOf(item);
  if (!callId) throw new ValidationError("an interruption has no call id", { field: "source" });
  return {
    callId,
    agentName: item.agent?.name ?? "",
    toolName: item.name ?? item.toolName ?? "",
    arguments: item.arguments ?? null,
  };
}

/** The id the SDK tracks an approval by: the call's callId, or a hosted tool call's id. */
export function callIdOf(item: RunToolApprovalItem): string | undefined {
  const raw = item.rawItem as { callId?: string; id?: string };
  return raw.callId ?? raw.id;
}

let sdkVersion: string | undefined;

/** The installed @openai/agents-core's version: recorded with each saved state, named when one does not restore. */
export function installedSdkVersion(): string {
  sdkVersion ??= installedVersion("@openai/agents-core", import.meta.url) ?? "unknown";
  return sdkVersion;
}
