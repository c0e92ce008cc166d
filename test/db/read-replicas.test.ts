/**
 * Read replicas and read-only stores on a real streaming standby of the system's PostgreSQL: lists
 * and counts come from the replica (shown by pausing its replay: a row written since is missing from
 * them, and present for a read by id), a transaction lists what it wrote, and a store opened with
 * `readOnly: true` opens on the standby without migrating and writes nothing. The embedded cases
 * (readOnly on PGlite, readConnection refused there) need no server.
 * Needs Debian's PostgreSQL (CI installs it); the standby cases are skipped with a note elsewhere,
 * never in CI.
 */
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectionError,
  MigrationError,
  openStore,
  ReadOnlyError,
  type Store,
  ValidationError,
} from "../../src/index.js";
import { type SystemPostgres, startStandby, startSystemPostgres } from "../../src/testing/system-postgres.js";
import { uniqueSchema } from "../support/harness.js";
import { replayed, systemPostgresFor } from "../support/system-postgres.js";

const available = systemPostgresFor("the read replica tests");

/** Runs `fn` while the standby receives WAL but applies none of it. */
async function withReplayPaused(
  primary: SystemPostgres,
  standby: SystemPostgres,
  fn: () => Promise<void>,
): Promise<void> {
  await replayed(primary, standby);
  await standby.query("select pg_wal_replay_pause()");
  try {
    await fn();
  } finally {
    await standby.query("select pg_wal_replay_resume()");
  }
}

