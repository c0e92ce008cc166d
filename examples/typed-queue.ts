/**
 * Typed queues: a payload type per job name, checked where jobs are enqueued and narrowed in the
 * handler.
 *
 *   npx tsx examples/typed-queue.ts
 */
import { defineQueue, openStore } from "flowstore";

let handled = 0;
let bothHandled: () => void = () => {};
const allHandled = new Promise<void>((resolve) => {
  bothHandled = resolve;
});

// #region typed
// The queue, its job names and their payloads, in one place.
const emails = defineQueue<{
  welcome: { userId: string };
  digest: { day: string };
}>("emails");

const store = await openStore();
// A wrong name or payload is a compile error; the other fields of a job are options.
await store.jobs.queue(emails).enqueue("welcome", { userId: "u1" }, { priority: 5 });
await store.transaction(async (tx) => {
  await tx.jobs.queue(emails).enqueue("digest", { day: "2026-11-24" }); // only if this commits
});

// The handler's job is a union on its name: checking the name narrows the payload.
const worker = store.jobs.queue(emails).work({
  handler: async (job) => {
    if (job.name === "welcome") console.log(`welcome ${job.payload.userId}`);
    else console.log(`digest for ${job.payload.day}`);
    if (++handled === 2) bothHandled();
  },
});
// #endregion

await allHandled;
await worker.stop();
await store.close();
