/**
 * The workflows domain of FlowstoreMastraStorage against the cases of Mastra's storage suite
 * (stores/_test-utils, workflows: lists with filters and pages, runs by id, deletes, snapshots persisted
 * and loaded, step results and state updated one by one and concurrently), and what @mastra/pg does
 * where the suite is silent (a step result before any snapshot, createdAt kept, the status guard).
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import type { WorkflowRunState } from "@mastra/core/workflows";
import { beforeAll, beforeEach, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { ValidationError } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { statementLog } from "../../support/waiting.js";

/** A snapshot as the suite's sample makes one: one step, of the status given. */
function sample(status: string) {
  const runId = `run-${randomUUID()}`;
  const stepId = `step-${randomUUID()}`;
  const at = Date.now();
  const snapshot = {
    result: { success: true },
    value: {},
    context: { [stepId]: { status, payload: {}, startedAt: at, endedAt: at + 15_000 }, input: {} },
    serializedStepGraph: [],
    activePaths: [],
    suspendedPaths: {},
    resumeLabels: {},
    waitingPaths: {},
    runId,
    timestamp: at,
    activeStepsPath: {},
    status,
  } as unknown as WorkflowRunState;
  return { runId, stepId, snapshot };
}

const stepStatus = (snapshot: unknown, stepId: string) =>
  (snapshot as { context: Record<string, { status: string }> }).context[stepId]?.status;

