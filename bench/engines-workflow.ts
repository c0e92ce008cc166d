/**
 * The Workflow SDK part of `npm run bench -- engines`: 200 workflows of three steps each through
 * flowstore's World and through `@workflow/world-postgres`, on one server in one run, each World on a
 * fresh database of its own, with the same delivery concurrency (and each the pool its docs ask for), the same
 * workflow code (the compiler's output form written by hand, so the SDK's sandbox evaluates a few lines
 * per replay instead of a bundle). Both Worlds deliver to the SDK's handler over loopback HTTP, as
 * world-postgres can only do. Prints runs/s for each, each round's ratio with the median and the worst (goal >= 2), and the statements per
 * run pg_stat_statements counted in each side's database, by what they are for.
 *
 * Three lines of the SDK: the pinned 5.0 beta, in this process, against world-postgres's beta; the
 * newest beta (the slot line) on flowstore's World beside that world-postgres, the last that runs
 * (bench/engines-workflow-slots.ts); then the stable 4.x line (@workflow/core 4.8.9, World spec 3) against world-postgres 4.3.7, each side of each
 * round in a process of its own (bench/engines-workflow-v4.ts), as the two lines' runtimes keep their
 * World, queue handlers and step registry in the same process-wide places.
 */
import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { workflowEntrypoint } from "@workflow/core/runtime";
import type { World } from "@workflow/world";
import { createWorld as postgresWorld } from "@workflow/world-postgres";
import { start } from "workflow/api";
import { setWorld } from "workflow/runtime";
import { type BenchContext, benchRounds, CHILD_IMPORTS, log, PARENT_SERVER } from "./lib.js";
import {
  CONCURRENCY,
  FLOWSTORE_KINDS,
  flowstoreSide,
  PEER_POOL,
  POOL,
  type Round,
  registerSteps,
  report,
  runCounts,
  runRounds,
  runSide,
  type SdkRuntime,
  type Side,
  STEPS,
  WORKFLOW_CODE,
  WORLD_POSTGRES_KINDS,
  worldPostgresSide,
} from "./workflow-worlds.js";

registerSteps();

/** The flow handler the HTTP server calls: each side gets its own (the SDK caches one World's parser in it). */
let handler: (request: Request) => Promise<Response> = async () => new Response("no side", { status: 503 });

/** The beta line in this process: on the beta, steps run inline in the flow handler. */
const beta: SdkRuntime = {
  use(world) {
    handler = workflowEntrypoint(WORKFLOW_CODE);
    setWorld(world as World);
  },
  start: (workflowId, args) => start({ workflowId } as never, args),
};

/** The sides of the 4.x line, by name, as bench/engines-workflow-v4.ts makes them. */
const V4_SIDES = [FLOWSTORE_KINDS.name, WORLD_POSTGRES_KINDS.name];

export async function runWorkflowEngines(context: BenchContext): Promise<void> {
  const { runs, warmup } = runCounts(context);
  const rounds = benchRounds(1, 3);
  log(`Workflow SDK: ${runs} workflows of ${STEPS} steps started at once (after ${warmup} warm-up ones)`);
  log(
    `  ${CONCURRENCY} deliveries at once for both Worlds, delivered over loopback HTTP; pools: flowstore ${POOL}` +
      ` connections, world-postgres ${PEER_POOL} (graphile-worker asks for one per delivery slot)`,
  );
  log("  statements: all that pg_stat_statements counted in the side's database during the measured runs,");
  log("  background work included, the benchmark's own completion checks left out");
  log(
    "  CPU per run: the side's process (the SDK's runtime and handlers, the HTTP server, the World) and the server",
  );
  await betaLine(context, rounds, runs, warmup);
  await slotLine(context, rounds, runs, warmup);
  await stableLine(context, rounds, runs, warmup);
}

