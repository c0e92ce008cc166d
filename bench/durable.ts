/**
 * npm run bench -- durable
 *
 * Durable workflow steps: workflows of trivial steps run to completion, each step checkpointed (a
 * durable commit) before the next starts, 16 workflows in flight, through flowstore and through DBOS
 * Transact, on one server in one run, each on a fresh database every round. The flowstore side is the
 * smallest engine loop on the public API: executions.start, steps.record per step, executions.complete.
 * For each side: steps/s and workflows/s over the measured workflows (a warm-up excluded), and the SQL
 * statements the server ran per step, counted by pg_stat_statements in that side's database.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { DBOS, type DLogger } from "@dbos-inc/dbos-sdk";
import pg from "pg";
import { openStore } from "../src/index.js";
import {
  type BenchContext,
  benchRounds,
  type CpuUsed,
  durableWorkflow,
  log,
  median,
  type StatementCounter,
  type StatementCounts,
  startCpuCount,
  statementCounter,
  table,
} from "./lib.js";

const CONCURRENCY = 16;
const STEPS = 10;
const DBOS_POOL = 20;

/** One side's figures from one round. */
interface Round extends CpuUsed {
  seconds: number;
  statements: StatementCounts;
}

interface Side {
  name: string;
  /** Runs `warmup` workflows, then `workflows` measured ones; counts statements over the measured ones. */
  run(url: string, workflows: number, warmup: number, meter: Meter): Promise<Round>;
  /** Counts the side's finished workflows and recorded steps in its database, after a run. */
  done: string;
}

/** What each step does: nothing but return a small JSON value. */
const trivialStep = async (workflow: number, step: number) => ({ workflow, step, ok: true });

/** Runs `workflow(i)` for i in [from, from + count) with CONCURRENCY in flight. */
async function inFlight(from: number, count: number, workflow: (i: number) => Promise<unknown>) {
  let next = from;
  const end = from + count;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < end) await workflow(next++);
    }),
  );
}

/** What a round counts over its measured workflows: statements, and CPU time on both sides. */
interface Meter {
  counter: StatementCounter;
  context: BenchContext;
}

/** Warm-up, then the measured workflows with statements and CPU time counted from their start to their end. */
async function measure(
  url: string,
  workflows: number,
  warmup: number,
  { counter, context }: Meter,
  workflow: (i: number) => Promise<unknown>,
): Promise<Round> {
  await inFlight(0, warmup, workflow);
  await counter.reset(url);
  const cpuUsed = await startCpuCount(context);
  const started = performance.now();
  await inFlight(warmup, workflows, workflow);
  const seconds = (performance.now() - started) / 1000;
  return { seconds, statements: await counter.read(url), ...(await cpuUsed()) };
}

const flowstore: Side = {
  name: "flowstore",
  done: `select (select count(*) from flowstore.executions where status = 'completed')::int as workflows,
                (select count(*) from flowstore.steps)::int as steps`,
  async run(url, workflows, warmup, meter) {
    const store = await openStore({ connection: url, pool: { max: CONCURRENCY } });
    try {
      return await measure(url, workflows, warmup, meter, (i) =>
        durableWorkflow(store, i, STEPS, trivialStep),
      );
    } finally {
      await store.close();
    }
  },
};

const quiet: DLogger = { info() {}, debug() {}, warn() {}, error() {} };

/** DBOS is one singleton per process: the workflow is registered once, before the first launch. */
let dbosWorkflow: ((i: number) => Promise<unknown>) | undefined;

const dbos: Side = {
  name: "DBOS",
  done: `select (select count(*) from dbos.workflow_status where status = 'SUCCESS')::int as workflows,
                (select count(*) from dbos.operation_outputs)::int as steps`,
  async run(url, workflows, warmup, meter) {
    dbosWorkflow ??= DBOS.registerWorkflow(
      async (i: number) => {
        let last: unknown;
        for (let number = 0; number < STEPS; number++) {
          last = await DBOS.runStep(() => trivialStep(i, number), { name: `step${number}` });
        }
        return { i, last };
      },
      { name: "bench" },
    );
    const workflow = dbosWorkflow;
    DBOS.setConfig({
      name: "bench",
      applicationVersion: "bench",
      systemDatabaseUrl: url,
      systemDatabasePoolSize: DBOS_POOL,
      logger: quiet,
    });
    await DBOS.launch();
    try {
      return await measure(url, workflows, warmup, meter, (i) => workflow(i));
    } finally {
      await DBOS.shutdown();
    }
  },
};