describeMastra("flowstore/mastra workflows", () => {
  forEachDriver((d) => {
    let ws: WorkflowsStorage;
    beforeAll(async () => {
      const storage = new FlowstoreMastraStorage({ id: "test", store: await d.open() });
      await storage.init();
      ws = (await storage.getStore("workflows")) as WorkflowsStorage;
    });

    const persist = (workflowName: string, s: ReturnType<typeof sample>, extra: object = {}) =>
      ws.persistWorkflowSnapshot({ workflowName, runId: s.runId, snapshot: s.snapshot, ...extra });

    describeMastra("listWorkflowRuns", () => {
      beforeEach(() => ws.dangerouslyClearAll());

      it("lists nothing when there is no run", async () => {
        expect(await ws.listWorkflowRuns()).toEqual({ runs: [], total: 0 });
      });

      it("lists every run by default, newest first, each with its snapshot", async () => {
        const a = sample("completed");
        const b = sample("running");
        await persist("default_1", a, { createdAt: new Date(Date.now() - 1000) });
        await persist("default_2", b);
        const { runs, total } = await ws.listWorkflowRuns();
        expect(total).toBe(2);
        expect(runs.map((r) => r.workflowName)).toEqual(["default_2", "default_1"]);
        expect(stepStatus(runs[1]?.snapshot, a.stepId)).toBe("completed");
        expect(stepStatus(runs[0]?.snapshot, b.stepId)).toBe("running");
      });

      it("filters by workflow name, by status and by creation time (both ends included)", async () => {
        const now = new Date();
        const day = 24 * 3600_000;
        const old = sample("completed");
        const yesterday = sample("running");
        const today = sample("success");
        await persist("dates", old, { createdAt: new Date(now.getTime() - 2 * day) });
        await persist("dates", yesterday, { createdAt: new Date(now.getTime() - day) });
        await persist("other", today, { createdAt: now });
        const named = await ws.listWorkflowRuns({ workflowName: "dates" });
        expect(named.total).toBe(2);
        expect(named.runs.every((r) => r.workflowName === "dates")).toBe(true);
        const succeeded = await ws.listWorkflowRuns({ status: "success" });
        expect(succeeded.runs.map((r) => r.runId)).toEqual([today.runId]);
        const recent = await ws.listWorkflowRuns({ fromDate: new Date(now.getTime() - day), toDate: now });
        expect(recent.runs.map((r) => r.runId)).toEqual([today.runId, yesterday.runId]);
      });

      it("pages with a total of every run that matches", async () => {
        for (let i = 0; i < 3; i++) await persist("pages", sample("running"));
        const first = await ws.listWorkflowRuns({ perPage: 2, page: 0 });
        const second = await ws.listWorkflowRuns({ perPage: 2, page: 1 });
        expect([first.runs.length, first.total, second.runs.length, second.total]).toEqual([2, 3, 1, 3]);
        expect(new Set([...first.runs, ...second.runs].map((r) => r.runId)).size).toBe(3);
        await expect(ws.listWorkflowRuns({ perPage: 2, page: -1 })).rejects.toThrow(ValidationError);
      });

      it("filters by resource and by the thread a suspended step or the input names", async () => {
        const shared = [sample("success"), sample("failed")];
        for (const s of shared) await persist("res", s, { resourceId: "resource-shared" });
        await persist("res", sample("waiting"), { resourceId: "resource-other" });
        await persist("res", sample("waiting"));
        const runs = (await ws.listWorkflowRuns({ workflowName: "res", resourceId: "resource-shared" })).runs;
        expect(runs.map((r) => r.resourceId)).toEqual(["resource-shared", "resource-shared"]);
        expect((await ws.listWorkflowRuns({ resourceId: "nobody" })).runs).toEqual([]);

        const thread = (threadId: string) => ({ messageList: { memoryInfo: { threadId, resourceId: "r" } } });
        const suspended = sample("suspended");
        Object.assign((suspended.snapshot as { context: Record<string, unknown> }).context, {
          [suspended.stepId]: { status: "suspended", suspendPayload: { __streamState: thread("thread-a") } },
        });
        const durable = sample("running");
        Object.assign((durable.snapshot as { context: Record<string, unknown> }).context, {
          input: { messageListState: { memoryInfo: { threadId: "thread-a" } } },
        });
        const running = sample("running");
        Object.assign((running.snapshot as { context: Record<string, unknown> }).context, {
          [running.stepId]: { status: "running", suspendPayload: { __streamState: thread("thread-a") } },
        });
        for (const s of [suspended, durable, running]) await persist("threads", s);
        const found = await ws.listWorkflowRuns({ threadId: "thread-a" });
        expect(found.runs.map((r) => r.runId).sort()).toEqual([suspended.runId, durable.runId].sort());
        expect((await ws.listWorkflowRuns({ threadId: "thread-b" })).total).toBe(0);
      });
    });

    it("gets a run by id, with or without its workflow's name, and deletes it", async () => {
      const s = sample("success");
      await persist("by-id", s);
      const found = await ws.getWorkflowRunById({ runId: s.runId, workflowName: "by-id" });
      expect(found?.runId).toBe(s.runId);
      expect(stepStatus(found?.snapshot, s.stepId)).toBe("success");
      expect(found?.createdAt).toBeInstanceOf(Date);
      expect(found?.updatedAt).toBeInstanceOf(Date);
      expect((await ws.getWorkflowRunById({ runId: s.runId }))?.workflowName).toBe("by-id");
      expect(await ws.getWorkflowRunById({ runId: "non-existent-id", workflowName: "by-id" })).toBeNull();
      await ws.deleteWorkflowRunById({ runId: s.runId, workflowName: "by-id" });
      expect(await ws.getWorkflowRunById({ runId: s.runId, workflowName: "by-id" })).toBeNull();
      await ws.deleteWorkflowRunById({ runId: s.runId, workflowName: "by-id" });
    });

    it("persists and loads snapshots as they were given, replacing them whole", async () => {
      const runId = `run-${randomUUID()}`;
      const first = {
        status: "running",
        context: { stepResults: {}, attempts: {}, triggerData: { type: "manual" } },
      };
      await ws.persistWorkflowSnapshot({ workflowName: "snap", runId, snapshot: first as never });
      expect(await ws.loadWorkflowSnapshot({ workflowName: "snap", runId })).toEqual(first);
      const complex = {
        status: "completed",
        value: { currentState: { nested: { deep: [1, 2, 3] } }, when: "2024-01-01T00:00:00.000Z" },
        context: {
          stepResults: { "step-1": { status: "success", result: { data: "test", list: [1, 2, 3] } } },
          attempts: { "step-1": 1 },
          triggerData: { type: "manual", metadata: { schedule: "0 0 * * *", timezone: "UTC" } },
        },
        activePaths: [{ stepPath: ["step-1"], stepId: "step-1", status: "success" }],
        runId,
        timestamp: Date.now(),
      };
      await ws.persistWorkflowSnapshot({ workflowName: "snap", runId, snapshot: complex as never });
      expect(await ws.loadWorkflowSnapshot({ workflowName: "snap", runId })).toEqual(complex);
      const without = { status: "running", value: { current_step: "initial" } };
      await ws.persistWorkflowSnapshot({ workflowName: "snap", runId, snapshot: without as never });
      expect(await ws.loadWorkflowSnapshot({ workflowName: "snap", runId })).toEqual(without);
      expect(
        await ws.loadWorkflowSnapshot({ workflowName: "non-existent", runId: "non-existent" }),
      ).toBeNull();
    });

    it("keeps a run's createdAt and resource when the snapshot is written again without them", async () => {
      const s = sample("running");
      const createdAt = new Date("2024-05-01T00:00:00.000Z");
      await persist("keep", s, { resourceId: "resource-1", createdAt });
      await persist("keep", s, { createdAt: new Date() });
      const run = await ws.getWorkflowRunById({ runId: s.runId, workflowName: "keep" });
      expect(run?.createdAt).toEqual(createdAt);
      expect(run?.resourceId).toBe("resource-1");
      expect(run?.updatedAt.getTime()).toBeGreaterThan(createdAt.getTime());
    });

    it("updates step results one by one, returning the whole context", async () => {
      const runId = `run-${randomUUID()}`;
      await ws.persistWorkflowSnapshot({
        workflowName: "steps",
        runId,
        snapshot: { status: "running", context: {} } as never,
      });
      const result = (data: string) => ({
        status: "success",
        output: { data },
        payload: { data: "test" },
        startedAt: Date.now(),
        endedAt: Date.now(),
      });
      const update = (stepId: string, data: string, requestContext: Record<string, unknown>) =>
        ws.updateWorkflowResults({
          workflowName: "steps",
          runId,
          stepId,
          result: result(data) as never,
          requestContext,
        });
      expect(await update("step-1", "test", { test: "test" })).toEqual({
        "step-1": { ...result("test"), startedAt: expect.any(Number), endedAt: expect.any(Number) },
      });
      await update("step-1", "test!", { test: "test" });
      await update("step-2", "test2", { test2: "test" });
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "steps", runId });
      expect(Object.keys(loaded?.context ?? {}).sort()).toEqual(["step-1", "step-2"]);
      expect(loaded?.context["step-1"]).toMatchObject({ output: { data: "test!" } });
      expect(loaded?.context["step-2"]).toMatchObject({ output: { data: "test2" } });
      expect(loaded?.requestContext).toEqual({ test: "test", test2: "test" });
    });

    it("makes a pending run for a step result that comes before any snapshot, as @mastra/pg does", async () => {
      const runId = `run-${randomUUID()}`;
      const context = await ws.updateWorkflowResults({
        workflowName: "early",
        runId,
        stepId: "s",
        result: { status: "running", payload: {}, startedAt: 1 } as never,
        requestContext: { a: 1 },
      });
      expect(Object.keys(context)).toEqual(["s"]);
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "early", runId });
      expect(loaded?.status).toBe("pending");
      expect(loaded?.requestContext).toEqual({ a: 1 });
    });

    it("keeps every step result written at once to a run not stored yet", async () => {
      const runId = `run-${randomUUID()}`;
      await Promise.all(
        ["a", "b", "c", "d", "e"].map((x) =>
          ws.updateWorkflowResults({
            workflowName: "early-race",
            runId,
            stepId: x,
            result: { status: "success", output: x } as never,
            requestContext: { [x]: true },
          }),
        ),
      );
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "early-race", runId });
      expect(Object.keys(loaded?.context ?? {}).sort()).toEqual(["a", "b", "c", "d", "e"]);
      expect(loaded?.requestContext).toEqual({ a: true, b: true, c: true, d: true, e: true });
      expect((await ws.listWorkflowRuns({ workflowName: "early-race" })).total).toBe(1);
    });

    it("merges a foreach step's results element by element, as Mastra's own merge does", async () => {
      const runId = `run-${randomUUID()}`;
      await ws.persistWorkflowSnapshot({
        workflowName: "each",
        runId,
        snapshot: { status: "running", context: {} } as never,
      });
      const write = (output: unknown[]) =>
        ws.updateWorkflowResults({
          workflowName: "each",
          runId,
          stepId: "each",
          result: { status: "running", output, payload: {}, startedAt: 1 } as never,
          requestContext: {},
        });
      await write([1, null, null]);
      const context = await write([null, 2, 3]);
      expect((context.each as { output: unknown }).output).toEqual([1, 2, 3]);
    });

    it("updates the state one field at a time, keeping the rest and the context", async () => {
      const runId = `run-${randomUUID()}`;
      await ws.persistWorkflowSnapshot({
        workflowName: "state",
        runId,
        snapshot: {
          status: "running",
          context: { initialStep: { status: "success" } },
          activePaths: [],
          timestamp: 1,
        } as never,
      });
      const suspended = await ws.updateWorkflowState({
        workflowName: "state",
        runId,
        opts: { status: "suspended", waitingPaths: { path1: [0, 1] } },
      });
      expect(suspended).toMatchObject({ status: "suspended", waitingPaths: { path1: [0, 1] } });
      expect(suspended?.context).toEqual({ initialStep: { status: "success" } });
      const done = await ws.updateWorkflowState({
        workflowName: "state",
        runId,
        opts: {
          status: "success",
          result: { status: "success", output: { finalData: "completed" } } as never,
        },
      });
      expect(done).toMatchObject({ status: "success", waitingPaths: { path1: [0, 1] } });
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "state", runId });
      expect(loaded).toMatchObject({ status: "success", result: { output: { finalData: "completed" } } });
      expect(loaded?.context).toEqual({ initialStep: { status: "success" } });
      expect(
        await ws.updateWorkflowState({
          workflowName: "none",
          runId: randomUUID(),
          opts: { status: "success" },
        }),
      ).toBeUndefined();
    });

    it("applies a state update only from the status expected, so one of many resumes claims a run", async () => {
      const runId = `run-${randomUUID()}`;
      await ws.persistWorkflowSnapshot({
        workflowName: "claim",
        runId,
        snapshot: { status: "suspended", context: {} } as never,
      });
      const claims = await Promise.all(
        Array.from({ length: 8 }, () =>
          ws.updateWorkflowState({
            workflowName: "claim",
            runId,
            opts: { status: "running", expectedStatus: "suspended" },
          }),
        ),
      );
      expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "claim", runId });
      expect(loaded?.status).toBe("running");
      expect(loaded).not.toHaveProperty("expectedStatus");
      expect(
        await ws.updateWorkflowState({
          workflowName: "claim",
          runId,
          opts: { status: "success", expectedStatus: ["suspended", "waiting"] },
        }),
      ).toBeUndefined();
    });

    it("sends one statement for the same claim of a run asked at once, so the losers never queue on its row", async () => {
      const log = statementLog();
      const store = await d.open({ logStatements: true, logger: log });
      try {
        const storage = new FlowstoreMastraStorage({ id: "claims", store });
        await storage.init();
        const claimed = (await storage.getStore("workflows")) as WorkflowsStorage;
        const runId = `run-${randomUUID()}`;
        // A context entry in the state: the run has no rows to read after a claim.
        await claimed.persistWorkflowSnapshot({
          workflowName: "claim",
          runId,
          snapshot: { status: "suspended", context: { ask: { status: "suspended" } } } as never,
        });
        const claim = (status: "running" | "canceled") =>
          claimed.updateWorkflowState({
            workflowName: "claim",
            runId,
            opts: { status, expectedStatus: "suspended" },
          });
        const before = log.sql.length;
        const claims = await Promise.all(Array.from({ length: 8 }, () => claim("running")));
        expect(claims.filter((c) => c !== undefined)).toEqual([
          expect.objectContaining({ status: "running" }),
        ]);
        expect(log.sql.length - before).toBe(1);
        expect((await claimed.loadWorkflowSnapshot({ workflowName: "claim", runId }))?.status).toBe(
          "running",
        );

        // Claims that change the run differently are each their own statement: one of them wins.
        await claimed.updateWorkflowState({ workflowName: "claim", runId, opts: { status: "suspended" } });
        const sent = log.sql.length;
        const mixed = await Promise.all([claim("running"), claim("canceled"), claim("running")]);
        expect(mixed.filter((c) => c !== undefined)).toHaveLength(1);
        expect(log.sql.length - sent).toBe(2);
        // Asked after the first was answered, a claim is a statement of its own, and finds the run moved.
        expect(await claim("running")).toBeUndefined();
        expect(log.sql.length - sent).toBe(3);
      } finally {
        await store.close();
      }
    });

    it("loses no update when steps of one run and its state are written at once", async () => {
      const runId = `run-${randomUUID()}`;
      await ws.persistWorkflowSnapshot({
        workflowName: "race",
        runId,
        snapshot: { status: "running", context: {} } as never,
      });
      await Promise.all([
        ...["a", "b", "c"].map((x) =>
          ws.updateWorkflowResults({
            workflowName: "race",
            runId,
            stepId: `step-${x}`,
            result: { status: "success", output: { data: `result-${x}` }, payload: { input: x } } as never,
            requestContext: { [`step${x.toUpperCase()}`]: true },
          }),
        ),
        ws.updateWorkflowState({
          workflowName: "race",
          runId,
          opts: { status: "running", waitingPaths: { test: [0] } },
        }),
        ws.updateWorkflowState({
          workflowName: "race",
          runId,
          opts: { status: "running", result: { status: "success", output: { data: "test2" } } as never },
        }),
      ]);
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "race", runId });
      expect(Object.keys(loaded?.context ?? {}).sort()).toEqual(["step-a", "step-b", "step-c"]);
      expect(loaded?.requestContext).toEqual({ stepA: true, stepB: true, stepC: true });
      expect(loaded?.waitingPaths).toEqual({ test: [0] });
      expect(loaded?.result).toMatchObject({ output: { data: "test2" } });
    });

    it("writes only the big entries that changed when a whole snapshot is persisted again, small ones in the run's state", async () => {
      const store = await (async () => {
        const storage = new FlowstoreMastraStorage({ id: "t", store: await d.open() });
        return { storage, flowstore: await storage.flowstore() };
      })();
      const w = (await store.storage.getStore("workflows")) as WorkflowsStorage;
      const runId = `run-${randomUUID()}`;
      const big = "x".repeat(100_000);
      const context: Record<string, unknown> = { input: { big }, one: { status: "success", output: big } };
      const write = () =>
        w.persistWorkflowSnapshot({
          workflowName: "diff",
          runId,
          snapshot: { status: "running", context } as never,
        });
      await write();
      context.two = { status: "running" };
      await write();
      const { rows } = await store.flowstore.query<{ part_id: string; version: string }>(
        `select part_id, version from "${store.flowstore.schema}".mastra_run_parts order by part_id`,
      );
      expect(rows.map((r) => [r.part_id, Number(r.version)])).toEqual([
        ["context/input", 1],
        ["context/one", 1],
      ]);
      const state = await store.flowstore.query<{ two: unknown }>(
        `select state->'context'->'two' as two from "${store.flowstore.schema}".mastra_runs`,
      );
      expect(state.rows[0]?.two).toEqual({ status: "running" });
      expect((await w.loadWorkflowSnapshot({ workflowName: "diff", runId }))?.context).toEqual(context);
      // A big entry made small moves into the state, its row gone; a small one grown big, out of it.
      context.one = { status: "success", output: "small" };
      context.two = { status: "success", output: big };
      await write();
      const moved = await store.flowstore.query<{ part_id: string }>(
        `select part_id from "${store.flowstore.schema}".mastra_run_parts order by part_id`,
      );
      expect(moved.rows.map((r) => r.part_id)).toEqual(["context/input", "context/two"]);
      expect((await w.loadWorkflowSnapshot({ workflowName: "diff", runId }))?.context).toEqual(context);
      delete context.two;
      await write();
      const after = await w.loadWorkflowSnapshot({ workflowName: "diff", runId });
      expect(Object.keys(after?.context ?? {}).sort()).toEqual(["input", "one"]);
    });

    it("goes with flowstore's retention once finished: its context rows and run", async () => {
      const store = await d.open();
      const storage = new FlowstoreMastraStorage({ id: "t", store });
      const w = (await storage.getStore("workflows")) as WorkflowsStorage;
      const done = sample("success");
      // A big entry: a row of its own (small ones are in the run's state).
      (done.snapshot.context as Record<string, unknown>).big = { output: "x".repeat(4096) };
      const waiting = sample("suspended");
      for (const s of [done, waiting]) {
        await w.persistWorkflowSnapshot({ workflowName: "kept", runId: s.runId, snapshot: s.snapshot });
      }
      const pruned = await store.prune({ finishedBefore: new Date(Date.now() + 60_000) });
      expect([pruned.mastraRuns, pruned.executions]).toEqual([1, 0]);
      expect(await w.getWorkflowRunById({ runId: done.runId })).toBeNull();
      expect((await w.listWorkflowRuns()).runs.map((r) => r.runId)).toEqual([waiting.runId]);
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".mastra_run_parts`,
      );
      expect(rows[0]?.n).toBe(0);
      // Narrowed to failed runs, a prune leaves a successful one.
      await w.persistWorkflowSnapshot({ workflowName: "kept", runId: done.runId, snapshot: done.snapshot });
      const failedOnly = await store.prune({
        finishedBefore: new Date(Date.now() + 60_000),
        statuses: ["failed"],
      });
      expect(failedOnly.mastraRuns).toBe(0);
      // Its key is free again: the same run id was stored anew.
      expect((await w.getWorkflowRunById({ runId: done.runId }))?.runId).toBe(done.runId);
    });

    it("makes one run when several writers persist a new run at once", async () => {
      const s = sample("running");
      await Promise.all(Array.from({ length: 6 }, () => persist("first-writes", s)));
      const { runs, total } = await ws.listWorkflowRuns({ workflowName: "first-writes" });
      expect([total, runs[0]?.runId]).toEqual([1, s.runId]);
    });

    it("writes persists of many runs made at once together, each as it would have been alone", async () => {
      const statements: string[] = [];
      const ignore = () => {};
      const logger = {
        debug: (entry: Record<string, unknown>) => void statements.push(String(entry.sql ?? "")),
        info: ignore,
        warn: ignore,
        error: ignore,
      };
      const store = await d.open({ logStatements: true, logger });
      const w = (await new FlowstoreMastraStorage({ id: "t", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      const snapshot = (status: string, context: Record<string, unknown>) => ({ status, context }) as never;
      const old = new Date("2020-01-02T03:04:05.000Z");
      const runs = Array.from({ length: 12 }, (_, i) => ({
        runId: `run-${i}-${randomUUID()}`,
        stored: i % 2 === 0,
      }));
      for (const run of runs.filter((r) => r.stored)) {
        await w.persistWorkflowSnapshot({
          workflowName: "together",
          runId: run.runId,
          snapshot: snapshot("running", { input: { n: 1 }, a: { v: "a" }, b: { v: "b" }, c: { v: "c" } }),
          createdAt: old,
        });
      }
      const next = (i: number) => ({ input: { n: 1 }, a: { v: "a" }, b: { v: `b${i}` }, d: { v: i } });
      const twice = runs[1] as (typeof runs)[number];
      statements.length = 0;
      await Promise.all([
        ...runs.map((run, i) =>
          w.persistWorkflowSnapshot({
            workflowName: "together",
            runId: run.runId,
            snapshot: snapshot(i % 3 === 0 ? "success" : "running", next(i)),
            ...(i % 4 === 0 ? { resourceId: `resource-${i}` } : {}),
            ...(run.stored ? {} : { createdAt: old }),
          }),
        ),
        // The same run again in the same turn: written after the first, never beside it.
        w.persistWorkflowSnapshot({
          workflowName: "together",
          runId: twice.runId,
          snapshot: snapshot("running", { input: { n: 2 } }),
        }),
      ]);
      // Statements for many runs: of small entries only, or with rows.
      expect(
        statements.filter((sql) => sql.includes("unnest($1::text[]), unnest($2::uuid[])")).length,
      ).toBeGreaterThan(0);
      for (const [i, run] of runs.entries()) {
        const got = await w.getWorkflowRunById({ workflowName: "together", runId: run.runId });
        const expected = run === twice ? { input: { n: 2 } } : next(i);
        expect((got?.snapshot as WorkflowRunState | undefined)?.context, run.runId).toEqual(expected);
        expect(got?.createdAt).toEqual(old);
        expect(got?.resourceId).toBe(i % 4 === 0 ? `resource-${i}` : undefined);
      }
      const finished = await w.listWorkflowRuns({ workflowName: "together", status: "success" });
      expect(finished.runs.length).toBe(runs.filter((_, i) => i % 3 === 0 && runs[i] !== twice).length);
    });

    it("loses no other writer's change of a big entry it does not send again", async () => {
      const store = await d.open();
      const domain = async () =>
        (await new FlowstoreMastraStorage({ id: "t", store }).getStore("workflows")) as WorkflowsStorage;
      const [a, b] = [await domain(), await domain()];
      const runId = `run-${randomUUID()}`;
      const big = (fill: string) => ({ document: fill.repeat(100_000) });
      const snapshot = (input: unknown, steps: number) =>
        ({
          status: "running",
          context: {
            input,
            ...Object.fromEntries(Array.from({ length: steps }, (_, i) => [`s${i}`, { i }])),
          },
        }) as never;
      const input = (w: WorkflowsStorage) => w.loadWorkflowSnapshot({ workflowName: "big", runId });
      await a.persistWorkflowSnapshot({ workflowName: "big", runId, snapshot: snapshot(big("a"), 1) });
      await a.persistWorkflowSnapshot({ workflowName: "big", runId, snapshot: snapshot(big("a"), 2) });
      // Another writer changes the entry; this one writes its own value again: it must be sent.
      await b.persistWorkflowSnapshot({ workflowName: "big", runId, snapshot: snapshot(big("b"), 2) });
      await a.persistWorkflowSnapshot({ workflowName: "big", runId, snapshot: snapshot(big("a"), 3) });
      expect((await input(b))?.context.input).toEqual(big("a"));
      // The entry made again by another writer (the run deleted and written anew) is sent too.
      await b.deleteWorkflowRunById({ workflowName: "big", runId });
      await b.persistWorkflowSnapshot({ workflowName: "big", runId, snapshot: snapshot(big("b"), 1) });
      await a.persistWorkflowSnapshot({ workflowName: "big", runId, snapshot: snapshot(big("a"), 4) });
      expect((await input(b))?.context.input).toEqual(big("a"));
      // A step's update through another path changes the row's version: sent again as well.
      await b.updateWorkflowResults({
        workflowName: "big",
        runId,
        stepId: "input",
        result: big("c") as never,
        requestContext: {},
      });
      await a.persistWorkflowSnapshot({ workflowName: "big", runId, snapshot: snapshot(big("a"), 5) });
      const last = await input(a);
      expect([last?.context.input, Object.keys(last?.context ?? {}).length]).toEqual([big("a"), 6]);
    });

    it("refuses what JSON cannot hold and writes nothing", async () => {
      const runId = `run-${randomUUID()}`;
      const bad = [
        { status: "running", context: { s: { n: 10n } } },
        { status: "running", value: "a\u0000b" },
        // What JSON.stringify would drop or change without a word.
        { status: "running", context: { s: { m: new Map([["a", 1]]) } } },
        { status: "running", context: { s: [new Set([1])] } },
        { status: "running", context: { s: { n: Number.NaN } } },
        { status: "running", value: { n: Number.POSITIVE_INFINITY } },
        { status: "running", context: { s: { f: () => 1 } } },
      ];
      for (const snapshot of bad) {
        await expect(
          ws.persistWorkflowSnapshot({ workflowName: "bad", runId, snapshot: snapshot as never }),
        ).rejects.toThrow(ValidationError);
      }
      // A context entry's key too (small entries are kept under their keys in the run's state), named
      // before anything is sent.
      for (const key of ["s\u0000", "\ud800"]) {
        const snapshot = { status: "running", context: { [key]: { n: 1 } } };
        const refused = ws.persistWorkflowSnapshot({
          workflowName: "bad",
          runId,
          snapshot: snapshot as never,
        });
        await expect(refused).rejects.toThrow(ValidationError);
        await expect(refused).rejects.toThrow(/snapshot\.context's key/);
      }
      await expect(
        ws.persistWorkflowSnapshot({ workflowName: "", runId, snapshot: { status: "running" } as never }),
      ).rejects.toThrow(ValidationError);
      expect(await ws.loadWorkflowSnapshot({ workflowName: "bad", runId })).toBeNull();

      // What JSON holds as it says it will: a Date as its text, an object of no prototype as an object.
      const bare = Object.assign(Object.create(null) as object, { a: 1 });
      const held = { status: "running", context: { s: { when: new Date(0), bare } } };
      await ws.persistWorkflowSnapshot({ workflowName: "bad", runId, snapshot: held as never });
      expect(await ws.loadWorkflowSnapshot({ workflowName: "bad", runId })).toEqual(
        JSON.parse(JSON.stringify(held)),
      );
    });
  });
});
