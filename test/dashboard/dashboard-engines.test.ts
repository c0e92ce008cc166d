/**
 * What engines keep through flowstore's adapters is readable on the dashboard: a Workflow SDK run (the
 * World's) is a run with its steps as tasks and its events on the timeline; LangGraph's threads are
 * listed, newest write first, and a thread shows its checkpoints (steps, sources, channels, pending
 * writes); the OpenAI Agents SDK's runs waiting on approvals and its sessions are listed, and a session
 * shows its items. Through the API on both drivers, and in Chromium with screenshots.
 */
import { mkdirSync } from "node:fs";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { run as runAgent, setTracingDisabled } from "@openai/agents";
import { describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../src/adapters/langgraph/index.js";
import { FlowstorePausedRuns, FlowstoreSession } from "../../src/adapters/openai-agents/index.js";
import { executionIdOf } from "../../src/adapters/workflow/ids.js";
import { createWorld } from "../../src/adapters/workflow/index.js";
import type { Store } from "../../src/index.js";
import { opsAgent } from "../fixtures/agents-ops.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../support/harness.js";
import { created, newRunId } from "../support/workflow-world-fixtures.js";
import { launchChromium, runBrowserTests, SCREENSHOTS } from "./browser.js";
import { getJson, serve } from "./served.js";

/** A World run with two steps, one of them done. */
async function worldRun(store: Store): Promise<string> {
  const world = createWorld({ store });
  const runId = newRunId();
  await world.events.create(runId, created("checkout"));
  for (const id of ["step_1", "step_2"]) {
    await world.events.create(runId, {
      eventType: "step_created",
      correlationId: id,
      eventData: { stepName: `charge-${id}`, input: new Uint8Array([1]) },
    });
  }
  await world.events.create(runId, { eventType: "step_started", correlationId: "step_1" });
  await world.events.create(runId, {
    eventType: "step_completed",
    correlationId: "step_1",
    eventData: { result: new Uint8Array([2]) },
  });
  return executionIdOf(runId) as string;
}

const State = Annotation.Root({ count: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }) });

/** Two LangGraph threads of a two-node graph, the second written last. */
async function graphThreads(store: Store): Promise<void> {
  const app = new StateGraph(State)
    .addNode("one", () => ({ count: 1 }))
    .addNode("two", () => ({ count: 1 }))
    .addEdge(START, "one")
    .addEdge("one", "two")
    .addEdge("two", END)
    .compile({ checkpointer: new FlowstoreSaver({ store, scope: "support-bot" }) });
  await app.invoke({ count: 0 }, { configurable: { thread_id: "thread-a" } });
  await app.invoke({ count: 0 }, { configurable: { thread_id: "thread-b" } });
}

setTracingDisabled(true);

/** An Agents SDK conversation of two turns, then a run of it paused on two calls, one decided. */
async function agentState(store: Store): Promise<{ sessionId: string; runId: string }> {
  const sessionId = "customer-42";
  const session = new FlowstoreSession({ store, sessionId });
  const agent = opsAgent();
  await runAgent(agent, "hello", { session });
  const paused = await runAgent(agent, "clean up /tmp/x", { session });
  const runs = new FlowstorePausedRuns({ store });
  const saved = await runs.save(paused, { sessionId });
  await runs.approve(saved.id, "call_mail", { by: "alice" });
  return { sessionId, runId: saved.id };
}

