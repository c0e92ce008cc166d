/**
 * Real workflows through flowstore's World with the Workflow SDK's runtime, in this process: steps,
 * retries, a sleep that outlives its worker, a hook resumed by its token, a stream read while written,
 * and a run that workflow 4.x started, which this line does not continue.
 */
import "../../support/with-resolvers.js";
import { hydrateWorkflowReturnValue } from "@workflow/core/serialization";
import { afterEach, describe, expect, it } from "vitest";
import { getRun, resumeHook, start } from "workflow/api";
import { createWorld, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { until } from "../../support/waiting.js";
import {
  type Delivery,
  eventTypes,
  finished,
  startWorld,
  workflow,
} from "../../support/workflow-e2e-fixtures.js";
import { newRunId } from "../../support/workflow-world-fixtures.js";

async function output(world: FlowstoreWorld, runId: string): Promise<unknown> {
  const run = await finished(world, runId);
  expect(run.status).toBe("completed");
  return hydrateWorkflowReturnValue(run.output as Uint8Array, runId, undefined);
}

/** Resumes the hook as soon as it exists (it appears once the run has reached createHook). */
async function resumeWhenReady(token: string, payload: unknown): Promise<void> {
  await until(async () => {
    try {
      await resumeHook(token, payload);
      return true;
    } catch (error) {
      if ((error as Error).name === "HookNotFoundError") return false;
      throw error;
    }
  });
}

forEachDriver((driver) => {
  describe("the World running real workflows", () => {
    const worlds: FlowstoreWorld[] = [];
    afterEach(async () => {
      await Promise.all(worlds.splice(0).map((world) => world.close?.()));
    });

    async function open(deliveries?: Delivery[]) {
      const store = await driver.open();
      const world = await startWorld(store, deliveries);
      worlds.push(world);
      return { store, world };
    }

    it("runs steps in order, each recorded as a step and as its events", async () => {
      const { world } = await open();
      const run = await start(workflow("threeSteps"), [10]);
      expect(await output(world, run.runId)).toBe(16);
      const steps = await world.steps.list({ runId: run.runId });
      expect(steps.data.map((step) => [step.stepName, step.status, step.attempt])).toEqual([
        ["step//e2e//add", "completed", 1],
        ["step//e2e//add", "completed", 1],
        ["step//e2e//add", "completed", 1],
      ]);
      const step = steps.data[0];
      expect((await world.steps.get(run.runId, step?.stepId as string)).output).toBeInstanceOf(Uint8Array);
      expect(await eventTypes(world, run.runId)).toEqual([
        "run_created",
        "run_started",
        ...Array(3).fill(["step_created", "step_started", "step_completed"]).flat(),
        "run_completed",
      ]);
      const events = (await world.events.list({ runId: run.runId })).data;
      expect(events.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId).sort());
      const last = events[events.length - 1];
      expect(await world.events.get(run.runId, last?.eventId as string)).toEqual(last);
    });

    it("retries a step that asks to be retried, and fails a run whose step fails for good", async () => {
      const { world } = await open();
      const retried = await start(workflow("retrying"), [21]);
      expect(await output(world, retried.runId)).toBe(42);
      const [step] = (await world.steps.list({ runId: retried.runId })).data;
      expect(step).toMatchObject({ status: "completed", attempt: 2 });
      expect(await eventTypes(world, retried.runId)).toContain("step_retrying");

      const failing = await start(workflow("failing"), []);
      expect((await finished(world, failing.runId)).status).toBe("failed");
      const [failed] = (await world.steps.list({ runId: failing.runId })).data;
      expect(failed).toMatchObject({ status: "failed", attempt: 1 });
    });

    it("finishes a sleep after its worker stopped, from the delayed message a new worker finds", async () => {
      const deliveries: Delivery[] = [];
      const { store, world } = await open(deliveries);
      const run = await start(workflow("sleeper"), [1500]);
      await until(async () => (await eventTypes(world, run.runId)).includes("wait_created"));
      await until(() => deliveries.length === 1);
      // The worker goes; the message that will wake the run waits in the store.
      await world.close?.();
      const [waiting, ...others] = await store.jobs.list({ queue: "workflow" });
      expect(others).toEqual([]);
      expect(waiting).toMatchObject({ status: "waiting", attempts: 0 });
      expect(waiting?.runAt.getTime()).toBeGreaterThan(Date.now());

      const restarted = await startWorld(store, deliveries);
      worlds.push(restarted);
      expect(await output(restarted, run.runId)).toBe(3);
      expect(deliveries.map((d) => d.runId)).toEqual([run.runId, run.runId]);
      expect(deliveries[1]).toEqual({ runId: run.runId, messageId: waiting?.id, attempt: 1 });
      expect(await eventTypes(restarted, run.runId)).toContain("wait_completed");
    });

    it("resumes a hook by its token, which one live run holds at a time", async () => {
      const { world } = await open();
      const token = `order-${driver.name}-${Date.now()}`;
      const first = await start(workflow("hooked"), [token]);
      await until(async () => (await eventTypes(world, first.runId)).includes("hook_created"));
      const hook = await world.hooks.getByToken(token);
      expect(hook).toMatchObject({ runId: first.runId, token });
      expect(await world.hooks.get(hook.hookId)).toEqual(hook);

      // A second run asking for the same token is told it is taken, and fails.
      const second = await start(workflow("hooked"), [token]);
      expect((await finished(world, second.runId)).status).toBe("failed");
      const conflict = (await world.events.list({ runId: second.runId })).data.find(
        (e) => e.eventType === "hook_conflict",
      );
      expect(conflict?.eventData).toMatchObject({ token, conflictingRunId: first.runId });

      await resumeWhenReady(token, { value: "approved" });
      expect(await output(world, first.runId)).toBe("approved");
      // The first run finished: the token is free for another.
      await expect(world.hooks.getByToken(token)).rejects.toMatchObject({ name: "HookNotFoundError" });
      const third = await start(workflow("hooked"), [token]);
      await resumeWhenReady(token, { value: "again" });
      expect(await output(world, third.runId)).toBe("again");
    });

    it("refuses a run that workflow 4.x started, and leaves it as 4.x left it", async () => {
      const { store, world } = await open();
      // What 4.x's start() writes (spec 3) and queues: the run, and its first message, which says the spec.
      const v4 = createWorld({ store, specVersion: 3, autoStart: false });
      const runId = newRunId();
      const eventData = {
        deploymentId: "d1",
        workflowName: "workflow//e2e//threeSteps",
        input: new Uint8Array([1]),
      };
      await v4.events.create(runId, { eventType: "run_created", specVersion: 3, eventData } as never);
      await world.queue(
        "__wkf_workflow_workflow//e2e//threeSteps" as never,
        {
          runId,
          runInput: { ...eventData, specVersion: 3 },
        } as never,
      );
      // The beta's handler is refused at the run's start: the message fails, to come back later.
      await until(async () => ((await store.jobs.list({ queue: "workflow" }))[0]?.attempts ?? 0) >= 1);
      const [job] = await store.jobs.list({ queue: "workflow" });
      expect(job?.lastError?.message).toMatch(/RunNotSupportedError|recorded with World spec 3/);
      expect(await eventTypes(world, runId)).toEqual(["run_created"]);
      expect(await world.runs.get(runId)).toMatchObject({ status: "pending", specVersion: 3 });
      await v4.close();
    });

    it("streams a step's output to a reader while the step still writes", async () => {
      const { world } = await open();
      const run = await start(workflow("speaker"), [["hello", "streaming", "world"], 300]);
      const reader = getRun(run.runId).getReadable<string>().getReader();
      const first = await reader.read();
      expect(first).toEqual({ done: false, value: "hello" });
      // Read before the run finished: the chunk came from the live tail, not from a read afterwards.
      expect(await eventTypes(world, run.runId)).not.toContain("run_completed");
      const rest: string[] = [];
      for (let next = await reader.read(); !next.done; next = await reader.read()) rest.push(next.value);
      expect(rest).toEqual(["streaming", "world"]);
      expect(await output(world, run.runId)).toBe(3);
    });
  });
});
