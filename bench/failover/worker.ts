/**
 * A worker process of the failover run:
 *   worker.ts <url> <schema> <concurrency>
 * Prints "ready" once working, then "run <job id> <epoch ms>" as each handler starts; its handler takes
 * 5 ms, so that jobs are in flight when the primary goes. On SIGTERM it stops gracefully and exits.
 */
import { openStore } from "../../src/index.js";

const [url, schema, concurrency = "8"] = process.argv.slice(2);
const quiet = () => {};
const store = await openStore({
  connection: url,
  schema,
  migrate: false,
  logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
});
const worker = store.jobs.work({
  queue: "failover",
  concurrency: Number(concurrency),
  leaseMs: 5_000,
  keepCompleted: true,
  onError: quiet,
  handler: async (job) => {
    process.stdout.write(`run ${job.id} ${Date.now()}\n`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  },
});
process.stdout.write("ready\n");
process.on("SIGTERM", async () => {
  await worker.stop();
  await store.close();
  process.exit(0);
});
