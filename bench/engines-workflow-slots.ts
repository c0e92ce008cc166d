/**
 * One round of one side of the Workflow SDK's slot line (bench/engines-workflow.ts starts it, with the
 * run's server in BENCH_PARENT_SERVER_URL):
 *
 *   engines-workflow-slots.ts <flowstore|world-postgres> <database URL> <runs> <warm-up runs>
 *
 * flowstore: the newest 5.0 beta's runtime (@workflow/core 5.0.0-beta.55, installed as
 * @workflow/core-slots) on flowstore's World in spec 7, the spec that runtime records runs under.
 * world-postgres: the newest world-postgres that installs, 5.0.0-beta.27 (beta.29's dependencies are not
 * in the registry), on the runtime it was made for (@workflow/core 5.0.0-beta.35, World spec 5): no
 * world-postgres runs on the slot line, so flowstore's World on it is measured beside the last one that
 * runs. Each in a process of its own, the flow handler (which runs the steps inline on the betas) served
 * over loopback HTTP, as both Worlds deliver to it. Prints the round as JSON, on its last line.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { contextFromParent } from "./lib.js";
import {
  type BenchWorld,
  flowstoreSide,
  registerSteps,
  runSide,
  type SdkRuntime,
  type Side,
  WORKFLOW_CODE,
  worldPostgresSide,
} from "./workflow-worlds.js";

const [sideName, url, runs, warmup] = process.argv.slice(2);
if (!["flowstore", "world-postgres"].includes(sideName ?? "") || !url || !runs || !warmup) {
  process.stderr.write(
    "usage: engines-workflow-slots.ts <flowstore|world-postgres> <url> <runs> <warm-up>\n",
  );
  process.exit(2);
}
registerSteps();

let flow: ((request: Request) => Promise<Response>) | undefined;
const server = serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (request) => (flow ? flow(request) : new Response("not ready", { status: 503 })),
});
await new Promise((resolve) => server.once("listening", resolve));
// Where both Worlds deliver: world-postgres reads it as it is made.
process.env.PORT = String((server.address() as AddressInfo).port);

/** A 5.0 beta's runtime, loaded only in the process of the side that runs on it. */
interface BetaRuntime {
  workflowEntrypoint(code: string): (request: Request) => Promise<Response>;
  setWorld(world: never): void;
  start(workflow: never, args: unknown[]): Promise<unknown>;
}

function on(load: () => Promise<BetaRuntime>): SdkRuntime {
  let runtime: BetaRuntime | undefined;
  return {
    async use(world: BenchWorld) {
      runtime = await load();
      flow = runtime.workflowEntrypoint(WORKFLOW_CODE);
      runtime.setWorld(world as never);
    },
    start: (workflowId, args) => (runtime as BetaRuntime).start({ workflowId } as never, args),
  };
}

const [side, runtime]: [Side, SdkRuntime] =
  sideName === "flowstore"
    ? [flowstoreSide(7), on(() => import("@workflow/core-slots/runtime") as Promise<BetaRuntime>)]
    : [
        worldPostgresSide("@workflow/world-postgres", async (config) =>
          (await import("@workflow/world-postgres")).createWorld(config),
        ),
        on(() => import("@workflow/core/runtime") as Promise<BetaRuntime>),
      ];

try {
  const round = await runSide(side, runtime, url, Number(runs), Number(warmup), contextFromParent());
  process.stdout.write(`${JSON.stringify(round)}\n`);
} finally {
  await new Promise((resolve) => server.close(resolve));
}
process.exit(0);