describe.skipIf(!available)("a store with a streaming standby", () => {
  let primary: SystemPostgres;
  let standby: SystemPostgres;
  let primaryUrl: string;
  let standbyUrl: string;
  const schema = uniqueSchema("replicas");
  const stores: Store[] = [];
  const open = async (options: Parameters<typeof openStore>[0]) => {
    const store = await openStore(options);
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    primary = await startSystemPostgres();
    standby = await startStandby(primary, { synchronous: true });
    const database = `replicas_${process.pid}`;
    primaryUrl = await primary.createDatabase(database);
    standbyUrl = standby.urlFor(database);
    // Migrated on the primary; the standby has the schema once it has replayed it.
    const writer = await openStore({ connection: primaryUrl, schema });
    stores.push(writer);
    await writer.kv.set("seed", "k", "v");
    await replayed(primary, standby);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await standby?.stop();
    await primary?.stop();
  });

  it("answers lists and counts from the replica, and reads by id from the primary", async () => {
    const store = await open({ connection: primaryUrl, schema, readConnection: standbyUrl });
    expect(store.describe()).toContain(`reads from ${standbyUrl}`);
    const before = await store.executions.start({ name: "replicated" });
    await store.kv.set("replicas", "before", "1");
    await withReplayPaused(primary, standby, async () => {
      const { execution: fresh } = await store.executions.start({ name: "replicated" });
      await store.kv.set("replicas", "fresh", "1");
      const [job] = await store.jobs.enqueue([{ queue: "replicas-fresh", name: "new" }]);
      await store.events.append(before.execution.id, { type: "fresh" });
      await store.definitions.create({ name: "replicas-fresh", definition: {} });

      const listed = (await store.executions.list({ definitionName: "replicated" })).items.map((e) => e.id);
      expect(listed).toContain(before.execution.id);
      expect(listed).not.toContain(fresh.id);
      expect((await store.executions.countByStatus({ definitionName: "replicated" })).pending).toBe(1);
      expect((await store.kv.list("replicas")).items.map((e) => e.key)).toEqual(["before"]);
      expect(await store.jobs.list({ queue: "replicas-fresh" })).toEqual([]);
      expect(await store.jobs.stats("replicas-fresh")).toEqual([]);
      expect((await store.events.list(before.execution.id)).items).toEqual([]);
      expect(await store.definitions.list({ name: "replicas-fresh" })).toEqual([]);

      // What must see the caller's own writes reads on the primary.
      expect((await store.executions.get(fresh.id)).id).toBe(fresh.id);
      expect(await store.kv.get("replicas", "fresh")).toBeDefined();
      expect((await store.jobs.get(job as string)).id).toBe(job);
      const fromPrimary = await store.primary.executions.list({ definitionName: "replicated" });
      expect(fromPrimary.items.map((e) => e.id)).toContain(fresh.id);
      expect((await store.primary.events.list(before.execution.id)).items).toHaveLength(1);
    });
    await replayed(primary, standby);
    expect((await store.executions.countByStatus({ definitionName: "replicated" })).pending).toBe(2);
    expect((await store.kv.list("replicas")).items.map((e) => e.key)).toEqual(["before", "fresh"]);
  });

  it("fails to open when a replica cannot be reached, saying it is the readConnection", async () => {
    const error = await openStore({
      connection: primaryUrl,
      schema,
      readConnection: [standbyUrl, "postgres://postgres@127.0.0.1:1/none?sslmode=disable"],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(
      /^readConnection: cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\//,
    );
  });

  it("lists, inside a transaction, what the transaction wrote", async () => {
    const store = await open({ connection: primaryUrl, schema, readConnection: standbyUrl });
    await store.transaction(async (tx) => {
      const { execution } = await tx.executions.start({ name: "in-transaction" });
      await tx.kv.set("in-transaction", "k", "v");
      await tx.jobs.enqueue({ queue: "in-transaction", name: "j" });
      await tx.events.append(execution.id, { type: "written" });
      const listed = await tx.executions.list({ definitionName: "in-transaction" });
      expect(listed.items.map((e) => e.id)).toEqual([execution.id]);
      expect((await tx.executions.countByStatus({ definitionName: "in-transaction" })).pending).toBe(1);
      expect((await tx.kv.list("in-transaction")).items).toHaveLength(1);
      expect(await tx.jobs.list({ queue: "in-transaction" })).toHaveLength(1);
      expect((await tx.jobs.stats("in-transaction"))[0]?.waiting).toBe(1);
      expect((await tx.events.list(execution.id)).items.map((e) => e.type)).toEqual(["written"]);
      // Nested, as a savepoint, too.
      await tx.transaction(async (inner) => {
        expect((await inner.kv.list("in-transaction")).items).toHaveLength(1);
      });
    });
  });

  it("spreads reads over several replicas, a pg Pool of yours among them", async () => {
    const pools = [
      new pg.Pool({ connectionString: standbyUrl }),
      new pg.Pool({ connectionString: standbyUrl }),
    ];
    const asked = [0, 0];
    pools.forEach((pool, i) => {
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        asked[i] = (asked[i] ?? 0) + 1;
        return query(...args);
      };
    });
    try {
      const store = await open({ connection: primaryUrl, schema, readConnection: pools });
      const counted = asked.slice();
      for (let i = 0; i < 4; i++) await store.kv.list("replicas");
      expect(asked.map((n, i) => n - (counted[i] ?? 0))).toEqual([2, 2]);
      await store.close();
      // Pools of yours stay open.
      expect((await pools[0]?.query("select 1 as one"))?.rows[0]).toEqual({ one: 1 });
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it("opens read-only on the standby without migrating, and refuses every write", async () => {
    const store = await open({ connection: standbyUrl, schema, readOnly: true });
    expect(store.readOnly).toBe(true);
    expect(store.describe()).toContain("read-only");
    const before = await standby.query(`select count(*)::int as n from "${schema}".kv`, dbOf(standbyUrl));
    expect((await store.kv.list("seed")).items.map((e) => e.key)).toEqual(["k"]);
    expect(await store.kv.get("seed", "k")).toBeDefined();
    expect((await store.migrationStatus()).pending).toBe(0);

    const refused = [
      store.kv.set("read-only", "k", "v"),
      store.executions.start({ name: "read-only" }),
      store.jobs.enqueue({ queue: "read-only", name: "j" }),
      store.transaction((tx) => tx.kv.set("read-only", "k", "v")),
      store.migrate(),
      store.prune({ finishedBefore: new Date() }),
      store.blobs.put("read-only", Buffer.from("x")),
    ];
    for (const result of await Promise.allSettled(refused)) {
      expect(result.status).toBe("rejected");
      const error = (result as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(ReadOnlyError);
      expect(error.code).toBe("READ_ONLY");
      expect(error.message).toMatch(/readOnly: true/);
    }
    // Background work that writes never starts.
    expect(() => store.jobs.work({ queue: "read-only", handler: async () => {} })).toThrow(ReadOnlyError);
    expect(() => store.timers.startDispatcher()).toThrow(ReadOnlyError);
    expect(() => store.startMaintenance({ olderThanMs: 1 })).toThrow(ReadOnlyError);

    await replayed(primary, standby);
    const after = await standby.query(`select count(*)::int as n from "${schema}".kv`, dbOf(standbyUrl));
    expect(after).toEqual(before);
  });

  it("read-only on the primary refuses writes as well, in the server, leaving the data unchanged", async () => {
    const store = await open({ connection: primaryUrl, schema, readOnly: true });
    const count = () => primary.query(`select count(*)::int as n from "${schema}".kv`, dbOf(primaryUrl));
    const before = await count();
    const error = await store.kv.set("read-only", "primary", "v").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReadOnlyError);
    expect((error as ReadOnlyError).sqlState).toBe("25006");
    // A write the caller catches inside its transaction fails there, with the same error (and the
    // transaction, aborted by it, then rolls back).
    let inside: unknown;
    await store
      .transaction(async (tx) => {
        inside = await tx.kv.set("read-only", "primary", "v").catch((e: unknown) => e);
      })
      .catch(() => {});
    expect(inside).toBeInstanceOf(ReadOnlyError);
    expect(await count()).toEqual(before);
  });

  it("refuses to open read-only on a schema that is not migrated, creating nothing", async () => {
    const fresh = uniqueSchema("unmigrated");
    for (const url of [standbyUrl, primaryUrl]) {
      const error = await openStore({ connection: url, schema: fresh, readOnly: true }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toMatch(/holds no flowstore tables.*readOnly: true never migrates/);
    }
    const schemas = await primary.query(
      `select count(*)::int as n from pg_namespace where nspname = '${fresh}'`,
      dbOf(primaryUrl),
    );
    expect(schemas).toEqual([{ n: 0 }]);
    await expect(
      openStore({ connection: standbyUrl, schema, readOnly: true, migrate: true }),
    ).rejects.toThrow(ValidationError);
  });
});

describe("read-only and read replicas on the embedded database", () => {
  let db: PGlite;
  const schema = uniqueSchema("embedded");
  beforeAll(async () => {
    db = await PGlite.create();
    const writer = await openStore({ connection: db, schema });
    await writer.kv.set("embedded", "k", "v");
    await writer.close();
  });
  afterAll(() => db?.close());

  it("opens read-only on a migrated embedded database and writes nothing", async () => {
    const store = await openStore({ connection: db, schema, readOnly: true });
    try {
      expect((await store.kv.list("embedded")).items.map((e) => e.key)).toEqual(["k"]);
      await expect(store.kv.set("embedded", "other", "v")).rejects.toThrow(ReadOnlyError);
      await expect(store.kv.delete("embedded", "k")).rejects.toThrow(ReadOnlyError);
      expect((await store.kv.list("embedded")).items.map((e) => e.key)).toEqual(["k"]);
      expect(() => store.jobs.work({ queue: "q", handler: async () => {} })).toThrow(ReadOnlyError);
    } finally {
      await store.close();
    }
  });

  it("refuses read-only on an embedded database that is not migrated", async () => {
    await expect(openStore({ connection: "memory", readOnly: true })).rejects.toThrow(MigrationError);
  });

  it("refuses readConnection: the embedded database has no replicas", async () => {
    for (const connection of [db, "memory"] as const) {
      const error = await openStore({
        connection,
        schema,
        readConnection: "postgres://replica.invalid/app",
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe("readConnection");
      expect((error as Error).message).toMatch(/embedded database/);
    }
  });
});

/** The database name in a URL. */
function dbOf(url: string): string {
  return new URL(url).pathname.slice(1);
}
