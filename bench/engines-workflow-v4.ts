/**
 * One round of one side of the Workflow SDK's 4.x line (bench/engines-workflow.ts starts it, with the
 * run's server in BENCH_PARENT_SERVER_URL):
 *
 *   engines-workflow-v4.ts <flowstore|world-postgres> <database URL> <runs> <warm-up runs> [sdk|calls]
 *
 * sdk (the default) runs the workflows on the SDK's runtime; calls makes the runtime's World calls
 * for them without it (bench/workflow-v4-calls.ts), to measure what the World costs alone.
 *
 * The side's World is made first and is the one the runtime finds as it loads (4.x binds its step
 * handler to that World then), on @workflow/core 4.8.9 with flowstore's World in spec 3 or
 * @workflow/world-postgres 4.3.7. The flow and step handlers are served over loopback HTTP, as the
 * Worlds deliver to them. Prints the round as JSON, on its last line.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { contextFromParent } from "./lib.js";
import { callsRuntime } from "./workflow-v4-calls.js";
import {
  type BenchWorld,
  flowstoreSide,
  registerSteps,
  runSide,
  type SdkRuntime,
  WORKFLOW_CODE,
  worldPostgresSide,
} from "./workflow-worlds.js";

const [sideName, url, runs, warmup, mode = "sdk"] = process.argv.slice(2);
const side =
  sideName === "flowstore"
    ? flowstoreSide(3)
    : sideName === "world-postgres"
      ? // Loaded only for its own side: nothing of it in flowstore's process.
        worldPostgresSide("@workflow/world-postgres-4", async (config) =>
          (await import("@workflow/world-postgres-4")).createWorld(config),
        )
      : undefined;
if (!side || !url || !runs || !warmup || !["sdk", "calls"].includes(mode)) {
  process.stderr.write(
    "usage: engines-workflow-v4.ts <flowstore|world-postgres> <url> <runs> <warm-up> [sdk|calls]\n",
  );
  process.exit(2);
}
registerSteps();

type Handler = (request: Request) => Promise<Response>;
let flow: Handler | undefined;
let step: Handler | undefined;
const server = serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (request) => {
    const handler = new URL(request.url).pathname.endsWith("/step") ? step : flow;
    return handler ? handler(request) : new Response("not ready", { status: 503 });
  },
});
await new Promise((resolve) => server.once("listening", resolve));
// Where both Worlds deliver: world-postgres reads it as it is made.
process.env.PORT = String((server.address() as AddressInfo).port);

let startRun: ((workflowId: string, args: unknown[]) => Promise<unknown>) | undefined;
const v4: SdkRuntime = {
  async use(world: BenchWorld) {
    // Where 4.x's runtime looks for its World as it loads, before it loads.
    const g = globalThis as unknown as Record<symbol, unknown>;
    g[Symbol.for("@workflow/world//cache")] = world;
    g[Symbol.for("@workflow/world//stubbedCache")] = world;
    const runtime = await import("@workflow/core-4/runtime");
    flow = runtime.workflowEntrypoint(WORKFLOW_CODE);
    step = runtime.stepEntrypoint;
    startRun = (workflowId, args) => runtime.start({ workflowId } as never, args);
  },
  start: (workflowId, args) => (startRun as NonNullable<typeof startRun>)(workflowId, args),
};

const runtime: SdkRuntime =
  mode === "sdk"
    ? v4
    : callsRuntime((handlers) => {
        ({ flow, step } = handlers);
      });

try {
  const round = await runSide(side, runtime, url, Number(runs), Number(warmup), contextFromParent());
  process.stdout.write(`${JSON.stringify(round)}\n`);
} finally {
  await new Promise((resolve) => server.close(resolve));
}
process.exit(0);
