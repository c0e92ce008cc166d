/**
 * Real workflow 4.x runs (@workflow/core 4.8.9) on flowstore's World in spec-3 mode, in a process of
 * their own (the 4.x and 5.0 cores share global caches, so never in this one), set up as an
 * application is: the runtime's two Worlds as `WORKFLOW_TARGET_WORLD=flowstore/workflow` makes them,
 * the handlers served over HTTP, nothing calling world.start(). Steps, a retry and a fatal error, a sleep across a restart of the
 * process, a hook resumed from a second process, a stream read while written, a child run started from
 * a step, a cancellation, and the lists `workflow inspect` asks for.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtureScript } from "../../support/fixture-process.js";
import { forEachDriver, uniqueSchema } from "../../support/harness.js";
import { NODE_FLAGS } from "../../support/node-flags.js";
import { until } from "../../support/waiting.js";

const FIXTURE = fixtureScript("workflow-world-v4.ts");
const TIMEOUT = 60_000;

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { name: string; message: string };
}

/** A workflow 4.x process, driven by commands. */
class V4Process {
  readonly child: ChildProcess;
  readonly port: Promise<number>;
  private next = 0;
  private readonly waiting = new Map<number, (reply: Reply) => void>();

  constructor(env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [...NODE_FLAGS, FIXTURE, "serve"], {
      env,
      stdio: ["pipe", "pipe", "inherit"],
    });
    let ready: (port: number) => void = () => {};
    this.port = new Promise((resolve, reject) => {
      ready = resolve;
      this.child.once("exit", (code) => reject(new Error(`the 4.x process exited with ${code}`)));
    });
    this.port.catch(() => {});
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (!line.startsWith("{")) return;
      const message = JSON.parse(line) as Reply & { ready?: boolean; port?: number };
      if (message.ready) ready(message.port as number);
      else this.waiting.get(message.id)?.(message);
    });
  }

  async send(cmd: string, fields: Record<string, unknown> = {}): Promise<Reply> {
    await this.port;
    const id = ++this.next;
    const reply = new Promise<Reply>((resolve) => this.waiting.set(id, resolve));
    this.child.stdin?.write(`${JSON.stringify({ id, cmd, ...fields })}\n`);
    return reply;
  }

  /** A command's value; throws its error. */
  async value<T = unknown>(cmd: string, fields: Record<string, unknown> = {}): Promise<T> {
    const reply = await this.send(cmd, fields);
    if (!reply.ok) throw new Error(`${cmd}: ${reply.error?.name}: ${reply.error?.message}`);
    return reply.value as T;
  }

  /** A World call's value, as the runtime's World answers it. */
  world<T = unknown>(call: string, ...args: unknown[]): Promise<T> {
    return this.value<T>("world", { call, args });
  }

  async eventTypes(runId: string): Promise<string[]> {
    const page = await this.world<{ data: { eventType: string }[] }>("events.list", {
      runId,
      pagination: { limit: 1000 },
    });
    return page.data.map((event) => event.eventType);
  }

  /** Whether it has exited (by a signal, too). */
  get gone(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  exited(): Promise<unknown> {
    return this.gone ? Promise.resolve() : new Promise((resolve) => this.child.once("exit", resolve));
  }
}