/** The pinned 5.0 beta against world-postgres 5.0.0-beta.27, in this process. */
async function betaLine(context: BenchContext, rounds: number, runs: number, warmup: number) {
  log("5.0 beta (@workflow/core 5.0.0-beta.35, World spec 5), in this process:");
  const server = serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => handler(request) });
  await new Promise((resolve) => server.once("listening", resolve));
  const previousPort = process.env.PORT;
  process.env.PORT = String((server.address() as AddressInfo).port);
  const sides: Side[] = [flowstoreSide(5), worldPostgresSide("@workflow/world-postgres", postgresWorld)];
  let results: Map<string, Round[]>;
  try {
    results = await runRounds(
      context,
      sides.map((side) => side.name),
      rounds,
      runs,
      (name, url) =>
        runSide(sides.find((side) => side.name === name) as Side, beta, url, runs, warmup, context),
    );
  } finally {
    if (previousPort === undefined) delete process.env.PORT;
    else process.env.PORT = previousPort;
    await new Promise((resolve) => server.close(resolve));
  }
  report("5.0 beta", sides, results, runs);
}

/**
 * The newest beta (the slot line, World spec 7) on flowstore's World, beside the newest world-postgres
 * that installs (5.0.0-beta.27, on the beta it was made for): each side of each round in a child
 * process (bench/engines-workflow-slots.ts), as two betas' runtimes keep their World in the same
 * process-wide places.
 */
async function slotLine(context: BenchContext, rounds: number, runs: number, warmup: number) {
  log(
    "5.0 slot line: flowstore on @workflow/core 5.0.0-beta.55 (World spec 7) beside world-postgres 5.0.0-beta.27" +
      " on @workflow/core 5.0.0-beta.35 (no world-postgres runs on the slot line); each side of each round in a" +
      " process of its own:",
  );
  const results = await runRounds(context, V4_SIDES, rounds, runs, (name, url) =>
    runChild(context, "engines-workflow-slots.ts", [name, url, String(runs), String(warmup)]),
  );
  report("5.0 slot line (beta.55)", [FLOWSTORE_KINDS, WORLD_POSTGRES_KINDS], results, runs);
}

/**
 * The stable line against world-postgres 4.3.7, each side of each round in a child process: first the
 * runtime's World calls made without it (what the World costs alone: bench/workflow-v4-calls.ts), then
 * the same runs on the runtime, through the SDK's own handlers.
 */
async function stableLine(context: BenchContext, rounds: number, runs: number, warmup: number) {
  const modes = [
    { mode: "calls", line: "4.x World calls", says: "4.8.9's World calls without the runtime" },
    { mode: "sdk", line: "4.x", says: "@workflow/core 4.8.9, through the SDK's own handlers" },
  ] as const;
  for (const { mode, line, says } of modes) {
    log(`4.x (World spec 3), ${says}; each side of each round in a process of its own:`);
    const results = await runRounds(context, V4_SIDES, rounds, runs, (name, url) =>
      runChild(context, "engines-workflow-v4.ts", [name, url, String(runs), String(warmup), mode]),
    );
    report(line, [FLOWSTORE_KINDS, WORLD_POSTGRES_KINDS], results, runs);
  }
}

/** One round of a side in a child process running `script` with `args`; its last line of output is the round. */
function runChild(context: BenchContext, script: string, args: string[]): Promise<Round> {
  const child = spawn(
    process.execPath,
    [...CHILD_IMPORTS, fileURLToPath(new URL(script, import.meta.url)), ...args],
    { env: { ...process.env, [PARENT_SERVER]: context.server.url }, stdio: ["ignore", "pipe", "inherit"] },
  );
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      const last = output.trim().split("\n").at(-1) ?? "";
      if (code !== 0)
        return reject(new Error(`${script} ${args[0]} exited with ${code}: ${output.slice(-2000)}`));
      resolve(JSON.parse(last) as Round);
    });
  });
}

/** `npm run bench -- engines-workflow` runs this part alone. */
export const run = runWorkflowEngines;
