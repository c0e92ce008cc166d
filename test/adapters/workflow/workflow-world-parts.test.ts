/**
 * The World's reads, streams, queue and retention, on the World directly (no runtime): histories in
 * pages, streams for runs that do not exist yet and live readers that stop when cancelled, messages
 * deduplicated, delayed and redelivered, and finished runs pruned with all they own.
 */
import type { MessageId } from "@workflow/world";
import { describe, expect, it } from "vitest";
import { createWorld, type Deliver, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import { type Store, ValidationError } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { until } from "../../support/waiting.js";
import { created, newRunId } from "../../support/workflow-world-fixtures.js";

const bytes = (...values: number[]) => new Uint8Array(values);
const text = (chunk: Uint8Array | undefined) => new TextDecoder().decode(chunk);

forEachDriver((driver) => {
  describe("the World's reads, streams, queue and retention", () => {
    async function world(deliver?: Deliver): Promise<{ w: FlowstoreWorld; store: Store }> {
      const store = await driver.open();
      // Started by the tests that deliver, when they are ready for it.
      return { w: createWorld({ store, deliver, pollIntervalMs: 50, autoStart: false }), store };
    }

    it("lists a history in pages either way, with or without payloads, and by correlation id", async () => {
      const { w } = await world();
      const runId = newRunId();
      await w.events.create(runId, created());
      for (const id of ["s1", "s2", "s3"]) {
        await w.events.create(runId, {
          eventType: "step_created",
          correlationId: id,
          eventData: { stepName: "n", input: bytes(1) },
        });
      }
      const first = await w.events.list({ runId, pagination: { limit: 3 } });
      expect(first.data.map((e) => e.correlationId ?? e.eventType)).toEqual(["run_created", "s1", "s2"]);
      expect(first.hasMore).toBe(true);
      const rest = await w.events.list({ runId, pagination: { limit: 3, cursor: first.cursor as string } });
      expect(rest.data.map((e) => e.correlationId)).toEqual(["s3"]);
      expect(rest.hasMore).toBe(false);
      const newest = await w.events.list({ runId, pagination: { sortOrder: "desc", limit: 2 } });
      expect(newest.data.map((e) => e.correlationId)).toEqual(["s3", "s2"]);
      const lean = await w.events.list({ runId, resolveData: "none" });
      expect(lean.data[1]?.eventData).toEqual({ stepName: "n" });
      const bare = await w.runs.get(runId, { resolveData: "none" });
      expect(bare.input).toBeUndefined();
      const byId = await w.events.listByCorrelationId({ correlationId: "s2" });
      expect(byId.data.map((e) => [e.runId, e.eventType])).toEqual([[runId, "step_created"]]);
      // Newest first means the newest page first, and its cursor goes on to older events.
      await w.events.create(runId, { eventType: "step_started", correlationId: "s2" });
      await w.events.create(runId, {
        eventType: "step_completed",
        correlationId: "s2",
        eventData: { result: bytes(2) },
      });
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await w.events.listByCorrelationId({
          correlationId: "s2",
          pagination: { sortOrder: "desc", limit: 2, cursor },
        });
        pages.push(page.data.map((e) => e.eventType));
        cursor = page.hasMore ? (page.cursor as string) : undefined;
      } while (cursor);
      expect(pages).toEqual([["step_completed", "step_started"], ["step_created"]]);
      const runs = await w.runs.list({ workflowName: "wf" });
      expect(runs.data.map((r) => r.runId)).toEqual([runId]);
      await expect(w.events.get(runId, "wevt_01ARZ3NDEKTSV4RRFFQ69G5FAV")).rejects.toMatchObject({
        name: "WorkflowWorldError",
      });
    });

    it("throws the store's own failures as World errors the runtime tells apart, from every part", async () => {
      const { w, store } = await world();
      const runId = newRunId();
      await w.events.create(runId, created());
      // Bad input the store refuses: a 400, not retried.
      await expect(w.streams.write(runId, "nul\u0000name", "a")).rejects.toMatchObject({
        name: "WorkflowWorldError",
        status: 400,
      });
      // A store that is gone: a 503, which the runtime retries.
      await store.close();
      const calls: [string, () => Promise<unknown>][] = [
        ["runs.get", () => w.runs.get(runId)],
        ["steps.list", () => w.steps.list({ runId })],
        ["hooks.getByToken", () => w.hooks.getByToken("a-token")],
        ["events.create", () => w.events.create(runId, { eventType: "run_started", specVersion: 5 })],
        ["events.list", () => w.events.list({ runId })],
        ["streams.write", () => w.streams.write(runId, "s", "a")],
        ["streams.getInfo", () => w.streams.getInfo(runId, "s")],
      ];
      for (const [name, call] of calls) {
        await expect(call(), name).rejects.toMatchObject({ name: "WorkflowWorldError", status: 503 });
      }
    });

    it("writes streams of runs that do not exist, pages them, and tails them live until cancelled", async () => {
      const { w } = await world();
      const runId = "wrun_hc_check";
      await w.streams.write(runId, "s", "a");
      await w.streams.writeMulti?.(runId, "s", ["b", bytes(99)]);
      expect(await w.streams.getInfo(runId, "s")).toEqual({ tailIndex: 2, done: false });
      const page = await w.streams.getChunks(runId, "s", { limit: 2 });
      expect(page.data.map((c) => [c.index, text(c.data)])).toEqual([
        [0, "a"],
        [1, "b"],
      ]);
      expect(page).toMatchObject({ cursor: "2", hasMore: true, done: false });

      const live = (await w.streams.get(runId, "s", -1)).getReader();
      expect(text((await live.read()).value)).toBe("c");
      const pending = live.read();
      await w.streams.write(runId, "s", "d");
      expect(text((await pending).value)).toBe("d");
      await live.cancel();

      await w.streams.close(runId, "s");
      const last = await w.streams.getChunks(runId, "s", { cursor: page.cursor as string });
      expect(last).toMatchObject({ cursor: null, hasMore: false, done: true });
      expect(last.data.map((c) => c.index)).toEqual([2, 3]);
      const all: string[] = [];
      const reader = (await w.streams.get(runId, "s")).getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) all.push(text(next.value));
      expect(all).toEqual(["a", "b", "c", "d"]);
      expect(await w.streams.list(runId)).toEqual(["s"]);
    });

    it("queues messages once per idempotency key, delays them, and redelivers on { timeoutSeconds }", async () => {
      const seen: [string, MessageId, number, unknown][] = [];
      let handle: Deliver = async () => new Response("not ready", { status: 503 });
      const { w, store } = await world((request) => handle(request));
      handle = w.createQueueHandler("__wkf_workflow_", async (message, meta) => {
        seen.push([meta.queueName, meta.messageId, meta.attempt, message]);
        return meta.attempt === 1 ? { timeoutSeconds: 0 } : undefined;
      });
      const runId = newRunId();
      const message = { runId, input: bytes(0, 1) } as never;
      const { messageId } = await w.queue("__wkf_workflow_wf", message, { idempotencyKey: "k" });
      expect((await w.queue("__wkf_workflow_wf", message, { idempotencyKey: "k" })).messageId).toBe(
        messageId,
      );
      const later = await w.queue("__wkf_workflow_wf", message, { delaySeconds: 3600 });
      expect((await store.jobs.get(later.messageId as string)).runAt.getTime()).toBeGreaterThan(
        Date.now() + 3_000_000,
      );

      await w.start?.();
      await until(() => seen.length === 2);
      expect(seen).toEqual([
        ["__wkf_workflow_wf", messageId, 1, message],
        ["__wkf_workflow_wf", messageId, 2, message],
      ]);
      await until(async () => (await store.jobs.list({ queue: "workflow" })).length === 1);
      // Delivered and gone: the key is free again.
      expect((await w.queue("__wkf_workflow_wf", message, { idempotencyKey: "k" })).messageId).not.toBe(
        messageId,
      );
      await w.close?.();
    });

    it("holds a message in delivery for leaseMs, from its options or FLOWSTORE_WORKFLOW_LEASE_MS, and refuses a bad one", async () => {
      const store = await driver.open();
      expect(() => createWorld({ store, leaseMs: 0 })).toThrow(ValidationError);
      expect(() => createWorld({ store, leaseMs: 1.5 })).toThrow(/leaseMs/);
      for (const [given, expected] of [
        ["5s", /FLOWSTORE_WORKFLOW_LEASE_MS/],
        ["0", ValidationError],
      ] as const) {
        process.env.FLOWSTORE_WORKFLOW_LEASE_MS = given;
        try {
          expect(() => createWorld({ store })).toThrow(expected);
        } finally {
          delete process.env.FLOWSTORE_WORKFLOW_LEASE_MS;
        }
      }
      expect(await store.jobs.list({ queue: "workflow" })).toEqual([]);

      // From the environment, as a World the runtime makes: a delivery under way holds its message for
      // that long (renewed while it runs), not the queue's 30 s.
      let finish = () => {};
      const finished = new Promise<void>((resolve) => (finish = resolve));
      process.env.FLOWSTORE_WORKFLOW_LEASE_MS = "4000";
      let w: FlowstoreWorld;
      try {
        w = createWorld({
          store,
          pollIntervalMs: 50,
          autoStart: false,
          deliver: () => finished.then(() => new Response(null)),
        });
      } finally {
        delete process.env.FLOWSTORE_WORKFLOW_LEASE_MS;
      }
      await w.queue("__wkf_workflow_wf", { runId: newRunId(), input: bytes(0) } as never);
      await w.start();
      let leased: { leaseExpiresAt: Date | null; updatedAt: Date } | undefined;
      await until(async () => {
        leased = (await store.jobs.list({ queue: "workflow" })).find((job) => job.status === "running");
        return leased !== undefined;
      });
      const heldFor = (leased?.leaseExpiresAt?.getTime() ?? 0) - Date.now();
      expect(heldFor).toBeGreaterThan(0);
      expect(heldFor).toBeLessThanOrEqual(4000);
      finish();
      await w.close();
    });

    it("prunes a finished run with its history, steps, hooks, streams and messages", async () => {
      const { w, store } = await world();
      const runId = newRunId();
      await w.events.create(runId, created());
      await w.events.create(runId, {
        eventType: "step_created",
        correlationId: "s",
        eventData: { stepName: "n", input: bytes() },
      });
      await w.events.create(runId, {
        eventType: "hook_created",
        correlationId: "h",
        eventData: { token: "t" },
      });
      await w.streams.write(runId, "out", "x");
      // Messages still queued for the run, to its workflow and to a step, go with it.
      await w.queue("__wkf_workflow_wf", { runId } as never, { delaySeconds: 3600 });
      await w.queue(
        "__wkf_step_n",
        { workflowName: "wf", workflowRunId: runId, workflowStartedAt: Date.now(), stepId: "s" } as never,
        { delaySeconds: 3600 },
      );
      await w.events.create(runId, { eventType: "run_completed", eventData: { output: bytes() } });
      const pruned = await store.prune({ finishedBefore: new Date(Date.now() + 60_000) });
      expect(pruned).toMatchObject({ executions: 1 });
      await expect(w.runs.get(runId)).rejects.toMatchObject({ name: "WorkflowRunNotFoundError" });
      expect((await w.events.list({ runId })).data).toEqual([]);
      expect((await w.steps.list({ runId })).data).toEqual([]);
      expect(await w.streams.list(runId)).toEqual([]);
      for (const table of ["events", "tasks", "signals", "stream_chunks", "jobs"]) {
        const { rows } = await store.query<{ n: number }>(
          `select count(*)::int as n from ${store.schema}.${table}`,
        );
        expect(rows[0]?.n).toBe(0);
      }
    });
  });
});