forEachDriver((driver) => {
  describe("workflow 4.x on the World (spec 3)", () => {
    let env: NodeJS.ProcessEnv;
    let v4: V4Process;
    let dataDir: string | undefined;
    const all: V4Process[] = [];

    function startProcess(): V4Process {
      const started = new V4Process(env);
      all.push(started);
      return started;
    }

    beforeAll(async () => {
      let store: Record<string, unknown>;
      if (driver.name === "postgres") {
        store = { connection: await driver.connection(), schema: uniqueSchema("wf4") };
      } else {
        dataDir = mkdtempSync(path.join(tmpdir(), "flowstore-wf4-"));
        store = { dataDir };
      }
      const { DATABASE_URL: _, PORT: __, ...rest } = process.env;
      env = { ...rest, FLOWSTORE_V4_STORE: JSON.stringify(store) };
      v4 = startProcess();
      await v4.port;
    }, 120_000);

    afterAll(async () => {
      for (const p of all) if (!p.gone) p.child.kill("SIGKILL");
      await Promise.all(all.map((p) => p.exited()));
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it("runs steps, on two Worlds sharing one store, each entity recorded with spec 3", {
      timeout: TIMEOUT,
    }, async () => {
      expect(await v4.value("worlds")).toEqual({ two: true, sameStore: true, specVersion: 3 });
      const runId = await v4.value<string>("start", { workflow: "threeSteps", args: [10] });
      expect(await v4.value("result", { runId })).toEqual({ status: "completed", value: 16 });
      const run = await v4.world<{ specVersion: number }>("runs.get", runId);
      expect(run.specVersion).toBe(3);
      const steps = await v4.world<{ data: Record<string, unknown>[] }>("steps.list", { runId });
      expect(steps.data.map((s) => [s.stepName, s.status, s.attempt, s.specVersion])).toEqual(
        Array(3).fill(["step//v4//add", "completed", 1, 3]),
      );
      const events = await v4.world<{ data: { eventType: string; specVersion: number }[] }>("events.list", {
        runId,
      });
      expect(events.data.map((e) => e.eventType)).toEqual([
        "run_created",
        "run_started",
        ...Array(3).fill(["step_created", "step_started", "step_completed"]).flat(),
        "run_completed",
      ]);
      expect(new Set(events.data.map((e) => e.specVersion))).toEqual(new Set([3]));
    });

    it("retries a step, and fails a run whose step fails for good, with 4.x's error shapes", {
      timeout: TIMEOUT,
    }, async () => {
      const retried = await v4.value<string>("start", { workflow: "retrying", args: [21] });
      expect(await v4.value("result", { runId: retried })).toEqual({ status: "completed", value: 42 });
      const [step] = (await v4.world<{ data: Record<string, unknown>[] }>("steps.list", { runId: retried }))
        .data;
      expect(step).toMatchObject({ status: "completed", attempt: 2 });
      expect(await v4.eventTypes(retried)).toContain("step_retrying");

      const failing = await v4.value<string>("start", { workflow: "failing", args: [] });
      expect(await v4.value("result", { runId: failing })).toEqual({ status: "failed" });
      const run = await v4.world<{ error: Record<string, unknown> }>("runs.get", failing);
      expect(run.error).toMatchObject({ message: expect.stringContaining("no way"), code: "USER_ERROR" });
      expect(typeof run.error.stack).toBe("string");
      const [failed] = (await v4.world<{ data: Record<string, unknown>[] }>("steps.list", { runId: failing }))
        .data;
      expect(failed).toMatchObject({ status: "failed", error: { message: "no way" } });
      expect(typeof (failed?.error as { stack?: unknown } | undefined)?.stack).toBe("string");
    });

    it("resumes a hook from a second process", { timeout: TIMEOUT }, async () => {
      const token = `v4-${driver.name}-${Date.now()}`;
      const runId = await v4.value<string>("start", { workflow: "hooked", args: [token] });
      await until(
        async () => (await v4.send("world", { call: "hooks.getByToken", args: [token] })).ok,
        30_000,
      );
      const hook = await v4.world<{ runId: string; specVersion: number }>("hooks.getByToken", token);
      expect(hook).toMatchObject({ runId, specVersion: 3 });
      const resumer = spawn(
        process.execPath,
        [...NODE_FLAGS, FIXTURE, "resume", token, JSON.stringify({ value: "approved" })],
        { env, stdio: ["ignore", "pipe", "inherit"] },
      );
      let out = "";
      resumer.stdout?.on("data", (chunk) => {
        out += chunk;
      });
      const code = await new Promise((resolve) => resumer.once("exit", resolve));
      expect([code, out.trim()]).toEqual([0, "resumed"]);
      expect(await v4.value("result", { runId })).toEqual({ status: "completed", value: "approved" });
    });

    it("streams a step's output to a reader while the step writes, by the stream's name alone", {
      timeout: TIMEOUT,
    }, async () => {
      const runId = await v4.value<string>("start", {
        workflow: "speaker",
        args: [["hello", "streaming", "world"], 300],
      });
      const read = await v4.value<{ first: string; statusAtFirst: string; rest: string[] }>("readable", {
        runId,
      });
      expect(read.first).toBe("hello");
      expect(read.statusAtFirst).not.toBe("completed");
      expect(read.rest).toEqual(["streaming", "world"]);
      expect(await v4.value("result", { runId })).toEqual({ status: "completed", value: 3 });
      // As `workflow inspect streams` reads them: listed by the run, read by name with no run id.
      const names = await v4.world<string[]>("listStreamsByRunId", runId);
      const name = `${runId.replace("wrun_", "strm_")}_user`;
      expect(names).toEqual([name]);
      expect(await v4.value<unknown[]>("readStream", { name })).toHaveLength(3);
      expect(await v4.world("getStreamInfo", name, runId)).toEqual({ tailIndex: 2, done: true });
      const page = await v4.world<{ data: unknown[]; done: boolean }>("getStreamChunks", name, runId, {
        limit: 2,
      });
      expect([page.data.length, page.done]).toEqual([2, false]);
    });

    it("starts a child run from a step, and cancels a sleeping run", { timeout: TIMEOUT }, async () => {
      const parent = await v4.value<string>("start", { workflow: "parent", args: [5] });
      const result = await v4.value<{ status: string; value: string }>("result", { runId: parent });
      expect(result.status).toBe("completed");
      expect(await v4.value("result", { runId: result.value })).toEqual({ status: "completed", value: 105 });

      const sleeping = await v4.value<string>("start", { workflow: "sleeper", args: [3_600_000] });
      await until(async () => (await v4.eventTypes(sleeping)).includes("wait_created"), 30_000);
      await v4.value("cancel", { runId: sleeping });
      expect(await v4.value("result", { runId: sleeping })).toEqual({ status: "cancelled" });
      expect(await v4.eventTypes(sleeping)).toContain("run_cancelled");
    });

    it("lists runs, steps, events and hooks as `workflow inspect` asks for them", {
      timeout: TIMEOUT,
    }, async () => {
      const runId = await v4.value<string>("start", { workflow: "threeSteps", args: [1] });
      expect(await v4.value("result", { runId })).toEqual({ status: "completed", value: 7 });
      // The CLI's --cursor defaults to an empty string: no cursor.
      const runs = await v4.world<{ data: { runId: string; input?: unknown }[]; hasMore: boolean }>(
        "runs.list",
        {
          pagination: { sortOrder: "desc", cursor: "", limit: 100 },
          resolveData: "none",
        },
      );
      expect(runs.data.map((r) => r.runId)).toContain(runId);
      expect(runs.data.every((r) => r.input === undefined)).toBe(true);
      const steps = await v4.world<{ data: { stepId: string }[] }>("steps.list", {
        runId,
        pagination: { sortOrder: "desc", cursor: "", limit: 20 },
      });
      expect(steps.data.length).toBe(3);
      const stepId = steps.data[0]?.stepId as string;
      expect(await v4.world("steps.get", runId, stepId, { resolveData: "all" })).toMatchObject({ stepId });
      // `workflow inspect step <id>` without --run passes no run id: a clean not-found.
      const lone = await v4.send("world", { call: "steps.get", args: [undefined, stepId] });
      expect(lone.error?.name).toBe("WorkflowWorldError");
      const events = await v4.world<{ data: unknown[] }>("events.list", {
        runId,
        pagination: { cursor: "" },
      });
      expect(events.data.length).toBe(12);
      const hooks = await v4.world<{ data: unknown[] }>("hooks.list", { pagination: { cursor: "" } });
      expect(Array.isArray(hooks.data)).toBe(true);
    });

    it("delivers a sleeping run's wake-up after the process restarts, with no start() call", {
      timeout: 90_000,
    }, async () => {
      const runId = await v4.value<string>("start", { workflow: "sleeper", args: [2_000] });
      await until(async () => (await v4.eventTypes(runId)).includes("wait_created"), 30_000);
      // On the server the process dies; the embedded store's holder exits cleanly (its data directory
      // stays whole), either way with the run asleep and its wake-up a queued message.
      if (driver.name === "postgres") v4.child.kill("SIGKILL");
      else await v4.value("exit");
      await v4.exited();
      v4 = startProcess();
      expect(await v4.value("result", { runId })).toEqual({ status: "completed", value: 3 });
      expect(await v4.eventTypes(runId)).toContain("wait_completed");
    });
  });
});
