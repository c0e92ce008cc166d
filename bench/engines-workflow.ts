/**
 * The Workflow SDK part of `npm run bench -- engines`: 200 workflows of three steps each through
 * flowstore's World and through `@workflow/world-postgres`, on one server in one run, each World on a
 * fresh database of its own, with the same delivery concurrency (and each the pool its docs ask for), the same
 * workflow code (the compiler's output form written by hand, so the SDK's sandbox evaluates a few lines
 * per replay instead of a bundle). Both Worlds deliver to the SDK's handler over loopback HTTP, as
 * world-postgres can only do. Prints runs/s for each, each round's ratio with the median and the worst (goal >= 2), and the statements per
 * run pg_stat_statements counted in each side's database, by what they are for.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { serve } from "@hono/node-server";
import { workflowEntrypoint } from "@workflow/core/runtime";
import type { World } from "@workflow/world";
import { createWorld as postgresWorld } from "@workflow/world-postgres";
import pg from "pg";
import { start } from "workflow/api";
import { setWorld } from "workflow/runtime";
import { createWorld as flowstoreWorld } from "../src/adapters/workflow/index.js";
import { openStore } from "../src/index.js";
import {
  type BenchContext,
  benchRounds,
  log,
  median,
  POLL_MARK,
  type StatementCounts,
  startCpuCount,
  statementCounter,
  table,
} from "./lib.js";

const POOL = Number(process.env.BENCH_WORLD_POOL ?? 20);
const CONCURRENCY = Number(process.env.BENCH_WORLD_CONCURRENCY ?? 50);
/**
 * world-postgres's queue is graphile-worker, which warns that a pool smaller than its concurrency "may
 * lead to non-optimal performance": it gets one connection per delivery slot, as its docs ask.
 */
const PEER_POOL = Math.max(POOL, CONCURRENCY);
const STEPS = 3;

const registry = globalThis as unknown as Record<symbol, Map<string, (...args: never[]) => unknown>>;
const stepsKey = Symbol.for("@workflow/core//registeredSteps");
registry[stepsKey] ??= new Map();
registry[stepsKey].set("step//bench//add", async (a: number, b: number) => a + b);
const WORKFLOW_CODE = `globalThis.__private_workflows = new Map();
const add = globalThis[Symbol.for("WORKFLOW_USE_STEP")]("step//bench//add");
async function threeSteps(x) { const a = await add(x, 1); const b = await add(a, 2); return await add(b, 3); }
globalThis.__private_workflows.set("workflow//bench//threeSteps", threeSteps);`;

interface Side {
  name: string;
  /** Makes the side's World on a fresh database (its migrations included). */
  open(url: string): Promise<World>;
  /** SQL counting the side's completed runs. */
  completed: string;
  /** What a statement is for: the queue, or the storage (transaction control counted apart). */
  kind(query: string): "queue" | "storage" | "transaction";
}

const transaction = (query: string) =>
  /^\s*(begin|commit|rollback|savepoint|release|set |listen|unlisten|show )/i.test(query);

const flowstore: Side = {
  name: "flowstore",
  async open(url) {
    const store = await openStore({ connection: url, pool: { max: POOL } });
    return flowstoreWorld({ store, closeStore: true, concurrency: CONCURRENCY });
  },
  completed: `select count(*)::int as n from flowstore.executions where status = 'completed'`,
  kind: (query) =>
    transaction(query)
      ? "transaction"
      : /\.(jobs|job_starts|jobs_history)\b/.test(query)
        ? "queue"
        : "storage",
};

const worldPostgres: Side = {
  name: "world-postgres",
  async open(url) {
    // Its migrations and graphile-worker's schema, by its own setup script (which exits the process).
    const main = createRequire(import.meta.url).resolve("@workflow/world-postgres");
    const setup = path.join(path.dirname(main), "..", "bin", "setup.js");
    await promisify(execFile)(process.execPath, [setup], { env: { ...process.env, DATABASE_URL: url } });
    return postgresWorld({ connectionString: url, maxPoolSize: PEER_POOL, queueConcurrency: CONCURRENCY });
  },
  completed: `select count(*)::int as n from workflow.workflow_runs where status = 'completed'`,
  kind: (query) => (transaction(query) ? "transaction" : /graphile_worker/.test(query) ? "queue" : "storage"),
};

interface Round {
  seconds: number;
  counts: StatementCounts;
  /** CPU time of this process (the SDK's runtime, its handlers and the World) and of the server. */
  nodeCpuMs: number;
  serverCpuMs: number;
}

/** The flow handler the HTTP server calls: each side gets its own (the SDK caches one World's parser in it). */
let handler: (request: Request) => Promise<Response> = async () => new Response("no side", { status: 503 });

