/**
 * One soak worker process: `node --import tsx/loader worker.ts '<json WorkerConfig>'`.
 * Works the soak queue with a non-transactional handler that records each run in `soak_runs` (its own
 * autocommit insert, outside the job's completion), so a job that runs twice leaves two rows.
 * Writes to stdout, one line each: "ready"; "rss <bytes> <heapUsedBytes>" every rssEveryMs;
 * "error <kind> <message>" for each error the worker survives, after "lost <job id> ..." when it lost
 * leases. SIGTERM stops it gracefully (exit 0).
 */
import { LeaseLostError, openStore, type Store, StoreError } from "../../src/index.js";
import { WORKER_APPLICATION_NAME, type WorkerConfig } from "./worker-config.js";

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
const say = (line: string) => process.stdout.write(`${line}\n`);

let stopRequested = false;
let shutdown: (() => Promise<void>) | undefined;
// Registered before anything else: a SIGTERM that arrives while the store is still opening must
// still end in a graceful exit, not in the default signal death.
process.on("SIGTERM", () => {
  stopRequested = true;
  void shutdown?.();
});
// Ctrl-C reaches the whole process group: the orchestrator, not the terminal, decides when we stop.
process.on("SIGINT", () => {});

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const reportError = (error: unknown) => {
  const kind =
    error instanceof StoreError ? `${error.code}${error.sqlState ? `/${error.sqlState}` : ""}` : "other";
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ");
  // The jobs whose lease this (live) worker lost, for the report to follow up.
  if (error instanceof LeaseLostError) say(`lost ${(message.match(UUID) ?? []).join(" ")}`);
  // Where in the queue's code the failing statement was sent (a deadlock's message does not say).
  const frames = ((error instanceof Error && error.stack) || "")
    .split("\n")
    .filter((line) => line.includes("/src/queue/"))
    .map((line) =>
      line
        .trim()
        .replace(/^at /, "")
        .replace(/\(.*\/src\//, "(src/"),
    )
    .slice(0, 3);
  say(`error ${kind} ${message.slice(0, 400)}${frames.length ? ` [at ${frames.join(" < ")}]` : ""}`);
};

let store: Store;
try {
  store = await openStore({
    connection: config.url,
    schema: config.schema,
    migrate: false,
    // As test/fixtures/worker.ts: the handlers' inserts must not starve the claims and heartbeats.
    pool: { max: config.concurrency + 4, applicationName: WORKER_APPLICATION_NAME },
  });
} catch (error) {
  reportError(error);
  process.exit(1);
}

const runs = `"${config.schema}".soak_runs`;
const worker = store.jobs.work({
  queue: config.queue,
  concurrency: config.concurrency,
  leaseMs: config.leaseMs,
  onError: reportError,
  handler: async (job) => {
    await store.query(`insert into ${runs} (job_id, worker, pid, attempts) values ($1, $2, $3, $4)`, [
      job.id,
      config.serial,
      process.pid,
      job.attempts,
    ]);
  },
});

const sample = () => {
  const memory = process.memoryUsage();
  say(`rss ${memory.rss} ${memory.heapUsed}`);
};
const sampler = setInterval(sample, config.rssEveryMs);

let stopping: Promise<void> | undefined;
shutdown = () => {
  stopping ??= (async () => {
    clearInterval(sampler);
    await worker.stop();
    await store.close();
    process.exit(0);
  })();
  return stopping;
};
say("ready");
sample();
if (stopRequested) void shutdown();
