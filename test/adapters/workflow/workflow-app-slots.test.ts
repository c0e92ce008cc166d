/**
 * A workflow app on the SDK's newest beta, as its users make one: `npm install workflow flowstore`
 * (workflow at the beta pinned below, flowstore as packed), compiled by the SDK's own `workflow build`
 * (one ESM bundle, flow.mjs, which serves every route), served by a small Node.js server with
 * WORKFLOW_TARGET_WORLD naming flowstore/workflow and nothing else. On each driver a run takes a step,
 * a sleep and two steps at once, and its events are numbered by position, dense from 1, as the slot
 * line's runtime reads them (World spec 7).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../src/testing/postgres.js";
import { fileDatabaseUrl, forEachDriver } from "../../support/harness.js";
import { NODE_FLAGS } from "../../support/node-flags.js";
import { packedTarball } from "../../support/packed.js";
import { until } from "../../support/waiting.js";

/** The newest prerelease of the SDK's 5.0 line, pinned (the registry has no beta tag). */
const WORKFLOW_BETA = "5.0.0-beta.55";

const WORKFLOW = `import { sleep } from "workflow";

async function addOne(n: number) {
  "use step";
  return n + 1;
}

async function double(n: number) {
  "use step";
  return n * 2;
}

export async function demo(n: number) {
  "use workflow";
  const a = await addOne(n);
  await sleep("1s");
  const [b, c] = await Promise.all([double(a), addOne(a)]);
  return b + c;
}
`;

/** The app's server: the build's flow.mjs for the SDK's routes, and /start and /<runId> for the test. */
const SERVER = `import http from "node:http";
const flow = await import("./.well-known/workflow/v1/flow.mjs");
const { start, getRun } = await import("workflow/api");
const manifest = (await import("./.well-known/workflow/v1/manifest.json", { with: { type: "json" } })).default;
const workflowId = Object.values(manifest.workflows).find((w) => w.demo).demo.workflowId;
http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  if (url.pathname.startsWith("/.well-known/workflow/v1/")) {
    const answer = await flow.POST(new Request(url, { method: req.method, headers: req.headers, body: body.length ? body : undefined }));
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  } else if (url.pathname === "/start") {
    const run = await start({ workflowId }, [JSON.parse(body.toString())]);
    res.end(JSON.stringify({ runId: run.runId }));
  } else {
    const run = getRun(url.pathname.slice(1));
    const status = await run.status;
    res.end(JSON.stringify({ status, value: status === "completed" ? await run.returnValue : undefined }));
  }
}).listen(Number(process.env.PORT), () => console.log("listening"));
`;

/** A second process of the app: the run's events as the World lists them. */
const EVENTS = `import { createWorld } from "flowstore/workflow";
const world = createWorld();
const page = await world.events.list({ runId: process.argv[2], pagination: {} });
console.log(JSON.stringify({ spec: world.specVersion, events: page.data.map((e) => [e.eventId, e.eventType, e.specVersion]) }));
process.exit(0);
`;

const app = mkdtempSync(path.join(tmpdir(), "flowstore-wf-beta-app-"));
afterAll(() => rmSync(app, { recursive: true, force: true }));

beforeAll(() => {
  mkdirSync(path.join(app, "workflows"));
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "wf-beta-app", private: true }));
  writeFileSync(path.join(app, "workflows", "demo.ts"), WORKFLOW);
  writeFileSync(path.join(app, "server.mjs"), SERVER);
  writeFileSync(path.join(app, "events.mjs"), EVENTS);
  const inApp = (command: string, args: string[]) =>
    execFileSync(command, args, { cwd: app, stdio: ["ignore", "pipe", "pipe"] });
  inApp("npm", [
    "install",
    "--prefer-offline",
    "--no-audit",
    "--no-fund",
    `workflow@${WORKFLOW_BETA}`,
    packedTarball(),
  ]);
  inApp("npx", ["workflow", "build"]);
}, 300_000);

forEachDriver((driver) => {
  describe(`a workflow ${WORKFLOW_BETA} app on flowstore/workflow`, () => {
    let env: NodeJS.ProcessEnv;
    let server: ChildProcess;
    let output = "";

    beforeAll(async () => {
      const { DATABASE_URL: _, ...rest } = process.env;
      env = { ...rest, WORKFLOW_TARGET_WORLD: "flowstore/workflow", PORT: String(await freePort()) };
      // On the server, the file's database; embedded, the app's ./.flowstore (the default).
      if (driver.name === "postgres") env.DATABASE_URL = await fileDatabaseUrl();
      else rmSync(path.join(app, ".flowstore"), { recursive: true, force: true });
      server = spawn(process.execPath, [...NODE_FLAGS, "server.mjs"], {
        cwd: app,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      server.stdout?.on("data", (chunk) => (output += chunk));
      server.stderr?.on("data", (chunk) => (output += chunk));
      await until(() => output.includes("listening"), 60_000);
    }, 120_000);

    afterAll(() => {
      server.kill("SIGKILL");
    });

    it("runs a step, a sleep and two steps at once, its events numbered by position", {
      timeout: 90_000,
    }, async () => {
      const call = async <T>(route: string, body?: unknown): Promise<T> => {
        const response = await fetch(`http://localhost:${env.PORT}${route}`, {
          method: body === undefined ? "GET" : "POST",
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
        return (await response.json()) as T;
      };
      const { runId } = await call<{ runId: string }>("/start", 20);
      let state = { status: "" } as { status: string; value?: unknown };
      await until(async () => {
        state = await call(`/${runId}`);
        return ["completed", "failed", "cancelled"].includes(state.status);
      }, 60_000).catch(() => {
        throw new Error(`the run is ${state.status}; the server said: ${output}`);
      });
      expect(state).toEqual({ status: "completed", value: (20 + 1) * 2 + (20 + 1 + 1) });

      const printed = (
        await promisify(execFile)(process.execPath, [...NODE_FLAGS, "events.mjs", runId], { cwd: app, env })
      ).stdout;
      const { spec, events } = JSON.parse(printed) as { spec: number; events: [string, string, number][] };
      expect(spec).toBe(7);
      expect(events.map(([id]) => id)).toEqual(
        events.map((_, i) => `evnt_${String(i + 1).padStart(26, "0")}`),
      );
      expect(events.every(([, , version]) => version === 7)).toBe(true);
      const types = events.map(([, type]) => type);
      expect(types[0]).toBe("run_created");
      expect(types.at(-1)).toBe("run_completed");
      expect(types.filter((type) => type === "step_completed")).toHaveLength(3);
      expect(types).toContain("wait_completed");
    });
  });
});