async function runSide(
  side: Side,
  url: string,
  runs: number,
  warmup: number,
  context: BenchContext,
): Promise<Round> {
  const world = await side.open(url);
  const counter = await statementCounter(context);
  const poll = new pg.Client({ connectionString: url });
  await poll.connect();
  handler = workflowEntrypoint(WORKFLOW_CODE);
  setWorld(world);
  const completed = async () =>
    (await poll.query<{ n: number }>(`${POLL_MARK} ${side.completed}`)).rows[0]?.n ?? 0;
  const batch = async (from: number, count: number) => {
    const target = (await completed()) + count;
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        start({ workflowId: "workflow//bench//threeSteps" } as never, [from + i]),
      ),
    );
    while ((await completed()) < target) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  try {
    await world.start?.();
    await batch(0, warmup);
    await counter.reset(url);
    const started = performance.now();
    const cpuUsed = await startCpuCount(context);
    await batch(warmup, runs);
    const seconds = (performance.now() - started) / 1000;
    const cpu = await cpuUsed();
    return { seconds, counts: await counter.read(url), nodeCpuMs: cpu.clientMs, serverCpuMs: cpu.serverMs };
  } finally {
    await world.close?.();
    await poll.end();
    await counter.close();
  }
}

/** CPU time of this process and of the server over the round, in milliseconds (per run in the ratio). */
const cpuPerRun = (round: Round) => round.nodeCpuMs + round.serverCpuMs;

function byKind(side: Side, counts: StatementCounts, runs: number) {
  const sums = { storage: 0, queue: 0, transaction: 0 };
  for (const s of counts.statements) sums[side.kind(s.query)] += s.calls;
  return {
    storage: sums.storage / runs,
    queue: sums.queue / runs,
    "BEGIN/COMMIT etc.": sums.transaction / runs,
    total: counts.total / runs,
  };
}

export async function runWorkflowEngines(context: BenchContext): Promise<void> {
  const runs = Math.max(10, Math.round(200 * context.scale));
  // A quarter as many warm-up runs: the SDK's code is shared by both sides, and the side that ran first
  // on a cold process paid for compiling it; with a tenth, the first round's ratio leaned by its order.
  const warmup = Math.max(5, Math.round(runs / 4));
  const rounds = benchRounds(1, 3);
  log(`Workflow SDK: ${runs} workflows of ${STEPS} steps started at once (after ${warmup} warm-up ones)`);
  log(
    `  ${CONCURRENCY} deliveries at once for both Worlds, delivered over loopback HTTP; pools: flowstore ${POOL}` +
      ` connections, world-postgres ${PEER_POOL} (graphile-worker asks for one per delivery slot)`,
  );
  log("  statements: all that pg_stat_statements counted in the side's database during the measured runs,");
  log("  background work included, the benchmark's own completion checks left out");
  log(
    "  CPU per run: this process (the SDK's runtime and handlers, the HTTP server, the World) and the server",
  );

  const server = serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => handler(request) });
  await new Promise((resolve) => server.once("listening", resolve));
  const previousPort = process.env.PORT;
  process.env.PORT = String((server.address() as AddressInfo).port);
  const sides = [flowstore, worldPostgres];
  const results = new Map<string, Round[]>(sides.map((side) => [side.name, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const url = await context.freshDatabase();
        const result = await runSide(side, url, runs, warmup, context);
        await context.dropDatabase(url);
        log(`  round ${round + 1}: ${side.name.padEnd(14)} ${(runs / result.seconds).toFixed(1)} runs/s`);
        results.get(side.name)?.push(result);
      }
    }
  } finally {
    if (previousPort === undefined) delete process.env.PORT;
    else process.env.PORT = previousPort;
    await new Promise((resolve) => server.close(resolve));
  }

  // The round of the median time, each side's own; the ratio is each round's, of two sides run one after
  // the other, so that the worst round shows as well as the middle one.
  const middle = (name: string) => {
    const list = [...(results.get(name) as Round[])].sort((a, b) => a.seconds - b.seconds);
    return list[Math.floor((list.length - 1) / 2)] as Round;
  };
  table(
    `Workflow SDK Worlds: ${runs} three-step workflows (the median of ${rounds} rounds; statements per run)`,
    sides.map((side) => {
      const round = middle(side.name);
      return {
        World: side.name,
        "runs/s": runs / round.seconds,
        ...byKind(side, round.counts, runs),
        "Node CPU ms/run": round.nodeCpuMs / runs,
        "server CPU ms/run": round.serverCpuMs / runs,
      };
    }),
  );
  const theirs = results.get(worldPostgres.name) as Round[];
  const ratios = (results.get(flowstore.name) as Round[]).map(
    (round, r) => (theirs[r] as Round).seconds / round.seconds,
  );
  table("flowstore relative to world-postgres (each round's ratio)", [
    {
      figure: "runs/s",
      "median ratio": median(ratios),
      "worst round": Math.min(...ratios),
      rounds: ratios.map((ratio) => ratio.toFixed(2)).join(" "),
      "world-postgres runs/s": runs / middle(worldPostgres.name).seconds,
      goal: ">= 2",
      // CPU per run (this process and the server), each round's: it moves far less than runs/s when other
      // work shares the machine, and runs/s tends to it when the benchmark has the machine to itself.
      "CPU per run ratio": median(
        (results.get(flowstore.name) as Round[]).map(
          (round, r) => cpuPerRun(theirs[r] as Round) / cpuPerRun(round),
        ),
      ),
    },
  ]);
  for (const side of sides) {
    table(
      `${side.name}: statements per run, the most frequent`,
      middle(side.name)
        .counts.statements.slice(0, 8)
        .map((s) => ({
          "per run": s.calls / runs,
          statement: s.query.replace(/\s+/g, " ").slice(0, 110),
        })),
    );
  }
}

/** `npm run bench -- engines-workflow` runs this part alone. */
export const run = runWorkflowEngines;
