/** Small builders shared by the World's tests. */
import { runIdOf } from "../../src/adapters/workflow/ids.js";
import { uuidv7 } from "../../src/index.js";

/** A new run id, as the runtime makes them (`wrun_` and a ULID). */
export function newRunId(): string {
  return runIdOf(uuidv7());
}

/** A run_created request. */
export function created(workflowName = "wf", attributes?: Record<string, string>) {
  return {
    eventType: "run_created" as const,
    specVersion: 5,
    eventData: { deploymentId: "d1", workflowName, input: new Uint8Array([1, 0, 2]), attributes },
  };
}

/** A slot line run (spec 7), created and started: its events at positions 1 and 2. */
export async function startedSlotRun(world: {
  events: { create(runId: string, data: never): Promise<unknown> };
}): Promise<string> {
  const runId = newRunId();
  await world.events.create(runId, {
    eventType: "run_created",
    specVersion: 7,
    eventData: { deploymentId: "d1", workflowName: "wf", input: new Uint8Array([1]) },
  } as never);
  await world.events.create(runId, { eventType: "run_started" } as never);
  return runId;
}
