/**
 * The runs' calls World spec 6–7 adds, on the World directly (no runtime), driven through
 * @workflow/world 5.0.0-beta.37's types (the devDependency alias @workflow/world-slots): many runs read
 * as one snapshot in the order asked, bulk cancels that cancel each run as the single cancel does and
 * once however many cancel it at the same time, waits for a run's end that answer when it ends or when
 * the budget is spent, and the capabilities the slot line declares (only one it enforces).
 */
import type { World as SlotsWorld } from "@workflow/world-slots";
import { describe, expect, it } from "vitest";
import { createWorld, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { newRunId } from "../../support/workflow-world-fixtures.js";

const bytes = (...values: number[]) => new Uint8Array(values);
const created = (name = "wf") => ({
  eventType: "run_created" as const,
  specVersion: 7,
  eventData: { deploymentId: "d1", workflowName: name, input: bytes(1, 2) },
});

forEachDriver((driver) => {
  describe("the slot line's runs: getMany, cancelMany, waitForTerminalStatus", () => {
    async function world(specVersion: 5 | 7 = 7): Promise<{ w: SlotsWorld; flow: FlowstoreWorld }> {
      const store = await driver.open();
      const flow = createWorld({ store, specVersion, pollIntervalMs: 50, autoStart: false });
      return { w: flow as unknown as SlotsWorld, flow };
    }

    async function run(w: SlotsWorld, status: "pending" | "running" | "completed" | "cancelled" = "pending") {
      const runId = newRunId();
      await w.events.create(runId, created() as never);
      if (status !== "pending") await w.events.create(runId, { eventType: "run_started" } as never);
      if (status === "completed") {
        await w.events.create(runId, {
          eventType: "run_completed",
          eventData: { output: bytes(9) },
        } as never);
      }
      if (status === "cancelled") await w.events.create(runId, { eventType: "run_cancelled" } as never);
      return runId;
    }

    async function types(w: SlotsWorld, runId: string): Promise<string[]> {
      return (await w.events.list({ runId, pagination: {} })).data.map((e) => e.eventType);
    }

    it("getMany reads runs in the order asked, null for unknown ids, with or without their data", async () => {
      const { w } = await world();
      const a = await run(w);
      const b = await run(w, "completed");
      const unknown = newRunId();
      const getMany = w.runs.getMany?.bind(w.runs);
      if (!getMany) throw new Error("getMany missing");
      const runs = await getMany([b, unknown, a, "not-a-run", b]);
      expect(runs.map((r) => r?.runId ?? null)).toEqual([b, null, a, null, b]);
      expect(runs[0]).toMatchObject({ status: "completed", output: bytes(9), input: bytes(1, 2) });
      expect(runs[2]).toMatchObject({ status: "pending", workflowName: "wf", specVersion: 7 });
      // The same run as get returns it.
      expect(runs[2]).toEqual(await w.runs.get(a));
      const lean = await getMany([a, b], { resolveData: "none" });
      expect(lean.map((r) => [r?.runId, r?.input, (r as { output?: unknown })?.output])).toEqual([
        [a, undefined, undefined],
        [b, undefined, undefined],
      ]);
      expect(await getMany([])).toEqual([]);
      expect(await getMany([unknown])).toEqual([null]);
      const many = Array.from({ length: 501 }, () => newRunId());
      await expect(getMany(many)).rejects.toMatchObject({ name: "WorkflowWorldError", status: 400 });
    });

    it("cancelMany cancels each run as the single cancel does and reports the others as they are", async () => {
      const { w } = await world();
      const pending = await run(w);
      const running = await run(w, "running");
      const completed = await run(w, "completed");
      const cancelled = await run(w, "cancelled");
      const unknown = newRunId();
      // A hook of the running run: a cancelled run frees its hooks' tokens, as the single cancel does.
      await w.events.create(running, {
        eventType: "hook_created",
        correlationId: "hook_1",
        eventData: { token: `token-${running}` },
      } as never);
      const cancelMany = w.runs.cancelMany?.bind(w.runs);
      if (!cancelMany) throw new Error("cancelMany missing");
      const ids = [pending, running, completed, cancelled, unknown, "not-a-run"];
      const result = await cancelMany({ runIds: ids, cancelReason: "operator" });
      expect(result.results).toEqual([
        { runId: pending, outcome: "cancelled" },
        { runId: running, outcome: "cancelled" },
        { runId: completed, outcome: "not_cancellable", status: "completed" },
        { runId: cancelled, outcome: "already_cancelled" },
        { runId: unknown, outcome: "not_found" },
        { runId: "not-a-run", outcome: "not_found" },
      ]);
      expect(result.summary).toEqual({
        requested: 6,
        cancelled: 2,
        alreadyCancelled: 1,
        notCancellable: 1,
        notFound: 2,
        failed: 0,
      });
      expect((await w.runs.get(pending)).status).toBe("cancelled");
      expect((await w.runs.get(running)).status).toBe("cancelled");
      expect((await w.runs.get(completed)).status).toBe("completed");
      const events = (await w.events.list({ runId: running, pagination: {} })).data;
      expect(events.map((e) => e.eventType)).toEqual([
        "run_created",
        "run_started",
        "hook_created",
        "run_cancelled",
      ]);
      expect(events[3]).toMatchObject({ specVersion: 7, eventData: { cancelReason: "operator" } });
      await expect(w.hooks.getByToken(`token-${running}`)).rejects.toMatchObject({
        name: "HookNotFoundError",
      });
      // Nothing more for the runs it did not cancel: no second event for the one cancelled already.
      expect(await types(w, cancelled)).toEqual(["run_created", "run_started", "run_cancelled"]);
      expect(await types(w, completed)).toEqual(["run_created", "run_started", "run_completed"]);
    });

    it("cancelMany refuses a request it cannot read, and writes nothing", async () => {
      const { w } = await world();
      const a = await run(w);
      const cancelMany = w.runs.cancelMany?.bind(w.runs);
      if (!cancelMany) throw new Error("cancelMany missing");
      for (const request of [
        { runIds: [] },
        { runIds: [a, a] },
        { runIds: "x" },
        { runIds: [a], cancelReason: 1 },
      ]) {
        await expect(cancelMany(request as never)).rejects.toMatchObject({
          name: "WorkflowWorldError",
          status: 400,
        });
      }
      expect((await w.runs.get(a)).status).toBe("pending");
      expect(await types(w, a)).toEqual(["run_created"]);
    });

    it("cancels each run once when bulk and single cancels race", async () => {
      const { w } = await world();
      const ids = await Promise.all(
        Array.from({ length: 8 }, (_, i) => run(w, i % 2 ? "running" : "pending")),
      );
      const cancelMany = w.runs.cancelMany?.bind(w.runs);
      if (!cancelMany) throw new Error("cancelMany missing");
      // One run cancelled by the single cancel first: each bulk cancel then finds it cancelled.
      const [first] = ids as [string];
      await w.events.create(first, { eventType: "run_cancelled" } as never);
      const results = await Promise.all([
        cancelMany({ runIds: ids }),
        cancelMany({ runIds: [...ids].reverse() }),
        cancelMany({ runIds: ids.slice(2, 6) }),
      ]);
      for (const runId of ids) {
        const outcomes = results.flatMap((r) =>
          r.results.filter((o) => o.runId === runId).map((o) => o.outcome),
        );
        expect(outcomes.filter((o) => o === "cancelled")).toHaveLength(runId === first ? 0 : 1);
        expect(outcomes.every((o) => o === "cancelled" || o === "already_cancelled")).toBe(true);
        const cancels = (await types(w, runId)).filter((type) => type === "run_cancelled");
        expect(cancels).toHaveLength(1);
        expect((await w.runs.get(runId)).status).toBe("cancelled");
      }
      const total = results.reduce((sum, r) => sum + r.summary.cancelled, 0);
      expect(total).toBe(ids.length - 1);
    });

    it("waitForTerminalStatus answers when the run ends, or with a snapshot when the budget is spent", async () => {
      const { w } = await world();
      const wait = w.runs.waitForTerminalStatus?.bind(w.runs);
      if (!wait) throw new Error("waitForTerminalStatus missing");
      const runId = await run(w, "running");
      const began = Date.now();
      const waiting = wait(runId, { timeoutMs: 10_000 });
      setTimeout(() => {
        void w.events.create(runId, { eventType: "run_completed", eventData: { output: bytes(7) } } as never);
      }, 150);
      const ended = await waiting;
      expect(ended).toMatchObject({ runId, status: "completed", output: bytes(7) });
      expect(Date.now() - began).toBeLessThan(5_000);
      // An ended run at once, in the shape asked for.
      const lean = await wait(runId, { timeoutMs: 10_000, resolveData: "none" });
      expect(lean).toMatchObject({ status: "completed" });
      expect((lean as { output?: unknown }).output).toBeUndefined();
      // A run that does not end: the snapshot once the budget is spent, never an error.
      const still = await run(w, "running");
      const before = Date.now();
      expect(await wait(still, { timeoutMs: 300 })).toMatchObject({ runId: still, status: "running" });
      expect(Date.now() - before).toBeGreaterThanOrEqual(250);
      expect(Date.now() - before).toBeLessThan(5_000);
      // No budget: one read. An aborted wait answers with what it read.
      expect(await wait(still)).toMatchObject({ status: "running" });
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 100);
      const aborted = Date.now();
      expect(await wait(still, { timeoutMs: 10_000, signal: abort.signal })).toMatchObject({
        status: "running",
      });
      expect(Date.now() - aborted).toBeLessThan(5_000);
      // A missing run fails as get does.
      await expect(wait(newRunId(), { timeoutMs: 1_000 })).rejects.toMatchObject({
        name: "WorkflowRunNotFoundError",
      });
      await expect(wait("not-a-run", { timeoutMs: 1_000 })).rejects.toMatchObject({
        name: "WorkflowRunNotFoundError",
      });
    });

    it("wakes a wait at once when a World of its process ends the run, before its next read", async () => {
      const store = await driver.open();
      // Reads 10 s apart: only the wake-up can answer within the test's bounds.
      const w = createWorld({
        store,
        specVersion: 7,
        pollIntervalMs: 10_000,
        autoStart: false,
      }) as unknown as SlotsWorld;
      const wait = w.runs.waitForTerminalStatus?.bind(w.runs);
      if (!wait) throw new Error("waitForTerminalStatus missing");
      const ended = await run(w, "running");
      const cancelled = await run(w, "running");
      const began = Date.now();
      const waits = [wait(ended, { timeoutMs: 30_000 }), wait(cancelled, { timeoutMs: 30_000 })];
      await new Promise((resolve) => setTimeout(resolve, 100));
      await w.events.create(ended, { eventType: "run_failed", eventData: { error: bytes(3) } } as never);
      await w.runs.cancelMany?.({ runIds: [cancelled] });
      expect((await Promise.all(waits)).map((r) => r.status)).toEqual(["failed", "cancelled"]);
      expect(Date.now() - began).toBeLessThan(5_000);
    });

    it("declares no capability it does not enforce, and serves the run calls on spec 5 too", async () => {
      const { w, flow } = await world();
      // Only the resume deduplication, which workflow-world-slots-resume.test.ts shows.
      expect(w.capabilities).toEqual({ hookResumeDedup: true });
      expect(w.getEnvironment).toBeUndefined();
      expect(w.getRuntimeDeadline).toBeUndefined();
      expect(typeof w.events.createBatch).toBe("function");
      expect(typeof w.streams.createWriteSession).toBe("function");
      await flow.close();
      const early = await world(5);
      const w5 = early.w;
      expect(w5.capabilities).toBeUndefined();
      expect(w5.events.createBatch).toBeUndefined();
      const a = newRunId();
      await w5.events.create(a, { ...created(), specVersion: 5 } as never);
      expect((await w5.runs.getMany?.([a]))?.map((r) => r?.runId)).toEqual([a]);
      expect((await w5.runs.cancelMany?.({ runIds: [a] }))?.summary.cancelled).toBe(1);
      expect(await w5.runs.waitForTerminalStatus?.(a, { timeoutMs: 1_000 })).toMatchObject({
        status: "cancelled",
      });
    });
  });
});
