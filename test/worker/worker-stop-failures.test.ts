/**
 * What a worker's stop() sends may fail: the database refuses it, or the connection is gone by then.
 * Such a failure is reported (or, once the store is closed, of no consequence), never left unhandled:
 * an unhandled rejection brings its process down. Transactional workers on one connection (PGlite)
 * matter most, since their stop() does not wait for what it sends (see worker/stop.ts).
 */
import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createPglite } from "../../src/db/template/template.js";
import { openStore, type Store, type Worker } from "../../src/index.js";
import { forEachDriver, type TestDriver, uniqueSchema } from "../support/harness.js";
import { unhandledDuring, until } from "../support/waiting.js";

/** Runs one job through a transactional worker, and resolves once its start mark is in job_starts. */
async function oneJobRun(store: Store, onError: (error: unknown) => void): Promise<Worker> {
  await store.jobs.enqueue({ queue: "q", name: "n" });
  const worker = store.jobs.work({
    queue: "q",
    concurrency: 1,
    transactional: true,
    onError,
    handler: async (_job, { tx }) => {
      await tx.query("select 1");
    },
  });
  await until(async () => (await store.jobs.list({ queue: "q" })).length === 0);
  await until(async () => {
    const { rows } = await store.query<{ n: number }>(
      `select count(*)::int as n from ${store.schema}.job_starts`,
    );
    return rows[0]?.n === 1;
  });
  return worker;
}

/** A connection of the test's own for `driver`, which the test can take away from the store. */
async function ownConnection(
  driver: TestDriver,
): Promise<{ connection: pg.Pool | PGlite; end(): Promise<void> }> {
  if (driver.name === "pglite") {
    const db = await createPglite({ schema: null });
    return { connection: db, end: () => db.close() };
  }
  const pool = new pg.Pool({ connectionString: (await driver.connection()) as string, max: 4 });
  return { connection: pool, end: () => pool.end() };
}

forEachDriver((driver) => {
  describe("a statement of stop() that fails", () => {
    it("reports a start mark's removal the database refuses, and leaves no rejection unhandled", async () => {
      const store = await driver.open();
      const errors: unknown[] = [];
      const worker = await oneJobRun(store, (error) => errors.push(error));
      await store.query(`create function ${store.schema}.refuse() returns trigger language plpgsql as $$
        begin raise exception 'start mark kept by the database'; end $$`);
      await store.query(
        `create trigger refuse before delete on ${store.schema}.job_starts for each row execute function ${store.schema}.refuse()`,
      );

      const unhandled = await unhandledDuring(async () => {
        await worker.stop();
        await until(() => errors.length > 0);
      });
      expect(unhandled.map(String)).toEqual([]);
      expect(errors.map(String)).toEqual([expect.stringContaining("start mark kept by the database")]);
    });

    it("leaves no rejection unhandled when the connection is gone as the worker stops", async () => {
      const own = await ownConnection(driver);
      const store = await openStore({ connection: own.connection, schema: uniqueSchema() });
      const worker = await oneJobRun(store, () => {});

      const unhandled = await unhandledDuring(async () => {
        await own.end();
        await worker.stop();
        await store.close();
      });
      expect(unhandled.map(String)).toEqual([]);
    });
  });
});
