/**
 * Workflows for the World's end-to-end tests, in the form the SDK's compiler gives them (a workflow
 * code string run in the SDK's sandbox, steps registered by id in this process), so no build step is
 * needed. `deliveries` records every delivery the World makes to the flow handler.
 */
import { workflowEntrypoint } from "@workflow/core/runtime";
import { FatalError, getStepMetadata, getWritable, RetryableError } from "workflow";
import { setWorld } from "workflow/runtime";
import { createWorld, type FlowstoreWorld } from "../../src/adapters/workflow/index.js";
import type { Store } from "../../src/index.js";
import { workflowCode } from "./workflow-code.js";

const registry = globalThis as unknown as Record<symbol, Map<string, (...args: never[]) => unknown>>;
const stepsKey = Symbol.for("@workflow/core//registeredSteps");
registry[stepsKey] ??= new Map();
const steps = registry[stepsKey];

steps.set("step//e2e//add", async (a: number, b: number) => a + b);
steps.set("step//e2e//flaky", async (n: number) => {
  const { attempt } = getStepMetadata();
  if (attempt === 1) throw new RetryableError("not yet", { retryAfter: 100 });
  return n * attempt;
});
steps.set("step//e2e//fatal", async () => {
  throw new FatalError("no way");
});
steps.set("step//e2e//speak", async (words: string[], gapMs: number) => {
  const writer = getWritable<string>().getWriter();
  for (const [i, word] of words.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    await writer.write(word);
  }
  await writer.close();
  return words.length;
});

export const POST = workflowEntrypoint(workflowCode("e2e"));

export type WorkflowName = "threeSteps" | "retrying" | "failing" | "sleeper" | "hooked" | "speaker";

export function workflow(name: WorkflowName): { workflowId: string } {
  return { workflowId: `workflow//e2e//${name}` };
}

export interface Delivery {
  runId: string;
  messageId: string;
  attempt: number;
}

/** A World on `store` whose deliveries call the flow handler in this process, made the SDK's World. */
export async function startWorld(store: Store, deliveries: Delivery[] = []): Promise<FlowstoreWorld> {
  const world = createWorld({
    store,
    pollIntervalMs: 100,
    deliver: async (request) => {
      const body = (await request.clone().json()) as { runId?: string };
      deliveries.push({
        runId: body.runId ?? "",
        messageId: request.headers.get("x-flowstore-message-id") ?? "",
        attempt: Number(request.headers.get("x-flowstore-message-attempt")),
      });
      return POST(request);
    },
  });
  setWorld(world);
  await world.start?.();
  return world;
}

/** Waits for the run to finish (polling the World, every 50 ms) and returns it. */
export async function finished(world: FlowstoreWorld, runId: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await world.runs.get(runId);
    if (run.status === "completed" || run.status === "failed" || run.status === "cancelled") return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} is still ${run.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function eventTypes(world: FlowstoreWorld, runId: string): Promise<string[]> {
  const page = await world.events.list({ runId, pagination: { limit: 1000 } });
  return page.data.map((event) => event.eventType);
}
