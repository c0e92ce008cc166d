/**
 * Actor snapshots, the key-value space and blobs.
 *
 *   npx tsx examples/state-kv-blobs.ts
 */
import { createReadStream, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openStore, uuidv7 } from "flowstore";

const store = await openStore();
const bytes = new TextEncoder().encode(JSON.stringify({ items: ["book"] }));

// #region durable-state
await store.durableState.write({
  persistenceId: "cart-42",
  version: 7,
  payload: bytes,
  manifest: "shop.Cart",
  timestamp: 1767323045678, // optional: epoch milliseconds as eGo keeps them, or a Date (default: now())
});
const snapshot = await store.durableState.latest("cart-42"); // the same version again is a no-op; a lower one a ConflictError
// #endregion
console.log(`cart-42 at version ${snapshot?.version} (${snapshot?.manifest})`);

const token = uuidv7();
const session = { user: "ada" };
const threadId = "t-1";
const runId = (await store.executions.start({ name: "chat" })).execution.id;
const writes = [
  { id: "ckpt/0001", bytes: new Uint8Array([1]) },
  { id: "ckpt/0002", bytes: new Uint8Array([2]) },
];
const eventId = "evt-9";
// #region kv
await store.kv.set("sessions", token, JSON.stringify(session), { ttlMs: 3_600_000 });
const { version } = await store.kv.set("config", "flags", "dark-mode");
await store.kv.set("config", "flags", "light-mode", { expectedVersion: version }); // compare-and-set
const thread = `thread/${threadId}`;
await store.kv.setMany(
  thread,
  writes.map((w) => ({ key: w.id, value: w.bytes, owner: runId })), // pruned with the run
);
const { created } = await store.kv.setIfAbsent("seen", eventId, ""); // false when already there
const latest = await store.kv.list(thread, { startsWith: "ckpt/", order: "desc", limit: 1 });
// #endregion
console.log(`seen ${eventId} first: ${created}; latest checkpoint key: ${latest.items[0]?.key}`);

const dir = mkdtempSync(path.join(tmpdir(), "flowstore-example-"));
writeFileSync(path.join(dir, "42.pdf"), "%PDF-1.7 not really");
process.chdir(dir);
// #region blobs
await store.blobs.put("invoices/42.pdf", createReadStream("42.pdf"), { contentType: "application/pdf" });
const stream = await store.blobs.stream("invoices/42.pdf", { start: 0, end: 7 }); // a byte range, streamed
// #endregion
const chunks: Buffer[] = [];
for await (const chunk of stream) chunks.push(chunk as Buffer);
console.log(`first bytes of the invoice: ${Buffer.concat(chunks).toString()}`);
await store.close();
