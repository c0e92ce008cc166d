/**
 * Durable steps: a run records what each step returned, so a run started again replays them.
 *
 *   npx tsx examples/steps.ts
 */
import { openStore } from "flowstore";

const store = await openStore();
const { execution } = await store.executions.start({ name: "checkout", idempotencyKey: "cart-7" });
const executionId = execution.id;

/** A step of a durable function: the recorded result when there is one, else run it and record it. */
async function step<T>(number: number, name: string, run: () => Promise<T>): Promise<T> {
  const done = await store.steps.get(executionId, number);
  if (done) return done.output as T;
  const output = await run();
  // #region record
  const { step, created } = await store.steps.record({
    executionId,
    number, // the step's position in the run: 0, 1, 2...
    name,
    output, // JSON, or bytes (a Uint8Array); or error: err for a failed step
  });
  // created is false when another attempt recorded this step first: step.output is that attempt's output.
  // #endregion
  if (!created) console.log(`step ${number} was recorded by another attempt`);
  return step.output as T;
}

const reserved = await step(0, "reserveStock", async () => ({ items: 3 }));
const charge = await step(1, "chargeCard", async () => ({ chargeId: `ch_${reserved.items}` }));
console.log("charged", charge.chargeId);

// #region replay
const recorded = await store.steps.list(executionId); // every checkpoint, in step order: what a replay reads
// #endregion
console.log("recorded steps:", recorded.map((s) => s.name).join(", "));
await store.close();