export async function run(context: BenchContext): Promise<void> {
  const workflows = Math.max(CONCURRENCY, Math.round(500 * context.scale));
  const warmup = Math.max(CONCURRENCY, Math.round(workflows / 10));
  const rounds = benchRounds(2);
  log(
    `${workflows} workflows of ${STEPS} trivial steps per side and round (${workflows * STEPS} steps), ` +
      `${CONCURRENCY} in flight, after ${warmup} warm-up workflows; durable commits on both sides`,
  );
  log(
    `${rounds} rounds (BENCH_ROUNDS, at least 2), each side on a fresh database every round (dropped after), ` +
      "the order alternating; figures are the median round",
  );
  log("configurations:");
  log(
    `  flowstore: openStore({ pool: { max: ${CONCURRENCY} } }); per workflow executions.start({ name, status: "running" }) (no definition),`,
  );
  log(
    `             ${STEPS} × steps.record({ executionId, number, name, output }) (one statement, its own commit), executions.complete`,
  );
  log(
    `  DBOS:      @dbos-inc/dbos-sdk ${dbosVersion()}, DBOS.registerWorkflow + DBOS.runStep, called directly (no queue);`,
  );
  log(
    `             setConfig({ systemDatabaseUrl: a fresh database, systemDatabasePoolSize: ${DBOS_POOL}, applicationVersion, a silent logger }),`,
  );
  log(
    "             its other settings at their defaults (no tracing, no OTLP); launched and shut down in this process",
  );
  log(
    "CPU per step: this process's (the side's client: the library, its driver and the workflows) and the server's (every",
  );
  log(
    "  PostgreSQL process), over the measured workflows; executing: the statements' execution time (pg_stat_statements)",
  );
  log("after each run: every workflow finished and every step recorded, counted in the side's tables");
  log(
    "statements: every statement pg_stat_statements counted in the side's database from the end of the warm-up to the",
  );
  log(
    "            end of the run (BEGIN and COMMIT included, background work included), divided by the steps run",
  );

  const sides = [flowstore, dbos];
  const runs = new Map<string, Round[]>(sides.map((side) => [side.name, []]));
  const counter = await statementCounter(context);
  try {
    for (let round = 0; round < rounds; round++) {
      log(`\nround ${round + 1} of ${rounds}`);
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const url = await context.freshDatabase();
        const result = await side.run(url, workflows, warmup, { counter, context });
        await checkDone(url, side, warmup + workflows);
        await context.dropDatabase(url);
        const steps = workflows * STEPS;
        log(
          `  ${side.name.padEnd(10)} ${Math.round(steps / result.seconds).toLocaleString("en-US")} steps/s, ` +
            `${(result.statements.total / steps).toFixed(2)} statements per step`,
        );
        runs.get(side.name)?.push(result);
      }
    }
  } finally {
    await counter.close();
  }

  const steps = workflows * STEPS;
  const summary = sides.map((side) => {
    const list = runs.get(side.name) as Round[];
    const rates = list.map((r) => steps / r.seconds);
    return {
      system: side.name,
      "steps/s": median(rates),
      "workflows/s": median(rates) / STEPS,
      "statements/step": median(list.map((r) => r.statements.total / steps)),
      "client CPU µs/step": median(list.map((r) => (r.clientMs * 1000) / steps)),
      "server CPU µs/step": median(list.map((r) => (r.serverMs * 1000) / steps)),
      "executing µs/step": median(list.map((r) => (r.statements.ms * 1000) / steps)),
      "steps/s range": `${Math.round(Math.min(...rates)).toLocaleString("en-US")}–${Math.round(Math.max(...rates)).toLocaleString("en-US")}`,
    };
  });
  table(`durable steps, ${CONCURRENCY} workflows in flight (median of ${rounds} rounds)`, summary);

  for (const side of sides) {
    const first = (runs.get(side.name) as Round[])[0] as Round;
    table(
      `${side.name}: statements per step by statement (round 1)`,
      first.statements.statements.slice(0, 10).map((s) => ({
        "per step": s.calls / steps,
        "executing µs/step": (s.ms * 1000) / steps,
        statement: oneLine(s.query),
      })),
    );
  }

  const rateOf = (name: string) => summary.find((row) => row.system === name)?.["steps/s"] ?? Number.NaN;
  const statementsOf = (name: string) =>
    summary.find((row) => row.system === name)?.["statements/step"] ?? Number.NaN;
  // Each round runs both sides once: the ratio within each round, besides the medians'.
  const perRound = (runs.get("flowstore") ?? []).map(
    (ours, round) => (runs.get("DBOS")?.[round]?.seconds ?? Number.NaN) / ours.seconds,
  );
  table("flowstore relative to DBOS", [
    {
      figure: "steps/s",
      "DBOS's": rateOf("DBOS"),
      ratio: rateOf("flowstore") / rateOf("DBOS"),
      "worst round": Math.min(...perRound),
      goal: ">= 10",
    },
    {
      figure: "statements/step",
      "DBOS's": statementsOf("DBOS"),
      ratio: statementsOf("flowstore") / statementsOf("DBOS"),
      "worst round": Number.NaN,
      goal: "-",
    },
  ]);
}

/** Fails the run unless every workflow finished with every step recorded, durably, in the side's tables. */
async function checkDone(url: string, side: Side, workflows: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ workflows: number; steps: number }>(side.done);
    const found = rows[0];
    if (found?.workflows !== workflows || found.steps !== workflows * STEPS) {
      throw new Error(
        `${side.name}: expected ${workflows} finished workflows and ${workflows * STEPS} recorded steps, ` +
          `found ${found?.workflows} and ${found?.steps}`,
      );
    }
  } finally {
    await client.end();
  }
}

function oneLine(query: string, width = 100): string {
  const text = query.replace(/\s+/g, " ").trim();
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** The installed SDK's version, from its package.json (which its exports do not name). */
function dbosVersion(): string {
  const entry = createRequire(import.meta.url).resolve("@dbos-inc/dbos-sdk"); // <root>/dist/src/index.js
  const manifest = new URL("../../package.json", pathToFileURL(entry));
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}
