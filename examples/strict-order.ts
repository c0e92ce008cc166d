/**
 * Strict order per group: an account's postings apply one at a time, in the order they came, and one
 * that fails holds the account's later ones until its retry succeeds; other accounts go on.
 *
 *   npx tsx examples/strict-order.ts
 */
import { openStore } from "flowstore";

const store = await openStore();

// #region strict
await store.jobs.setLimits("ledger", { strictOrder: true });
for (const [account, amount] of [
  ["acct-1", 100],
  ["acct-1", -30],
  ["acct-2", 50],
] as const) {
  await store.jobs.enqueue({ queue: "ledger", name: "post", group: account, payload: { amount } });
}
// #endregion

const claim = () => store.jobs.claim({ queue: "ledger", workerId: "example", limit: 10 });
const amounts = (jobs: { payload: unknown }[]) =>
  jobs.map((job) => (job.payload as { amount: number }).amount);

const first = await claim();
console.log(`first claim: ${amounts(first).join(", ")}`);
// acct-1's first posting fails, to be retried in 200 ms: its -30 waits behind it.
const [credit, other] = first;
if (credit)
  await store.jobs.fail(credit, { message: "ledger locked" }, { retryAt: new Date(Date.now() + 200) });
if (other) await store.jobs.complete(other);
console.log(`while it waits: ${amounts(await claim()).length} claimed`);
await new Promise((resolve) => setTimeout(resolve, 250));
const retried = await claim();
console.log(`after the retry time: ${amounts(retried).join(", ")}`);
for (const job of retried) await store.jobs.complete(job);
const then = await claim();
console.log(`then: ${amounts(then).join(", ")}`);
for (const job of then) await store.jobs.complete(job);
await store.close();
