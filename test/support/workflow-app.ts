/**
 * A Workflow SDK app as its users make one: `npm install workflow flowstore` (workflow at the version
 * given, flowstore as packed), its workflows compiled by the SDK's own `workflow build`, and served by
 * a small Node.js server, WORKFLOW_TARGET_WORLD naming flowstore/workflow and nothing else: the README's
 * steps, on examples/workflow-app/. On each driver: a tour of the line's features (a step, a sleep, a
 * hook resumed by a second process, a stream read while it is written, a child run), a retried step and
 * a failed run, a cancellation, the SDK's own `workflow inspect` reading through the World, and a
 * `kill -9` of the server while a step runs, after which the run completes once, the cut-off step runs
 * again (the SDK's at-least-once rule for steps) and no step is recorded twice. The 4.x line and the
 * 5.0 prerelease line each run it (workflow-app-v4.test.ts, workflow-app-slots.test.ts), the latter
 * in both its modes (spec 7, and spec 6 with the sealed log turned off).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/testing/postgres.js";
import { fileDatabaseUrl, forEachDriver } from "./harness.js";
import { NODE_FLAGS } from "./node-flags.js";
import { packedTarball } from "./packed.js";
import { until } from "./waiting.js";

/** The line's facts the tests check: the spec version its runtime records runs and events under. */
export interface WorkflowLine {
  version: string;
  specVersion: number;
  /** What the app's processes have in their environment besides the test's (a mode of the line). */
  env?: NodeJS.ProcessEnv;
  /** Whether to run the `kill -9` test too (default true): a lease running out (KILLED_LEASE_MS). */
  kill?: boolean;
}

/** The World's lease in the app's servers (FLOWSTORE_WORKFLOW_LEASE_MS): what the kill test waits. */
const KILLED_LEASE_MS = 5_000;

/** The apps installed by this file, by version: two modes of one line share one. */
const installed = new Map<string, string>();

/** The app's directory, installed and built at `version` before the file's tests (removed after). */
function installWorkflowApp(version: string): string {
  const made = installed.get(version);
  if (made) return made;
  const app = mkdtempSync(path.join(tmpdir(), "flowstore-wf-app-"));
  installed.set(version, app);
  afterAll(() => rmSync(app, { recursive: true, force: true }));
  beforeAll(() => {
    const inApp = (command: string, args: string[]) =>
      execFileSync(command, args, { cwd: app, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    cpSync(path.resolve("examples/workflow-app"), app, { recursive: true });
    // No "type": "module": the 4.x build's bundles are CommonJS (the 5.0 build's are .mjs).
    writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "wf-app", private: true }));
    inApp("npm", [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      `workflow@${version}`,
      packedTarball(),
    ]);
    inApp("npx", ["workflow", "build"]);
  }, 300_000);
  return app;
}

/** The app's server, on its own port, killed by the test or at the file's end. */
class AppServer {
  readonly child: ChildProcess;
  readonly listening: Promise<void>;
  output = "";

