/**
 * Event history and signals: an append-only history per run, with compare-and-set appends, and
 * tokens a run holds so that another process can deliver a payload to it.
 *
 *   npx tsx examples/events-signals.ts
 */
import { openStore, uuidv7 } from "flowstore";

const store = await openStore();
const runId = uuidv7();
const orderId = "order-42";
const receiptBytes = new TextEncoder().encode("receipt #1");
const url = "https://example.com/approve/order-42";
const history: string[] = [];
const replay = (event: { sequence: number; type: string }) => {
  history.push(`${event.sequence} ${event.type}`);
  return event.sequence;
};

// #region events
// The run and its first event, together or not at all.
await store.transaction(async (tx) => {
  const { execution } = await tx.executions.start({ id: runId, name: "order", status: "running" });
  await tx.events.append(execution.id, { type: "run_started", payload: { orderId } });
});
const [started, done] = await store.events.append(
  runId,
  [
    { type: "step_started", correlationId: "charge" },
    { type: "step_completed", correlationId: "charge", payload: receiptBytes }, // JSON, or bytes
  ],
  { expectedLastSequence: 1 }, // compare-and-set: a stale writer gets a ConflictError, nothing is written
);
let read = 0; // the last event read: a wait goes on after it, never after a number assumed
for await (const event of store.events.iterate(runId)) read = replay(event); // 1, 2, 3... in commit order

// A token held by one running execution; a payload delivered to it is an event in the holder's history.
await store.signals.claim(`approval:${orderId}`, runId, { metadata: { url } });
await store.signals.deliver(`approval:${orderId}`, { approvedBy: "ann" }); // from any process
const [approval] = await store.events.wait(runId, { afterSequence: read, timeoutMs: 60_000 });
// #endregion

console.log("history:", history.join(", "));
console.log(
  `steps at ${started?.sequence} and ${done?.sequence}; signal: ${JSON.stringify(approval?.payload)}`,
);

// #region append-with-write
const { execution } = await store.executions.start({ name: "order", status: "running" });
const task = await store.tasks.create({ executionId: execution.id, taskId: "charge", status: "running" });
const step = await store.tasks.update(
  task.taskExecId,
  { status: "completed", output: { receipt: "R-1" } },
  { expectedStatus: "running", append: { type: "step_completed", correlationId: "charge" } },
);
step.appended; // [{ sequence: 1, type: "step_completed", ... }]: the write and its event commit together
// #endregion
console.log(
  "appended with the task's write:",
  step.appended?.map((e) => `${e.sequence} ${e.type}`),
);
await store.close();
