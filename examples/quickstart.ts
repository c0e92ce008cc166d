import { setTimeout as sleep } from "node:timers/promises";
import { openStore } from "flowstore";

// DATABASE_URL if it is set; else an embedded PostgreSQL (PGlite) in ./.flowstore, made on first use.
const store = await openStore();

// A job is a row: it stays in the queue, across restarts, until a worker completes it.
await store.jobs.enqueue({ queue: "email", name: "welcome", payload: { to: "ada@example.com" } });

// A worker claims jobs and runs the handler on each; a handler that throws is retried with backoff.
const worker = store.jobs.work({
  queue: "email",
  handler: async (job) => {
    console.log(`sending the ${job.name} email to`, job.payload);
  },
});

// A real worker runs as long as its process; this program stops once the email is sent.
while (worker.counts.completed === 0) await sleep(50);
await worker.stop();
await store.close();
