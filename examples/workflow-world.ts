/**
 * A Workflow SDK workflow on flowstore's World, on the store openStore() picks (DATABASE_URL, else the
 * embedded one in ./.flowstore):
 *
 *   npx tsx examples/workflow-world.ts
 *
 * An order is reserved (a step), waits a second (a durable sleep), waits for an approval (a hook,
 * resumed by its token from outside the workflow) and is charged (a step that streams its progress).
 *
 * The workflow is written in the form the SDK's compiler gives `"use workflow"` and `"use step"`
 * functions (the workflow as code for the SDK's sandbox, the steps registered by id in this process),
 * so the example needs no build step. In an application the compiler writes this, and the World is
 * all that changes: `createWorld()` from "flowstore/workflow", or WORKFLOW_TARGET_WORLD=flowstore/workflow.
 */
import { workflowEntrypoint } from "@workflow/core/runtime";
import { createWorld } from "flowstore/workflow";
import { getWritable } from "workflow";
import { getRun, resumeHook, start } from "workflow/api";
import { setWorld } from "workflow/runtime";

// The steps: ordinary async functions in this process.
const registry = globalThis as unknown as Record<symbol, Map<string, (...args: never[]) => unknown>>;
const stepsKey = Symbol.for("@workflow/core//registeredSteps");
registry[stepsKey] ??= new Map();
registry[stepsKey].set("step//example//reserve", async (orderId: string) => ({ orderId, items: 3 }));
registry[stepsKey].set("step//example//charge", async (orderId: string, approvedBy: string) => {
  const progress = getWritable<string>().getWriter();
  for (const stage of ["authorizing", "capturing", "done"]) await progress.write(`${orderId}: ${stage}`);
  await progress.close();
  return { orderId, approvedBy, receipt: `R-${orderId}` };
});

// The workflow, run (and replayed from its history) in the SDK's sandbox.
const POST = workflowEntrypoint(`
globalThis.__private_workflows = new Map();
const step = (id) => globalThis[Symbol.for("WORKFLOW_USE_STEP")](id);
const reserve = step("step//example//reserve");
const charge = step("step//example//charge");
const sleep = (ms) => globalThis[Symbol.for("WORKFLOW_SLEEP")](ms);
const createHook = (options) => globalThis[Symbol.for("WORKFLOW_CREATE_HOOK")](options);
async function order(orderId) {
  const reservation = await reserve(orderId);
  await sleep(1000);
  const approval = await createHook({ token: "approve:" + orderId });
  return await charge(reservation.orderId, approval.by);
}
globalThis.__private_workflows.set("workflow//example//order", order);
`);

// The World keeps everything in flowstore; its worker delivers queue messages to the flow handler,
// here in this process (an application serves POST at /.well-known/workflow/v1/flow instead).
// #region world
// The store openStore() picks (or createWorld({ store })); deliveries to the flow handler in this process.
const world = createWorld({ deliver: (request) => POST(request) });
setWorld(world);
await world.start(); // the worker that delivers queued messages
// #endregion

const orderId = `A-${Date.now().toString(36)}`;
const run = await start({ workflowId: "workflow//example//order" } as never, [orderId]);
process.stdout.write(`started run ${run.runId} for order ${orderId}\n`);

// Anyone holding the token can resume the hook once the run has created it.
for (;;) {
  try {
    await resumeHook(`approve:${orderId}`, { by: "ann" });
    break;
  } catch (error) {
    if ((error as Error).name !== "HookNotFoundError") throw error;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
process.stdout.write("approved\n");

for await (const line of getRun(run.runId).getReadable<string>()) process.stdout.write(`  ${line}\n`);
process.stdout.write(`result: ${JSON.stringify(await run.returnValue)}\n`);
const events = await world.events.list({ runId: run.runId, pagination: { limit: 100 } });
process.stdout.write(`history: ${events.data.map((e) => e.eventType).join(", ")}\n`);

await world.close();
