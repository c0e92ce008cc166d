/**
 * Job groups: a queue shared fairly between tenants, each within its concurrency limit; a queue's
 * rate limit.
 *
 *   npx tsx examples/fair-queues.ts
 */
import { openStore } from "flowstore";

const store = await openStore();

// #region groups
// Each tenant's jobs in a group of its own: claims take turns between the groups (least recently
// served first), so a large tenant's backlog never stands before a small tenant's job for more
// than a claim.
await store.jobs.enqueue(
  Array.from({ length: 1_000 }, (_, i) => ({
    queue: "exports",
    name: "build",
    payload: { i },
    group: "acme",
  })),
);
await store.jobs.enqueue({ queue: "exports", name: "build", payload: { i: 0 }, group: "tiny-co" });
// #endregion

// #region limits
// At most 2 running jobs per tenant, across every worker of every process, and at most 100 jobs
// started per second in the queue; one tenant may have a limit of its own.
await store.jobs.setLimits("exports", { groupConcurrency: 2, rate: { limit: 100, periodMs: 1_000 } });
await store.jobs.setGroupLimit("exports", "acme", 4);
// #endregion

// A claim of 10: both tenants take a turn, acme up to its limit of 4.
const jobs = await store.jobs.claim({ queue: "exports", workerId: "example", limit: 10 });
const count = (group: string) => jobs.filter((job) => job.group === group).length;
console.log(`first claim: ${count("acme")} of acme, ${count("tiny-co")} of tiny-co`);
for (const group of await store.jobs.groups("exports")) {
  console.log(`${group.name}: ${group.running} running, ${group.ready} ready`);
}
await store.jobs.complete(jobs);
await store.close();
