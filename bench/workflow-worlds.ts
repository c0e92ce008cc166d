/**
 * The Workflow SDK's Worlds side by side, whatever the SDK's line (bench/engines-workflow.ts runs the
 * beta in its own process and the 4.x line in a child process per side, bench/engines-workflow-v4.ts):
 * each side on a fresh database, the same workflow code, the same deliveries at once, runs started
 * together and counted once completed, with the statements and CPU they cost. Nothing here imports the
 * SDK: each line's runtime is handed in.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import pg from "pg";
import { createWorld as flowstoreWorld } from "../src/adapters/workflow/index.js";
import { openStore } from "../src/index.js";
import {
  type BenchContext,
  log,
  median,
  POLL_MARK,
  type StatementCounts,
  startCpuCount,
  statementCounter,
  table,
} from "./lib.js";

export const POOL = Number(process.env.BENCH_WORLD_POOL ?? 20);
export const CONCURRENCY = Number(process.env.BENCH_WORLD_CONCURRENCY ?? 50);
/**
 * world-postgres's queue is graphile-worker, which warns that a pool smaller than its concurrency "may
 * lead to non-optimal performance": it gets one connection per delivery slot, as its docs ask.
 */
export const PEER_POOL = Math.max(POOL, CONCURRENCY);
export const STEPS = 3;
export const WORKFLOW_ID = "workflow//bench//threeSteps";

/** The steps, registered by id in this process as the SDK's compiler registers `"use step"` functions. */
export function registerSteps(): void {
  const registry = globalThis as unknown as Record<symbol, Map<string, (...args: never[]) => unknown>>;
  const stepsKey = Symbol.for("@workflow/core//registeredSteps");
  registry[stepsKey] ??= new Map();
  registry[stepsKey].set("step//bench//add", async (a: number, b: number) => a + b);
}

/** The workflow in the compiler's output form, so the SDK's sandbox evaluates a few lines per replay. */
export const WORKFLOW_CODE = `globalThis.__private_workflows = new Map();
const add = globalThis[Symbol.for("WORKFLOW_USE_STEP")]("step//bench//add");
async function threeSteps(x) { const a = await add(x, 1); const b = await add(a, 2); return await add(b, 3); }
globalThis.__private_workflows.set("${WORKFLOW_ID}", threeSteps);`;

/** What a side's World must offer the benchmark, on any line. */
export interface BenchWorld {
  start?(): Promise<void>;
  close?(): Promise<void>;
}

/** What the report needs of a side: its name and what each of its statements is for. */
export interface SideKinds {
  name: string;
  /** What a statement is for: the queue, or the storage (transaction control counted apart). */
  kind(query: string): "queue" | "storage" | "transaction";
}

export interface Side extends SideKinds {
  /** Makes the side's World on a fresh database (its migrations included). */
  open(url: string): Promise<BenchWorld>;
  /** SQL counting the side's completed runs. */
  completed: string;
}

const transaction = (query: string) =>
  /^\s*(begin|commit|rollback|savepoint|release|set |listen|unlisten|show )/i.test(query);

export const FLOWSTORE_KINDS: SideKinds = {
  name: "flowstore",
  kind: (query) =>
    transaction(query)
      ? "transaction"
      : /\.(jobs|job_starts|jobs_history)\b/.test(query)
        ? "queue"
        : "storage",
};

export const WORLD_POSTGRES_KINDS: SideKinds = {
  name: "world-postgres",
  kind: (query) => (transaction(query) ? "transaction" : /graphile_worker/.test(query) ? "queue" : "storage"),
};

/** flowstore's World, serving the World spec `specVersion` (the line's). */
export function flowstoreSide(specVersion: 3 | 5 | 7): Side {
  return {
    ...FLOWSTORE_KINDS,
    async open(url) {
      const store = await openStore({ connection: url, pool: { max: POOL } });
      return flowstoreWorld({ store, closeStore: true, concurrency: CONCURRENCY, specVersion });
    },
    completed: `select count(*)::int as n from flowstore.executions where status = 'completed'`,
  };
}

/**
 * `@workflow/world-postgres` of a line: `packageName` is the name it is installed under (an alias for a
 * second line), `create` its createWorld.
 */
export function worldPostgresSide(
  packageName: string,
  create: (config: {
    connectionString: string;
    maxPoolSize: number;
    queueConcurrency: number;
  }) => BenchWorld | Promise<BenchWorld>,
): Side {
  return {
    ...WORLD_POSTGRES_KINDS,
    async open(url) {
      // Its migrations and graphile-worker's schema, by its own setup script (which exits the process).
      const main = createRequire(import.meta.url).resolve(packageName);
      const setup = path.join(path.dirname(main), "..", "bin", "setup.js");
      await promisify(execFile)(process.execPath, [setup], { env: { ...process.env, DATABASE_URL: url } });
      return create({ connectionString: url, maxPoolSize: PEER_POOL, queueConcurrency: CONCURRENCY });
    },
    completed: `select count(*)::int as n from workflow.workflow_runs where status = 'completed'`,
  };
}

