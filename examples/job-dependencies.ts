/**
 * Job dependencies: a flow of jobs enqueued together, each running once the jobs it runs after have
 * completed; and what becomes of the jobs after one that goes dead.
 *
 *   npx tsx examples/job-dependencies.ts
 */
import { randomUUID } from "node:crypto";
import { openStore } from "flowstore";

const store = await openStore();

// #region flow
// Give the jobs ids to name them by: a job runs after those it names in `after`, each enqueued before
// it (or earlier in the same batch). Resize and scan run side by side once the upload is stored;
// publish runs once both have completed.
const [upload, resize, scan] = [randomUUID(), randomUUID(), randomUUID()];
await store.jobs.enqueue([
  { id: upload, queue: "media", name: "store-upload", payload: { file: "cat.png" } },
  { id: resize, queue: "media", name: "resize", after: [upload] },
  { id: scan, queue: "media", name: "virus-scan", after: [upload] },
  { queue: "media", name: "publish", after: [resize, scan] },
]);
// #endregion

const ran: string[] = [];
const worker = store.jobs.work({
  queue: "media",
  handler: async (job) => {
    ran.push(job.name);
  },
});
while (ran.filter((name) => name === "publish").length === 0) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await worker.stop();
console.log(`ran: ${ran[0]} | ${ran.slice(1, -1).sort().join(", ")} | ${ran.at(-1)}`);

// #region dead
// A job that goes dead takes the jobs after it with it: dead too, their error naming it. (A job
// cancelled takes them with it the same way: cancelled too.)
const charge = await store.jobs.enqueue({ queue: "orders", name: "charge", maxAttempts: 1 });
const ship = await store.jobs.enqueue({ queue: "orders", name: "ship", after: [charge] });
console.log(`ship waits for ${(await store.jobs.get(ship)).waitingFor} job`);
const [lease] = await store.jobs.claim({ queue: "orders", workerId: "example" });
if (lease) await store.jobs.fail(lease, { message: "card declined" });
const shipped = await store.jobs.get(ship);
console.log(`ship is ${shipped.status}: ${shipped.lastError?.message}`);
// #endregion
await store.close();
