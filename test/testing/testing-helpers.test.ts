import { describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { createTestStore, startTestPostgres } from "../../src/testing/index.js";

describe("pglite", () => {
  describe("flowstore/testing", () => {
    // Two embedded databases start at once: seconds each, and more on a machine under load.
    it("createTestStore() gives each caller a migrated in-memory store of its own", {
      timeout: 120_000,
    }, async () => {
      const [a, b] = await Promise.all([createTestStore(), createTestStore()]);
      try {
        expect((await a.migrationStatus()).pending).toBe(0);
        await a.query(`create table ${a.schema}.only_in_a (x int)`);
        const { rows } = await b.query<{ t: string | null }>("select to_regclass($1)::text as t", [
          `${b.schema}.only_in_a`,
        ]);
        expect(rows[0]?.t).toBeNull();
        expect(a.describe()).toBe("embedded PGlite (in memory)");
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
});

describe("postgres", () => {
  describe("flowstore/testing", () => {
    it("startTestPostgres() starts a real server with databases to order, and stops it", async () => {
      const server = await startTestPostgres();
      const url = await server.createDatabase();
      const store = await openStore({ connection: url });
      try {
        const { rows } = await store.query<{ db: string }>("select current_database() as db");
        expect(url).toContain(`/${rows[0]?.db}?`);
        expect(store.driver.kind).toBe("node-postgres");
      } finally {
        await store.close();
        await server.stop();
      }
      await expect(openStore({ connection: url, pool: { connectionTimeoutMs: 1000 } })).rejects.toThrow(
        /cannot reach/,
      );
    });
  });
});