forEachDriver((driver) => {
  describe("engines' runs on the dashboard", () => {
    it("shows a World run: its steps as tasks and its events on the timeline", async () => {
      const store = await driver.open();
      const id = await worldRun(store);
      const { url } = await serve(store);
      const listed = await getJson(url, "/api/executions");
      expect(listed.items.map((e: { id: string }) => e.id)).toContain(id);
      const run = await getJson(url, `/api/executions/${id}`);
      expect(run.execution.name).toBe("checkout");
      expect(run.tasks.map((t: { status: string }) => t.status).sort()).toEqual(["completed", "pending"]);
      const lanes = run.timeline.lanes.map((l: { label: string }) => l.label);
      expect(lanes).toEqual(
        expect.arrayContaining(["run_created (1)", "step_created (2)", "step_completed (1)"]),
      );
    });

    it("lists LangGraph threads, newest first, and a thread's checkpoints", async () => {
      const store = await driver.open();
      const { url } = await serve(store);
      expect((await getJson(url, "/api/threads")).items).toEqual([]);
      await graphThreads(store);
      const threads = await getJson(url, "/api/threads");
      expect(threads.items.map((t: { threadId: string; scope: string }) => [t.scope, t.threadId])).toEqual([
        ["support-bot", "thread-b"],
        ["support-bot", "thread-a"],
      ]);
      expect(threads.items[0].checkpoints).toBeGreaterThanOrEqual(3);
      const thread = await getJson(url, "/api/threads/checkpoints?scope=support-bot&thread=thread-a");
      const checkpoints = thread.checkpoints as { step: number; source: string; channels: string[] }[];
      expect(checkpoints.map((c) => c.step)).toEqual(
        [...checkpoints.map((c) => c.step)].sort((a, b) => b - a),
      );
      expect(checkpoints.at(-1)?.source).toBe("input");
      expect(checkpoints[0]?.channels).toContain("count");
      const refused = await fetch(new URL("/api/threads?after=not-a-cursor", url));
      expect(refused.status).toBe(400);
    });

    it("lists the Agents SDK's runs waiting on approvals and its sessions, and a session's items", async () => {
      const store = await driver.open();
      const { url } = await serve(store);
      expect(await getJson(url, "/api/agents/approvals")).toEqual({ items: [], nextAfter: null });
      expect(await getJson(url, "/api/agents/sessions")).toEqual({ items: [], nextAfter: null });
      const { sessionId, runId } = await agentState(store);
      const waiting = await getJson(url, "/api/agents/approvals");
      expect(waiting.items).toMatchObject([
        {
          id: runId,
          agentName: "Ops",
          sessionId,
          approvals: [
            { callId: "call_del", toolName: "delete_file", arguments: '{"path":"/tmp/x"}', decision: null },
            { callId: "call_mail", toolName: "send_email", decision: "approved", decidedBy: "alice" },
          ],
        },
      ]);
      const sessions = await getJson(url, "/api/agents/sessions");
      // The paused turn's input and calls are in the session too: the SDK wrote them as it paused.
      expect(sessions.items).toMatchObject([{ sessionId, items: 5 }]);
      const one = await getJson(url, `/api/agents/session?session=${sessionId}`);
      expect(one.total).toBe(5);
      expect(one.items.map((i: { kind: string; text: string }) => [i.kind, i.text])).toEqual([
        ["user", "hello"],
        ["assistant", "Noted."],
        ["user", "clean up /tmp/x"],
        ["function_call", 'delete_file({"path":"/tmp/x"})'],
        ["function_call", 'send_email({"to":"a@b.c"})'],
      ]);
      for (const bad of [
        "/api/agents/sessions?after=nope",
        "/api/agents/approvals?after=nope",
        "/api/agents/session",
      ]) {
        expect((await fetch(new URL(bad, url))).status).toBe(400);
      }
    });
  });
});

describe.skipIf(!runBrowserTests)("engines' runs in Chromium", () => {
  it("shows a World run, LangGraph threads and the Agents SDK's approvals and sessions", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const id = await worldRun(store);
    await graphThreads(store);
    await agentState(store);
    const { url } = await serve(store);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on("pageerror", (e: Error) => problems.push(e.message));
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.goto(new URL(`/executions/${id}`, url).toString());
      await page.waitForSelector(".timeline .tl-mark");
      expect(await page.locator("h1").textContent()).toContain("checkout");
      await page.screenshot({ path: `${SCREENSHOTS}/world-run.png`, fullPage: true });
      await page.goto(new URL("/threads", url).toString());
      await page.waitForSelector("main table td a");
      await page.click("text=thread-a");
      await page.waitForSelector("main details");
      expect(await page.locator("h1").textContent()).toContain("thread-a");
      await page.screenshot({ path: `${SCREENSHOTS}/langgraph-thread.png`, fullPage: true });
      await page.goto(new URL("/agents", url).toString());
      await page.waitForSelector("main table td ul li");
      expect(await page.locator("main").textContent()).toContain('delete_file({"path":"/tmp/x"}) · waiting');
      await page.screenshot({ path: `${SCREENSHOTS}/agents-approvals.png`, fullPage: true });
      await page.click("text=customer-42 >> nth=0");
      await page.waitForSelector("main details");
      expect(await page.locator("h1").textContent()).toContain("customer-42");
      await page.screenshot({ path: `${SCREENSHOTS}/agents-session.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
