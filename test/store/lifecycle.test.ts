import { createServer, type Server } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionError, openStore } from "../../src/index.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../support/harness.js";

forEachDriver((driver) => {
  describe("store lifecycle", () => {
    it("pings, and closes idempotently", async () => {
      const store = await driver.open();
      await store.ping();
      await store.close();
      await store.close();
      await expect(store.query("select 1")).rejects.toBeInstanceOf(ConnectionError);
    });

    it("waits for queries in flight before closing", async () => {
      const store = await driver.open();
      const slow = store.query<{ done: number }>("select 1 as done from pg_sleep(0.2)");
      await store.close();
      await expect(slow).resolves.toMatchObject({ rows: [{ done: 1 }] });
    });

    it("keeps a schema of its own: two stores in two schemas share nothing", async () => {
      const a = await driver.open();
      const b = await driver.open();
      await a.query(`create table ${a.schema}.only_here (x int)`);
      const { rows } = await b.query<{ n: number }>(
        "select count(*)::int as n from pg_tables where schemaname = $1 and tablename = 'only_here'",
        [b.schema],
      );
      expect(rows[0]?.n).toBe(0);
    });
  });
});

describe("postgres", () => {
  describe("connections", () => {
    const blackholes: Server[] = [];
    afterAll(() => {
      for (const server of blackholes) server.close();
    });

    it("leaves a user-supplied pool open after close()", async () => {
      const pool = new pg.Pool({ connectionString: await fileDatabaseUrl() });
      try {
        const store = await openStore({ connection: pool, schema: uniqueSchema() });
        await store.close();
        const { rows } = await pool.query("select 1 as one");
        expect(rows).toEqual([{ one: 1 }]);
      } finally {
        await pool.end();
      }
    });

    it("fails with ConnectionError when nothing listens on the port", async () => {
      const server = createServer();
      const port = await new Promise<number>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
      );
      await new Promise((resolve) => server.close(resolve));
      const failure = await openStore({
        connection: `postgres://u:secret-pw@127.0.0.1:${port}/db?sslmode=disable`,
      }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ConnectionError);
      expect(String((failure as Error).message)).not.toContain("secret-pw");
    });

    it("fails with ConnectionError within connectionTimeoutMs when the server never answers", async () => {
      // Accepts TCP connections and never speaks: what a firewalled or hung server looks like.
      const server = createServer(() => {});
      blackholes.push(server);
      const port = await new Promise<number>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
      );
      const started = Date.now();
      const failure = await openStore({
        connection: `postgres://u:pw@127.0.0.1:${port}/db?sslmode=disable`,
        pool: { connectionTimeoutMs: 300 },
      }).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(failure).toBeInstanceOf(ConnectionError);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(5_000);
    });

    it("reports a wrong password as ConnectionError without the password", async () => {
      const url = new URL(await fileDatabaseUrl());
      url.password = "definitely-wrong-pw";
      const failure = await openStore({ connection: url.toString() }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ConnectionError);
      expect((failure as ConnectionError).sqlState).toBe("28P01");
      expect(String((failure as Error).message)).not.toContain("definitely-wrong-pw");
    });

    it("ping() reconnects after the server dropped every connection", async () => {
      const url = await fileDatabaseUrl();
      const store = await openStore({ connection: url, schema: uniqueSchema() });
      try {
        // The store's one connection: other files may share this database (TEST_DATABASE_URL, Citus).
        const { rows } = await store.query<{ pid: number }>("select pg_backend_pid() as pid");
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query("select pg_terminate_backend($1)", [rows[0]?.pid]);
        await admin.end();
        await store.ping();
        await expect(store.query("select 1 as one")).resolves.toMatchObject({ rows: [{ one: 1 }] });
      } finally {
        await store.close();
      }
    });
  });
});

describe("pglite", () => {
  it("leaves a user-supplied PGlite instance open after close()", async () => {
    const db = await PGlite.create();
    try {
      const store = await openStore({ connection: db, schema: uniqueSchema() });
      await store.close();
      expect(db.closed).toBe(false);
      const { rows } = await db.query("select 1 as one");
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });
});
