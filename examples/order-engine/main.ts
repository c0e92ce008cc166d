/**
 * Runs the example engine alone, on the store openStore() picks (DATABASE_URL, else ./.flowstore):
 *
 *   npx tsx examples/order-engine/main.ts
 *
 * Ctrl-C stops it gracefully; started again it carries on from what is stored.
 * (`npm start` runs the same engine with the dashboard.)
 */
import { openStore } from "flowstore";
import { startOrderEngine, startProgressLine } from "./index.js";

const store = await openStore();
const engine = await startOrderEngine(store);
const stopProgress = startProgressLine(engine);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await engine.stop();
  await stopProgress();
  await store.close();
};
// In place before the line that says Ctrl-C stops it: until a handler is, a Ctrl-C kills outright.
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
process.stdout.write(`order engine on ${store.describe()}; Ctrl-C to stop\n`);
