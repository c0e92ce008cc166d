/**
 * A durable function that waits for a signal, as an engine runs one: each step's result is recorded,
 * so a process that starts the function again replays the steps done instead of running them twice;
 * and an approval sent by another process is kept in the run's history, so it is not missed when it
 * arrives while no process waits (this one stopped, or not yet waiting).
 *
 *   npx tsx examples/durable-function.ts run order-7       # runs the order until it waits for approval
 *   npx tsx examples/durable-function.ts approve order-7   # from another process, at any time after
 *   npx tsx examples/durable-function.ts run order-7       # again, after a Ctrl-C: replays, then ships
 */
import { openStore, type Store } from "flowstore";

const [command = "run", orderId = "order-7"] = process.argv.slice(2);
const store = await openStore();
if (command === "approve") {
  // #region deliver
  // From any process: the payload becomes an event in the history of the run holding the token,
  // whether a process waits on that run now or not. No run holds it yet: a NotFoundError.
  await store.signals.deliver(`approval:${orderId}`, { approvedBy: "ann" });
  // #endregion
  console.log(`approved ${orderId}`);
} else {
  const shipment = await placeOrder(store, orderId);
  console.log(`order ${orderId} shipped: ${JSON.stringify(shipment)}`);
}
await store.close();

// #region durable-function
/** One order's run: started by the first call (its idempotency key is the order), resumed by the next. */
async function placeOrder(store: Store, orderId: string): Promise<unknown> {
  const { execution } = await store.executions.start({
    name: "order",
    idempotencyKey: orderId,
    status: "running",
  });
  if (execution.status === "completed") return execution.output;
  const run = execution.id;
  // What earlier attempts recorded, read once: a step found here is replayed, not run again.
  const recorded = new Map((await store.steps.list(run)).map((done) => [done.number, done]));
  let next = 0;

  async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const number = next++; // a step is known by its place in the function: 0, 1, 2...
    const done = recorded.get(number);
    if (done) {
      console.log(`replayed ${name}`);
      return done.output as T;
    }
    // Recorded once: a concurrent attempt that recorded it first wins, and its output is returned.
    const { step } = await store.steps.record({ executionId: run, number, name, output: await fn() });
    console.log(`ran ${name}`);
    return step.output as T;
  }

  async function signal<T>(token: string): Promise<T> {
    // Claimed as a step, before anyone is told the token: from then on a delivery is an event in this
    // run's history. Claiming a token the run holds already changes nothing.
    await step(`claim ${token}`, async () => (await store.signals.claim(token, run)).claimed);
    const isIt = (event: { type: string; correlationId: string | null }) =>
      event.type === "signal" && event.correlationId === token;
    // The history as it is, then what comes after the last event read: events are numbered in commit
    // order without gaps, so a delivery committed at any moment is in one or the other.
    let last = 0;
    for await (const event of store.events.iterate(run)) {
      if (isIt(event)) return event.payload as T;
      last = event.sequence;
    }
    console.log(`waiting for ${token}`);
    for (;;) {
      for (const event of await store.events.wait(run, { afterSequence: last, timeoutMs: 60_000 })) {
        if (isIt(event)) return event.payload as T;
        last = event.sequence;
      }
    }
  }

  const stock = await step("reserveStock", async () => ({ items: 3 }));
  const charge = await step("chargeCard", async () => ({ chargeId: `ch_${stock.items}` }));
  const approval = await signal<{ approvedBy: string }>(`approval:${orderId}`);
  const shipment = await step("ship", async () => ({
    parcel: `p_${charge.chargeId}`,
    by: approval.approvedBy,
  }));
  await store.executions.complete(run, shipment);
  return shipment;
}
// #endregion