  constructor(
    readonly app: string,
    readonly env: NodeJS.ProcessEnv,
    readonly port: number,
  ) {
    this.child = spawn(process.execPath, [...NODE_FLAGS, "server.mjs"], {
      cwd: this.app,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.listening = new Promise((resolve, reject) => {
      this.child.stdout?.on("data", (chunk) => {
        this.output += chunk;
        if (this.output.includes("listening")) resolve();
      });
      this.child.stderr?.on("data", (chunk) => {
        this.output += chunk;
      });
      this.child.once("exit", (code) =>
        reject(new Error(`the app's server exited with ${code}: ${this.output}`)),
      );
    });
    this.listening.catch(() => {});
  }

  async call<T>(route: string, body?: unknown): Promise<T> {
    await this.listening;
    const response = await fetch(`http://localhost:${this.port}${route}`, {
      method: body === undefined ? "GET" : "POST",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  start(workflow: string, args: unknown[]): Promise<string> {
    return this.call<{ runId: string }>("/start", { workflow, args }).then(({ runId }) => runId);
  }

  /** The run's state once it has finished (or `timeoutMs` passed). */
  async finished(
    runId: string,
    timeoutMs = 30_000,
  ): Promise<{ status: string; value?: unknown; error?: string }> {
    let state = { status: "" } as { status: string; value?: unknown; error?: string };
    await until(async () => {
      state = await this.call(`/runs/${runId}`);
      return ["completed", "failed", "cancelled"].includes(state.status);
    }, timeoutMs);
    return state;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGKILL");
    await exited;
  }
}

/** What `workflow inspect <what> --json` prints for the run, through the World. */
async function inspect<T>(
  app: string,
  env: NodeJS.ProcessEnv,
  what: "steps" | "events" | "runs",
  runId?: string,
): Promise<T[]> {
  const args = ["workflow", "inspect", what, "--json", "--backend", "flowstore/workflow", "--limit", "100"];
  const printed = await inAppAsync(app, "npx", runId ? [...args, "--runId", runId] : args, env);
  const parsed = JSON.parse(printed) as T[] | { data: T[] };
  return Array.isArray(parsed) ? parsed : parsed.data;
}

/**
 * Runs a command of the app's (npm, npx, node) in its directory, without blocking this process
 * meanwhile: a blocked event loop misses the server closing an idle kept-alive connection, which the
 * next request then meets closed. Its output.
 */
async function inAppAsync(
  app: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<string> {
  return (await promisify(execFile)(command, args, { cwd: app, env, encoding: "utf8" })).stdout;
}

/** The app's tests at `line.version`, on each driver. */
export function describeWorkflowApp(line: WorkflowLine): void {
  const app = installWorkflowApp(line.version);
  const inspectApp = <T>(env: NodeJS.ProcessEnv, what: "steps" | "events" | "runs", runId?: string) =>
    inspect<T>(app, env, what, runId);
  forEachDriver((driver) => {
    const mode = Object.entries(line.env ?? {})
      .map(([name, value]) => ` with ${name}=${value}`)
      .join("");
    describe(`a workflow ${line.version} app on flowstore/workflow${mode}`, () => {
      let env: NodeJS.ProcessEnv;
      let server: AppServer;
      const servers: AppServer[] = [];
      const startServer = () => {
        server = new AppServer(app, env, Number(env.PORT));
        servers.push(server);
        return server.listening;
      };

      beforeAll(async () => {
        const { DATABASE_URL: _, ...rest } = process.env;
        env = {
          ...rest,
          ...line.env,
          WORKFLOW_TARGET_WORLD: "flowstore/workflow",
          // A killed server's deliveries are taken up again 5 s on (the kill test), not the default 30.
          FLOWSTORE_WORKFLOW_LEASE_MS: String(KILLED_LEASE_MS),
          PORT: String(await freePort()),
        };
        // On the server, the file's database; embedded, the app's ./.flowstore (the default), made anew.
        if (driver.name === "postgres") env.DATABASE_URL = await fileDatabaseUrl();
        else rmSync(path.join(app, ".flowstore"), { recursive: true, force: true });
        await startServer();
      }, 120_000);

      afterAll(async () => {
        for (const each of servers) await each.kill();
      });

      it("runs a step, a sleep, a hook resumed by a second process, a stream read as written and a child run", {
        timeout: 90_000,
      }, async () => {
        const token = `tour-${driver.name}-${line.specVersion}`;
        const runId = await server.start("tour", [token]);
        // The hook is made after the sleep: resumed by another process of the app once it exists.
        await until(async () => {
          const events = await inspectApp<{ eventType: string }>(env, "events", runId);
          return events.some((event) => event.eventType === "hook_created");
        }, 30_000);
        const resumer = await inAppAsync(
          app,
          "node",
          ["resume.mjs", token, JSON.stringify({ value: "approved" })],
          env,
        );
        expect(resumer.trim()).toBe("resumed");

        // The stream, read while the step writes it (300 ms between words).
        const response = await fetch(`http://localhost:${server.port}/runs/${runId}/stream`);
        const reader = (response.body as ReadableStream<Uint8Array>)
          .pipeThrough(new TextDecoderStream())
          .getReader();
        let text = "";
        let statusAtFirst = "";
        for (let next = await reader.read(); !next.done; next = await reader.read()) {
          if (!text) statusAtFirst = (await server.call<{ status: string }>(`/runs/${runId}`)).status;
          text += next.value;
        }
        expect(
          text
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line)),
        ).toEqual(["hello", "streaming", "world"]);
        expect(statusAtFirst).toBe("running");

        const done = await server.finished(runId);
        expect(done).toMatchObject({
          status: "completed",
          value: { a: 3, payload: { value: "approved" }, words: 3 },
        });
        const childRunId = (done.value as { childRunId: string }).childRunId;
        expect(await server.finished(childRunId)).toEqual({ status: "completed", value: 103 });

        // The run as the SDK's inspector shows it: recorded under the line's spec, each step once.
        const runs = await inspectApp<{ runId: string; specVersion: number; attributes?: unknown }>(
          env,
          "runs",
        );
        const run = runs.find((each) => each.runId === runId);
        expect(run).toMatchObject({ specVersion: line.specVersion });
        if (line.specVersion < 6) expect(run).not.toHaveProperty("attributes");
        const events = (await inspectApp<{ eventType: string }>(env, "events", runId)).map(
          (event) => event.eventType,
        );
        for (const type of [
          "wait_created",
          "wait_completed",
          "hook_created",
          "hook_received",
          "run_completed",
        ]) {
          expect(events.filter((each) => each === type)).toEqual([type]);
        }
        if (line.specVersion >= 6) {
          // Event ids the runtime can read: "evnt_" and the event's position, from 1, zero-padded.
          const ids = (await inspectApp<{ eventId: string }>(env, "events", runId))
            .map((e) => e.eventId)
            .sort();
          expect(ids).toEqual(ids.map((_, i) => `evnt_${String(i + 1).padStart(26, "0")}`));
        }
        const steps = await inspectApp<{ stepName: string; status: string }>(env, "steps", runId);
        expect(steps.map((step) => [step.stepName.split("//").at(-1), step.status]).sort()).toEqual([
          ["add", "completed"],
          ["speak", "completed"],
          ["startChild", "completed"],
        ]);
      });

      it("retries a step that failed once, and fails a run whose step fails for good", {
        timeout: 60_000,
      }, async () => {
        const retried = await server.start("retried", [21]);
        expect(await server.finished(retried)).toEqual({ status: "completed", value: 42 });
        const [step] = await inspectApp<{ attempt: number; status: string }>(env, "steps", retried);
        expect(step).toMatchObject({ status: "completed", attempt: 2 });

        const failing = await server.start("failing", []);
        expect(await server.finished(failing)).toMatchObject({
          status: "failed",
          error: expect.stringContaining("no way"),
        });
      });

      it("cancels a sleeping run", { timeout: 60_000 }, async () => {
        const runId = await server.start("sleeper", [3_600_000]);
        const waiting = async () => {
          const events = await inspectApp<{ eventType: string }>(env, "events", runId);
          return events.some((event) => event.eventType === "wait_created");
        };
        await until(waiting, 30_000);
        await server.call(`/runs/${runId}/cancel`, {});
        expect(await server.finished(runId)).toEqual({ status: "cancelled" });
      });

      it.skipIf(line.kill === false)(
        "completes a run once after the server is killed mid-step; the cut-off step runs again",
        {
          timeout: 120_000,
        },
        async () => {
          const dir = mkdtempSync(path.join(tmpdir(), "flowstore-wf-kill-"));
          const journal = path.join(dir, "journal");
          const release = path.join(dir, "release");
          try {
            const runId = await server.start("interrupted", [journal, release]);
            await until(() => existsSync(journal), 30_000);
            await server.kill();
            writeFileSync(release, "");
            await startServer();
            // The step's message comes back once the killed server's lease on it runs out (5 s).
            expect(await server.finished(runId, 90_000)).toEqual({
              status: "completed",
              value: { slowResult: "done", sum: 42 },
            });
            expect(readFileSync(journal, "utf8")).toBe("start\nstart\nend\n");
            const events = await inspectApp<{ eventType: string; correlationId?: string }>(
              env,
              "events",
              runId,
            );
            const completions = events.filter((event) => event.eventType === "step_completed");
            expect(completions).toHaveLength(2);
            expect(new Set(completions.map((event) => event.correlationId)).size).toBe(2);
            expect(events.filter((event) => event.eventType === "step_created")).toHaveLength(2);
            expect(events.filter((event) => event.eventType === "run_completed")).toHaveLength(1);
            const steps = await inspectApp<{ stepName: string; attempt: number }>(env, "steps", runId);
            // A step's attempt counts its recorded starts. 5.0 runs a step in the workflow's own delivery
            // and may begin its body before its start is recorded: killed in between, the rerun is the
            // first recorded start. The journal above shows the body ran twice either way.
            const slowAttempts = line.specVersion >= 6 ? [1, 2] : [2];
            expect(steps.map((step) => step.stepName.split("//").at(-1)).sort()).toEqual(["add", "slow"]);
            for (const step of steps) {
              const name = step.stepName.split("//").at(-1);
              expect(name === "add" ? [1] : slowAttempts).toContain(step.attempt);
            }
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      );
    });
  });
}
