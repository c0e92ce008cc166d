/**
 * Migrated schemas made once per run, for the stores the harness opens (harness.ts). A store opened in
 * a fresh schema runs every migration (38 now), which was most of the suite's time (about 0.5 s an open on
 * the server and 1.5 s on PGlite, against a tenth of that to open an up-to-date schema). So the run's
 * global setup makes POOL_SIZE schemas as a default open leaves them (the migrations as `flowstore sql`
 * prints them, which the migration tests show leave nothing for the runner to do, then the store
 * opened once to make its first ranges) in a template: a database on the server, which each file's
 * database is created from, and a data directory for PGlite, which each file's instance is loaded from.
 * The harness's open() then takes the next of these, and opens it as any store is opened.
 *
 * Opens the pool cannot stand for migrate as before: a schema a test names, a store with partition
 * options, read-only or unmigrated opens, a test's own server, a cluster, a file past the pool's size,
 * a run still going after midnight (UTC: a store opened today has ranges from today), and every open
 * of the migrations' own tests (test/migrations/), which check what migrating a fresh schema does.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { createPglite, templateName, writeTemplate } from "../../src/db/template/template.js";
import { openStore } from "../../src/index.js";
import { migrationScript } from "../../src/migrations/runner.js";
import { templateRanges } from "../../src/partitions/index.js";

/** Stores a file can open from the pool, per driver: all but a few files open fewer. */
export const POOL_SIZE = 16;

/** What the harness needs to take schemas from the pool (provided by the global setup). */
export interface SchemaPool {
  /** The day (UTC, YYYY-MM-DD) the pool's ranges were made for. */
  day: string;
  /** The server's template database. */
  database: string;
  /** The clause CREATE DATABASE copies it with: PostgreSQL 15 and later log a copy unless told not to. */
  strategy: string;
  /** A directory holding the PGlite template with the pool's schemas, when the run tests PGlite. */
  pgliteDir?: string;
}

/** The n-th schema of the pool (from 1), named as uniqueSchema names them, for pid 0. */
export function poolSchema(n: number): string {
  return `t_0_${n}`;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Makes the pool's schemas in `url`'s database, a few at once (each takes locks in its own schema only). */
async function migrateSchemas(url: string): Promise<void> {
  let next = 1;
  const worker = async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (let n = next++; n <= POOL_SIZE; n = next++) {
        await client.query(migrationScript(poolSchema(n)));
        // Its first ranges, as a first open makes them.
        const store = await openStore({ connection: url, schema: poolSchema(n) });
        await store.close();
      }
    } finally {
      await client.end();
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

/** The server's template database of the pool, made in the server at `adminUrl`. */
export async function makeServerPool(adminUrl: string): Promise<{ database: string; strategy: string }> {
  const database = "flowstore_schema_pool";
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${database}`);
    const url = new URL(adminUrl);
    url.pathname = `/${database}`;
    await migrateSchemas(url.toString());
    const { rows } = await admin.query<{ v: number }>(
      "select current_setting('server_version_num')::int as v",
    );
    // A logged copy writes every page to the WAL: several times slower for this many relations.
    return { database, strategy: (rows[0]?.v ?? 0) >= 150000 ? "strategy file_copy" : "" };
  } finally {
    await admin.end();
  }
}

/**
 * A directory holding a PGlite template (named as createPglite looks for one) with the pool's schemas
 * beside the store's default one. Kept under .test-data for later runs of the same day and the same
 * source (what an open makes is the source's), as making it is POOL_SIZE migrations on PGlite.
 */
export async function makePglitePool(): Promise<string> {
  const dir = path.resolve(".test-data", "schema-pool", `${today()}-${POOL_SIZE}-${sourceHash()}`);
  const name = templateName();
  if (existsSync(path.join(dir, name))) return dir;
  // With the ranges, so that a machine with no template yet (a fresh one: none shipped beside src/, none
  // in the cache) makes one rather than getting a database without the store's schema.
  const db = await createPglite({ schema: "flowstore", ranges: templateRanges() });
  try {
    for (let n = 1; n <= POOL_SIZE; n++) {
      await db.exec(migrationScript(poolSchema(n)));
      const store = await openStore({ connection: db, schema: poolSchema(n) });
      await store.close();
    }
    // The default schema is left out, as the harness's PGlite has none (so it loads this template as one
    // for that schema, which createPglite keeps). A new log segment before the checkpoint, as the
    // store's own template has: the old one, full of the migrations, is removed rather than kept.
    await db.exec("drop schema flowstore cascade; set wal_recycle = off; select pg_switch_wal(); checkpoint");
    const dump = await db.dumpDataDir("gzip");
    // Older days' and sources' pools are of no more use.
    rmSync(path.dirname(dir), { recursive: true, force: true });
    writeTemplate(dir, name, new Uint8Array(await dump.arrayBuffer()));
  } finally {
    await db.close();
  }
  return dir;
}

/** A hash of the store's source, which decides what an open leaves in a new schema. */
function sourceHash(): string {
  const hash = createHash("sha256");
  const files = readdirSync("src", { recursive: true, encoding: "utf8" }).sort();
  for (const file of files.filter((name) => /\.(ts|sql)$/.test(name))) {
    hash.update(`${file}\n`).update(readFileSync(path.join("src", file)));
  }
  return hash.digest("hex").slice(0, 12);
}