/** A line of the SDK, as the benchmark drives it. */
export interface SdkRuntime {
  /** Makes `world` the runtime's World and serves its deliveries from now on. */
  use(world: BenchWorld): void | Promise<void>;
  start(workflowId: string, args: unknown[]): Promise<unknown>;
}

export interface Round {
  seconds: number;
  counts: StatementCounts;
  /** CPU time of the side's process (the SDK's runtime, its handlers and the World) and of the server. */
  nodeCpuMs: number;
  serverCpuMs: number;
}

/** One round of `side`: `warmup` runs, then `runs` started at once and timed until all completed. */
export async function runSide(
  side: Side,
  runtime: SdkRuntime,
  url: string,
  runs: number,
  warmup: number,
  context: BenchContext,
): Promise<Round> {
  const world = await side.open(url);
  const counter = await statementCounter(context);
  const poll = new pg.Client({ connectionString: url });
  await poll.connect();
  await runtime.use(world);
  const completed = async () =>
    (await poll.query<{ n: number }>(`${POLL_MARK} ${side.completed}`)).rows[0]?.n ?? 0;
  const batch = async (from: number, count: number) => {
    const target = (await completed()) + count;
    await Promise.all(Array.from({ length: count }, (_, i) => runtime.start(WORKFLOW_ID, [from + i])));
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

/**
 * Runs `rounds` rounds of the sides `names` (the order alternating), each side on a fresh database
 * dropped after it, through `runOne`; returns each side's rounds, by name.
 */
export async function runRounds(
  context: BenchContext,
  names: string[],
  rounds: number,
  runs: number,
  runOne: (name: string, url: string) => Promise<Round>,
): Promise<Map<string, Round[]>> {
  const results = new Map<string, Round[]>(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const url = await context.freshDatabase();
      const result = await runOne(name, url);
      await context.dropDatabase(url);
      log(`  round ${round + 1}: ${name.padEnd(14)} ${(runs / result.seconds).toFixed(1)} runs/s`);
      results.get(name)?.push(result);
    }
  }
  return results;
}

/** The runs of a benchmark and its warm-up, from BENCH_SCALE. */
export function runCounts(context: BenchContext): { runs: number; warmup: number } {
  const runs = Math.max(10, Math.round(200 * context.scale));
  // A quarter as many warm-up runs: the SDK's code is shared by both sides, and the side that ran first
  // on a cold process paid for compiling it; with a tenth, the first round's ratio leaned by its order.
  return { runs, warmup: Math.max(5, Math.round(runs / 4)) };
}

/** CPU time of the side's process and of the server over the round, in milliseconds. */
const cpuPerRun = (round: Round) => round.nodeCpuMs + round.serverCpuMs;

function byKind(side: SideKinds, counts: StatementCounts, runs: number) {
  const sums = { storage: 0, queue: 0, transaction: 0 };
  for (const s of counts.statements) sums[side.kind(s.query)] += s.calls;
  return {
    storage: sums.storage / runs,
    queue: sums.queue / runs,
    "BEGIN/COMMIT etc.": sums.transaction / runs,
    total: counts.total / runs,
  };
}

/**
 * Prints each side's median round, the ratio of flowstore's runs/s to the peer's in each round (goal:
 * at least 2), and each side's most frequent statements. `sides` is [flowstore, world-postgres].
 */
export function report(line: string, sides: SideKinds[], results: Map<string, Round[]>, runs: number): void {
  const [ours, peer] = sides as [SideKinds, SideKinds];
  const middle = (name: string) => {
    const list = [...(results.get(name) as Round[])].sort((a, b) => a.seconds - b.seconds);
    return list[Math.floor((list.length - 1) / 2)] as Round;
  };
  const rounds = (results.get(ours.name) as Round[]).length;
  table(
    `Workflow SDK ${line} Worlds: ${runs} three-step workflows (the median of ${rounds} rounds; statements per run)`,
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
  const theirs = results.get(peer.name) as Round[];
  const ratios = (results.get(ours.name) as Round[]).map(
    (round, r) => (theirs[r] as Round).seconds / round.seconds,
  );
  table(`${line}: flowstore relative to world-postgres (each round's ratio)`, [
    {
      figure: "runs/s",
      "median ratio": median(ratios),
      "worst round": Math.min(...ratios),
      rounds: ratios.map((ratio) => ratio.toFixed(2)).join(" "),
      "world-postgres runs/s": runs / middle(peer.name).seconds,
      goal: ">= 2",
      // CPU per run (the process and the server), each round's: it moves far less than runs/s when other
      // work shares the machine, and runs/s tends to it when the benchmark has the machine to itself.
      "CPU per run ratio": median(
        (results.get(ours.name) as Round[]).map(
          (round, r) => cpuPerRun(theirs[r] as Round) / cpuPerRun(round),
        ),
      ),
    },
  ]);
  for (const side of sides) {
    table(
      `${line}, ${side.name}: statements per run, the most frequent`,
      middle(side.name)
        .counts.statements.slice(0, 8)
        .map((s) => ({
          "per run": s.calls / runs,
          statement: s.query.replace(/\s+/g, " ").slice(0, 110),
        })),
    );
  }
}
