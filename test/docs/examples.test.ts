/**
 * Every program in examples/ runs, as a user runs it (`npx tsx examples/<file>.ts`): a process of its
 * own that imports flowstore by name (tsx maps the name to src/ by tsconfig.json's paths), on a store
 * of its own. The quickstart opens the embedded default, as it would on a new machine; the others get
 * a database of their own on the test server, copied from a migrated template, through DATABASE_URL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openStore } from "../../src/index.js";
import { EMBEDDED_TESTED, fileDatabaseUrl, testFile } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { nameTestFile } from "../support/statement-log.js";

const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;
const TSCONFIG = path.resolve("tsconfig.json");
const work = mkdtempSync(path.join(tmpdir(), "flowstore-examples-"));

interface Example {
  file: string;
  /** What its output shows when it worked. */
  prints: RegExp;
  /** Where it keeps its data: a database of its own (default), the embedded default, or none of ours. */
  store?: "server" | "embedded" | "own";
  /** A program that runs until Ctrl-C: stopped with SIGINT once it has printed `prints`. */
  untilStopped?: boolean;
}

const EXAMPLES: Example[] = [
  {
    file: "quickstart.ts",
    prints: /^sending the welcome email to \{ to: 'ada@example.com' \}\n$/,
    store: "embedded",
  },
  { file: "transactions.ts", prints: /order and job committed together[\s\S]*ConflictError \(CONFLICT\)/ },
  { file: "workflow-state.ts", prints: /started run [0-9a-f-]{36}\nchild tasks: 2\n$/ },
  { file: "queue.ts", prints: /email queue: 1 waiting/ },
  { file: "typed-queue.ts", prints: /^welcome u1\ndigest for 2026-11-24\n$/ },
  {
    file: "fair-queues.ts",
    prints:
      /^first claim: 4 of acme, 1 of tiny-co\nacme: 4 running, 996 ready\ntiny-co: 1 running, 0 ready\n$/,
  },
  {
    file: "debounce-throttle.ts",
    prints:
      /^index \{"doc":"readme","text":"Hello"\}, absorbed 2\n1 report job for 5 requests, absorbed 4\n$/,
  },
  {
    file: "job-dependencies.ts",
    prints:
      /^ran: store-upload \| resize, virus-scan \| publish\nship waits for 1 job\nship is dead: job \S+, which it runs after, went dead\n$/,
  },
  {
    file: "strict-order.ts",
    prints: /^first claim: 100, 50\nwhile it waits: 0 claimed\nafter the retry time: 100\nthen: -30\n$/,
  },
  {
    file: "schedules.ts",
    prints:
      /^every-second: report for \S+ as csv\n[\s\S]*next run \S+, paused: false\n\[ 'nightly-report' \]\n3\n$/,
  },
  { file: "steps.ts", prints: /charged ch_3\nrecorded steps: reserveStock, chargeCard\n$/ },
  {
    file: "fork-rewind.ts",
    prints:
      /^fork is not the source; forked at step 2\nfork: pending, version 1; steps \[0 draft, 1 review\]; events \[draft_started, review_started\]\nrewound: pending, version 3; steps \[0 draft\]; events \[draft_started\]\n$/,
  },
  { file: "streams.ts", prints: /last chunk "ld", whole stream "Hello world"/ },
  {
    file: "events-signals.ts",
    prints: /history: 1 run_started, 2 step_started, 3 step_completed\n.*signal: \{"approvedBy":"ann"\}/,
  },
  {
    file: "state-kv-blobs.ts",
    prints: /cart-42 at version 7[\s\S]*latest checkpoint key: ckpt\/0002[\s\S]*%PDF-1.7/,
  },
  {
    file: "retention.ts",
    prints: /pruned 0 execution\(s\) finished over 30 days ago\npruned 1 execution\(s\) finished by now/,
  },
  { file: "testing.ts", prints: /the test store works/, store: "own" },
  { file: "production.ts", prints: /read-only store lists 0 executions/ },
  {
    file: "opentelemetry.ts",
    prints: /POST \/orders \(internal\)\n {2}send emails \(producer\)\n {4}process emails \(consumer\)/,
    store: "own",
  },
  { file: "langgraph.ts", prints: /paused before approve[\s\S]*resumed: Hello ada/ },
  {
    file: "openai-agents.ts",
    prints:
      /^waiting for approval of refund\nYour refund for A-17 is on its way\.\nthe session holds 4 items\n$/,
  },
  {
    // On the embedded store, whose pgvector is the npm package (the test server has none).
    file: "semantic-memory.ts",
    prints: /^1\.00 Loves spicy ramen and dumplings\n0\.01 Flight to Lisbon on Friday, hotel booked\n$/,
    store: "embedded",
  },
  {
    file: "workflow-world.ts",
    prints: /approved\n[\s\S]*result: .*"receipt":"R-A-[\s\S]*history: run_created/,
  },
  { file: "order-engine/main.ts", prints: /order engine on .*; Ctrl-C to stop/, untilStopped: true },
];

let template: string | undefined;
let admin: pg.Client | undefined;

beforeAll(async () => {
  if (!inject("canCreateDatabases")) return; // a server of the user's: every example embedded instead
  const url = await fileDatabaseUrl();
  const store = await openStore({ connection: url });
  await store.close();
  template = new URL(url).pathname.slice(1);
  admin = new pg.Client({ connectionString: url.replace(/\/[^/?]*(\?|$)/, "/postgres$1") });
  await admin.connect();
}, 120_000);

afterAll(async () => {
  // The examples' databases, copies of this file's (its pool's schemas too): dropped, as the harness
  // drops the file's own, rather than held until the run's server stops.
  for (let n = 1; n <= databases; n++) {
    await admin?.query(`drop database if exists "${exampleDatabase(n)}" with (force)`).catch(() => {});
  }
  await admin?.end();
  rmSync(work, { recursive: true, force: true });
});

