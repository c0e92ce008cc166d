/**
 * Workflow state: a definition, a run started idempotently, a task tree, and a transaction that moves
 * the run on with a compare-and-set on its version.
 *
 *   npx tsx examples/workflow-state.ts
 */
import { openStore } from "flowstore";

const store = await openStore();
const orderId = "order-42";

// #region workflow-state
await store.definitions.create({
  name: "order",
  definition: { steps: ["reserve", "charge"] },
  status: "active",
});
// The same idempotency key gives the same run, even when two processes start it at once.
const { execution, created } = await store.executions.start({
  name: "order",
  input: { orderId },
  idempotencyKey: orderId,
});
const root = await store.tasks.create({ executionId: execution.id, taskId: "fulfil" });

await store.transaction(async (tx) => {
  const run = await tx.executions.getForUpdate(execution.id); // a row lock until commit
  await tx.executions.update(
    run.id,
    { status: "running", state: { step: 1 } },
    { expectedVersion: run.version }, // another writer's change in between: a ConflictError
  );
  await tx.tasks.createChildren(root.taskExecId, [{ taskId: "reserve" }, { taskId: "charge" }]); // all or none
  await tx.jobs.enqueue({ queue: "steps", name: "reserve", payload: { executionId: run.id } });
});
// #endregion

console.log(created ? "started" : "found", "run", execution.id);
const progress = await store.tasks.progress(root.taskExecId);
console.log("child tasks:", progress.total);
await store.close();
