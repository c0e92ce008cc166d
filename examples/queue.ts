/**
 * The job queue: enqueue now, later, in batches and by key; a worker; durable timers.
 *
 *   npx tsx examples/queue.ts
 */
import { setTimeout as sleep } from "node:timers/promises";
import { openStore } from "flowstore";

const store = await openStore();
const userId = "user-1";
const users = [{ id: "user-2" }, { id: "user-3" }];

async function sendEmail(payload: unknown, { signal }: { signal: AbortSignal }): Promise<void> {
  signal.throwIfAborted(); // a real sender passes the signal on, to give up when the worker stops
  console.log("email", JSON.stringify(payload));
}

// #region enqueue
// One job, or many in one statement; inside store.transaction it exists only if the transaction commits.
await store.jobs.enqueue({ queue: "email", name: "welcome", payload: { userId }, priority: 5 });
await store.jobs.enqueue(
  users.map((u) => ({ queue: "email", name: "digest", payload: { userId: u.id }, key: `digest:${u.id}` })),
);
// Later: at runAt (a Date), or delaySeconds (or delayMs) from the database's now().
await store.jobs.enqueue({ queue: "email", name: "reminder", payload: { userId }, delaySeconds: 30 * 60 });
// One run at a time per key, and none missed: while sync:42 runs, this one waits to run after it.
await store.jobs.enqueue({ queue: "sync", name: "sync", key: "sync:42", whileRunning: "after" });
// #endregion

// #region worker
const worker = store.jobs.work({
  queue: "email",
  concurrency: 8,
  handler: async (job, { signal }) => {
    await sendEmail(job.payload, { signal }); // throw to fail: retried with backoff until maxAttempts, then dead
  },
});
// ...
// Stops claiming, lets running handlers finish (up to stopTimeoutMs, default 30 s), hands prefetched
// jobs back.
await worker.stop();
// #endregion

// The worker above stopped at once; this one runs until no job due now is left.
const again = store.jobs.work({
  queue: "email",
  handler: (job, { signal }) => sendEmail(job.payload, { signal }),
});
for (;;) {
  const [email] = await store.jobs.stats("email");
  if (email?.ready === 0 && email.running === 0) break;
  await sleep(50);
}
await again.stop();

const executionId = (await store.executions.start({ name: "order" })).execution.id;
const orderId = "order-42";
// #region timers
await store.timers.schedule({
  executionId,
  name: "payment-timeout",
  fireAt: new Date(Date.now() + 15 * 60_000),
  payload: { orderId },
});
await store.timers.cancel(executionId, "payment-timeout");
// Moves due timers into the jobs queue ("timers" by default), each exactly once.
const dispatcher = store.timers.startDispatcher();
// #endregion
await dispatcher.stop();

const [stats] = await store.jobs.stats("email");
console.log("email queue:", stats?.waiting, "waiting (the reminder, due in 30 minutes)");
await store.close();
