/**
 * Transactions, and the errors a caller can act on.
 *
 *   npx tsx examples/transactions.ts
 */
import { ConflictError, openStore, uuidv7 } from "flowstore";

const store = await openStore();
await store.query("create schema if not exists shop");
await store.query("create table if not exists shop.orders (id uuid primary key, total numeric not null)");

// #region transaction
const orderId = uuidv7();
await store.transaction(async (tx) => {
  await tx.query("insert into shop.orders (id, total) values ($1, $2)", [orderId, 42]);
  // Every repository is on tx too, and commits or rolls back with it: the job exists only if the order does.
  await tx.jobs.enqueue({ queue: "shipping", name: "ship", payload: { orderId } });
});
// #endregion
console.log("order and job committed together:", orderId);

// #region errors
await store.kv.set("config", "flags", "dark-mode");
try {
  await store.kv.set("config", "flags", "light-mode", { expectedVersion: 7 }); // compare-and-set
} catch (error) {
  if (!(error instanceof ConflictError)) throw error;
  console.log(`${error.name} (${error.code}): ${error.message}`);
}
// #endregion

await store.close();
