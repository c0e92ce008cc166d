import { beforeAll, describe, expect, it } from "vitest";
import { MigrationError, migrationScript, openStore, type Store, ValidationError } from "../../src/index.js";
import { latestVersion, loadMigrations } from "../../src/migrations/runner.js";
import { forEachDriver, uniqueSchema } from "../support/harness.js";

async function schemaCount(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>("select count(*)::int as n from pg_namespace");
  return rows[0]?.n ?? -1;
}

forEachDriver((driver) => {
  describe("schema names", () => {
    const hostile = [
      'x"; drop table y; --',
      "a.b",
      "with'quote",
      'with"quote',
      "has space",
      "1starts_with_digit",
      "",
      "a".repeat(64),
      "naïve",
      "semi;colon",
    ];
    // One store to count the schemas with: each name's open would otherwise migrate one of its own.
    let probe: Store;
    beforeAll(async () => {
      probe = await driver.open();
    });
    for (const schema of hostile) {
      it(`rejects ${JSON.stringify(schema.length > 20 ? `${schema.slice(0, 20)}… (${schema.length} bytes)` : schema)} and creates nothing`, async () => {
        const before = await schemaCount(probe);
        const failure = await openStore({ connection: await driver.connection(), schema }).catch(
          (e: unknown) => e,
        );
        expect(failure).toBeInstanceOf(ValidationError);
        expect((failure as ValidationError).field).toBe("schema");
        expect(await schemaCount(probe)).toBe(before);
      });
    }

    it("accepts a 63-byte name", async () => {
      const schema = `s${"x".repeat(50)}${Date.now().toString(36)}`.slice(0, 63).padEnd(63, "y");
      const store = await driver.open({ schema });
      expect(store.schema).toBe(schema);
      expect((await store.migrationStatus()).pending).toBe(0);
    });
  });

  describe("migrations", () => {
    it("migrates a fresh schema and records every migration with its checksum", async () => {
      const store = await driver.open();
      const { rows } = await store.query<{ id: number; checksum: string }>(
        `select id, checksum from ${store.schema}.migrations order by id`,
      );
      expect(rows).toEqual(loadMigrations().map((m) => ({ id: m.id, checksum: m.checksum })));
      expect(await store.migrationStatus()).toEqual({ version: latestVersion(), pending: 0 });
      expect((await store.migrate()).applied).toEqual([]);
    });

    it("migrates exactly once when ten stores open a fresh schema at the same time", async () => {
      const schema = uniqueSchema("race");
      const connection = await driver.connection();
      const stores = await Promise.all(
        Array.from({ length: 10 }, () => openStore({ connection, schema, migrate: false })),
      );
      try {
        const results = await Promise.all(stores.map((store) => store.migrate()));
        const applied = results.flatMap((result) => result.applied);
        expect(applied).toHaveLength(latestVersion());
        expect(new Set(applied).size).toBe(latestVersion());
        const [first] = stores;
        const { rows } = await (first as Store).query<{ n: number }>(
          `select count(*)::int as n from ${schema}.migrations`,
        );
        expect(rows[0]?.n).toBe(latestVersion());
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });

    it("ten openStore calls racing on a fresh schema all succeed", async () => {
      const schema = uniqueSchema("open");
      const connection = await driver.connection();
      const stores = await Promise.all(Array.from({ length: 10 }, () => openStore({ connection, schema })));
      try {
        for (const store of stores) expect((await store.migrationStatus()).pending).toBe(0);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });

    it("fails with MigrationError when an applied migration was changed", async () => {
      const store = await driver.open();
      await store.query(`update ${store.schema}.migrations set checksum = 'tampered' where id = 1`);
      const failure = await openStore({ connection: await driver.connection(), schema: store.schema }).catch(
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(MigrationError);
      expect(String((failure as Error).message)).toMatch(/migration 1 .*differs/);
    });

    it("fails with MigrationError when the database is newer than this flowstore", async () => {
      const store = await driver.open();
      await store.query(
        `insert into ${store.schema}.migrations (id, name, checksum) values (9999, 'future', 'x')`,
      );
      const failure = await store.migrate().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(MigrationError);
      expect(String((failure as Error).message)).toMatch(/newer/);
    });

    it("does not migrate when migrate: false, and reports what is pending", async () => {
      const schema = uniqueSchema("nomig");
      const store = await openStore({ connection: await driver.connection(), schema, migrate: false });
      try {
        expect(await store.migrationStatus()).toEqual({ version: 0, pending: latestVersion() });
        const { rows } = await store.query<{ n: number }>(
          "select count(*)::int as n from pg_namespace where nspname = $1",
          [schema],
        );
        expect(rows[0]?.n).toBe(0);
      } finally {
        await store.close();
      }
    });

    it("prints DDL that, applied by hand, leaves nothing for the runner to do", async () => {
      const schema = uniqueSchema("ddl");
      const script = migrationScript(schema);
      expect(script).toContain(`create schema if not exists "${schema}"`);
      const store = await openStore({ connection: await driver.connection(), schema, migrate: false });
      try {
        await store.driver.exec(script);
        expect(await store.migrationStatus()).toEqual({ version: latestVersion(), pending: 0 });
        expect((await store.migrate()).applied).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
});