let databases = 0;
const exampleDatabase = (n: number) => `example_${process.pid}_${n}`;
/** DATABASE_URL for an example: a copy of the migrated template, or none (the embedded store). */
async function databaseFor(example: Example): Promise<string | undefined> {
  if (example.store !== undefined && example.store !== "server") return undefined;
  if (!admin || !template) return undefined;
  const name = exampleDatabase(++databases);
  await admin.query(`create database "${name}" template "${template}"`);
  await admin.query(nameTestFile(name, testFile()));
  const url = new URL(await fileDatabaseUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The example's process, in a directory of its own, on `url` (else the embedded store there). */
function spawnExample(
  file: string,
  url: string | undefined,
  args: string[] = [],
  cwd = mkdtempSync(path.join(work, "run-")),
): ChildProcess & { stdout: Readable; stderr: Readable } {
  const env: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR", "S3_BUCKET"])
    delete env[name];
  if (url) env.DATABASE_URL = url;
  return spawn(process.execPath, [...NODE_FLAGS, "--import", TSX, path.resolve("examples", file), ...args], {
    cwd,
    env,
  });
}

async function run(example: Example): Promise<Run> {
  const child = spawnExample(example.file, await databaseFor(example));
  const output = { stdout: "", stderr: "" };
  let interrupted = false;
  child.stdout.on("data", (chunk: Buffer) => {
    output.stdout += chunk.toString();
    // One Ctrl-C: a second one, after the program's own handler is gone, would kill it outright.
    if (example.untilStopped && !interrupted && example.prints.test(output.stdout)) {
      interrupted = true;
      child.kill("SIGINT");
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const code = await exited(child, 90_000);
  return { code, ...output };
}

// Two at a time: the machine has two cores, and each is a Node process with its own PostgreSQL work.
let free = 2;
const waiting: Array<() => void> = [];
async function twoAtATime<T>(fn: () => Promise<T>): Promise<T> {
  while (free === 0) await new Promise<void>((resolve) => waiting.push(resolve));
  free--;
  try {
    return await fn();
  } finally {
    free++;
    waiting.shift()?.();
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/**
 * Programs run by a test of their own: below, as several processes; Mastra's on its Node.js
 * (test/adapters/mastra); the workflow 4.x app as built by the SDK (workflow-app-v4.test.ts).
 */
const SCENARIOS = [
  "durable-function.ts",
  "mastra.ts",
  "mastra-observational-memory.ts",
  path.join("workflow-app", "workflows", "app.ts"),
];

describe("examples", () => {
  it("lists every program in examples/", () => {
    const programs = readdirSync("examples", { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts") && file !== path.join("order-engine", "index.ts"))
      .sort();
    expect([...EXAMPLES.map((example) => example.file), ...SCENARIOS].sort()).toEqual(programs);
  });

  // The embedded default's examples run where the embedded store is tested (not in the server-only
  // runs of the version matrix).
  const tested = EXAMPLES.filter((example) => EMBEDDED_TESTED || example.store !== "embedded");
  it.concurrent.each(tested.map((example) => [example.file, example] as const))(
    "%s runs and prints what it says",
    { timeout: 180_000 },
    async (_file, example) => {
      const { code, stdout, stderr } = await twoAtATime(() => run(example));
      expect(stderr).toBe("");
      expect(stdout).toMatch(example.prints);
      expect(code).toBe(0);
    },
  );
});

describe("durable-function.ts", () => {
  /** Runs the example with `args` to its end. */
  async function runToEnd(url: string | undefined, cwd: string, args: string[]): Promise<Run> {
    const child = spawnExample("durable-function.ts", url, args, cwd);
    const output = { stdout: "", stderr: "" };
    child.stdout.on("data", (chunk: Buffer) => {
      output.stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output.stderr += chunk.toString();
    });
    return { code: await exited(child, 90_000), ...output };
  }

  it("replays its steps in a process started again, and gets the approval another process sent while none waited", {
    timeout: 300_000,
  }, async () => {
    const url = await databaseFor({ file: "durable-function.ts", prints: /$/ });
    const cwd = mkdtempSync(path.join(work, "run-"));
    // The first process runs the order until it waits for the approval, and is killed there.
    const first = spawnExample("durable-function.ts", url, ["run", "order-7"], cwd);
    let firstOutput = "";
    first.stdout.on("data", (chunk: Buffer) => {
      firstOutput += chunk.toString();
      if (firstOutput.includes("waiting for approval:order-7")) first.kill("SIGKILL");
    });
    let firstErrors = "";
    first.stderr.on("data", (chunk: Buffer) => {
      firstErrors += chunk.toString();
    });
    await exited(first, 90_000);
    expect(firstErrors).toBe("");
    expect(firstOutput).toBe(
      "ran reserveStock\nran chargeCard\nran claim approval:order-7\nwaiting for approval:order-7\n",
    );
    expect(first.signalCode).toBe("SIGKILL");

    // A second process approves while no process runs the order.
    const approve = await twoAtATime(() => runToEnd(url, cwd, ["approve", "order-7"]));
    expect(approve).toEqual({ code: 0, stdout: "approved order-7\n", stderr: "" });

    // Started again, the order replays its steps, finds the approval in its history and ships.
    const again = await twoAtATime(() => runToEnd(url, cwd, ["run", "order-7"]));
    expect(again).toEqual({
      code: 0,
      stdout:
        "replayed reserveStock\nreplayed chargeCard\nreplayed claim approval:order-7\nran ship\n" +
        'order order-7 shipped: {"by":"ann","parcel":"p_ch_3"}\n',
      stderr: "",
    });
  });
});
