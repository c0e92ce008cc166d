/**
 * Hook tokens of any length, as the Workflow SDK lets a workflow choose them (world-postgres keeps
 * them as text of any length): a token over the store's 1,024-byte key limit is held, found, resumed,
 * refused to a second run and freed as a short one is, and the World reports it whole.
 */
import "../../support/with-resolvers.js";
import { hydrateWorkflowReturnValue } from "@workflow/core/serialization";
import { afterEach, describe, expect, it } from "vitest";
import { resumeHook, start } from "workflow/api";
import { signalToken } from "../../../src/adapters/workflow/hook-tokens.js";
import { createWorld, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { until } from "../../support/waiting.js";
import { eventTypes, finished, startWorld, workflow } from "../../support/workflow-e2e-fixtures.js";
import { created, newRunId } from "../../support/workflow-world-fixtures.js";

const bytes = (...values: number[]) => new Uint8Array(values);

/** A token of `length` characters; tokens with the same `seed` share all but their last characters. */
const longToken = (seed: string, length: number, end = "") =>
  `${seed}-${"x".repeat(length - seed.length - 1 - end.length)}${end}`;

async function rejection(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "(resolved)",
    (error: { name: string }) => error.name,
  );
}

forEachDriver((driver) => {
  describe("hook tokens over 1,024 bytes", () => {
    const worlds: FlowstoreWorld[] = [];
    afterEach(async () => {
      await Promise.all(worlds.splice(0).map((world) => world.close?.()));
    });

    it("are held, found, received, refused to another run and freed, through the World", async () => {
      const w = createWorld({ store: await driver.open() });
      const [a, b] = [newRunId(), newRunId()];
      for (const runId of [a, b]) await w.events.create(runId, created());
      // Two tokens alike in their first 4,000 characters, and one of many-byte characters.
      const token = longToken("order", 5000, "-1");
      const twin = longToken("order", 5000, "-2");
      const wide = "é".repeat(700);
      const hook = (correlationId: string, t: string) =>
        ({ eventType: "hook_created", correlationId, eventData: { token: t, metadata: bytes(3) } }) as never;

      const made = await w.events.create(a, hook("hook_a", token));
      expect(made.hook).toMatchObject({ runId: a, hookId: "hook_a", token, metadata: bytes(3) });
      expect(await w.hooks.getByToken(token)).toMatchObject({ runId: a, hookId: "hook_a", token });
      expect(await w.hooks.get("hook_a")).toMatchObject({ token });
      expect((await w.hooks.list({ runId: a })).data.map((h) => h.token)).toEqual([token]);

      // The twin is another token: b takes it; the token itself is refused to b.
      expect((await w.events.create(b, hook("hook_twin", twin))).hook).toMatchObject({ token: twin });
      expect((await w.events.create(b, hook("hook_wide", wide))).hook).toMatchObject({ token: wide });
      const clash = await w.events.create(b, hook("hook_b", token));
      expect(clash.event).toMatchObject({
        eventType: "hook_conflict",
        eventData: { token, conflictingRunId: a },
      });
      expect(clash.hook).toBeUndefined();

      const received = await w.events.create(a, {
        eventType: "hook_received",
        correlationId: "hook_a",
        eventData: { payload: bytes(8) },
      });
      expect(received.event?.eventData).toEqual({ payload: bytes(8) });
      await w.events.create(a, { eventType: "hook_disposed", correlationId: "hook_a" });
      expect(await rejection(w.hooks.getByToken(token))).toBe("HookNotFoundError");
      expect((await w.events.create(b, hook("hook_b", token))).hook).toMatchObject({ runId: b, token });
      expect((await w.hooks.getByToken(twin)).hookId).toBe("hook_twin");
      expect((await w.hooks.getByToken(wide)).hookId).toBe("hook_wide");
    });

    it("a short token that looks like the stored form of a long one is a token of its own", async () => {
      const w = createWorld({ store: await driver.open() });
      const [a, b] = [newRunId(), newRunId()];
      for (const runId of [a, b]) await w.events.create(runId, created());
      const token = longToken("t", 2000);
      await w.events.create(a, {
        eventType: "hook_created",
        correlationId: "long",
        eventData: { token },
      } as never);
      // No other token names its hook, not even the digest it is held under.
      const stored = (await w.hooks.list({ runId: a })).data[0];
      expect(stored?.token).toBe(token);
      for (const other of ["t", token.slice(0, 1024), signalToken(token)]) {
        expect(await rejection(w.hooks.getByToken(other))).toBe("HookNotFoundError");
        const made = await w.events.create(b, {
          eventType: "hook_created",
          correlationId: `short-${other.length}`,
          eventData: { token: other },
        } as never);
        expect(made.hook).toMatchObject({ runId: b, token: other });
      }
    });

    it("a workflow creating a hook with a long token is resumed by it and completes", async () => {
      const store = await driver.open();
      const world = await startWorld(store);
      worlds.push(world);
      const token = longToken(`approval-${driver.name}`, 3000);
      const run = await start(workflow("hooked"), [token]);
      await until(async () => (await eventTypes(world, run.runId)).includes("hook_created"));
      expect(await world.hooks.getByToken(token)).toMatchObject({ runId: run.runId, token });
      await resumeHook(token, { value: "approved" });
      const done = await finished(world, run.runId);
      expect(done.status).toBe("completed");
      expect(await hydrateWorkflowReturnValue(done.output as Uint8Array, run.runId, undefined)).toBe(
        "approved",
      );
    });
  });
});
