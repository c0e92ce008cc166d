/**
 * Testing your own code: a migrated in-memory store per test, shared with nothing.
 *
 *   npx tsx examples/testing.ts
 */
// #region testing
import assert from "node:assert/strict";
import { createTestStore } from "flowstore/testing";

const store = await createTestStore(); // in-memory embedded store, migrated, shared with nothing
await store.kv.set("greetings", "en", "hello");
const entry = await store.kv.get("greetings", "en");
assert.equal(new TextDecoder().decode(entry?.value), "hello");
await store.close();
// #endregion
console.log("the test store works");
