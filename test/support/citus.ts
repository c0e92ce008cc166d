/**
 * A Citus cluster on loopback for tests: a coordinator and two workers, each Debian's PostgreSQL 15
 * with Citus preloaded (built by ../shared/citus/build.sh; Citus is packaged neither for Debian 12 nor
 * on npm), started as system-postgres.ts starts Debian's server (as the postgres user when we are
 * root, in a temporary directory, on a free port). The coordinator is registered as such and holds
 * the workers; tests connect to the coordinator.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { quoteIdentifier } from "../../src/db/sql.js";
import { consoleLogger, openStore, type StoreOptions } from "../../src/index.js";
import { type SystemPostgres, startSystemPostgres } from "../../src/testing/system-postgres.js";

/** Citus 13.0 is built for Debian's PostgreSQL 15 (13.1 and later do not build against 15.18+). */
export const CITUS_PG_BIN = process.env.FLOWSTORE_CITUS_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface CitusCluster {
  /** The coordinator's `postgres` database: where flowstore connects and the schema is distributed. */
  readonly url: string;
  readonly coordinator: SystemPostgres;
  readonly workers: readonly SystemPostgres[];
  /** Citus's version, as `citus_version()` gives it. */
  readonly version: string;
  /** Runs one statement on the coordinator and returns its rows. */
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** Stops the three servers and removes their files. */
  stop(): Promise<void>;
}

/**
 * Why no cluster can start here (no PostgreSQL 15 from Debian, or no Citus built for it), or
 * undefined when one can. For `describe.skipIf`.
 */
export function citusUnavailable(): string | undefined {
  const pgConfig = path.join(CITUS_PG_BIN, "pg_config");
  if (!existsSync(path.join(CITUS_PG_BIN, "postgres")) || !existsSync(pgConfig)) {
    return `no PostgreSQL 15 in ${CITUS_PG_BIN} (apt-get install postgresql-15, or set FLOWSTORE_CITUS_PG_BIN)`;
  }
  const libDir = execFileSync(pgConfig, ["--pkglibdir"], { encoding: "utf8" }).trim();
  if (!existsSync(path.join(libDir, "citus.so"))) {
    return `Citus is not installed for PostgreSQL 15 (no citus.so in ${libDir}): run bash ../shared/citus/build.sh`;
  }
  return undefined;
}

/** Settings of every node: fast and disposable (no fsync), room for Citus's connections between nodes. */
const NODE_SETTINGS = {
  shared_preload_libraries: "citus",
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  max_connections: 200,
  // A transaction that writes on several nodes commits in two phases.
  max_prepared_transactions: 100,
  // Nodes reach each other over loopback TCP, trusted as initdb left it: no TLS between them.
  "citus.node_conninfo": "sslmode=disable",
  // Tests hold one cluster for seconds: no call home.
  "citus.enable_statistics_collection": "off",
};

/**
 * Starts a coordinator and `workers` workers (two by default) and joins them. Returns undefined (with
 * the reason on stderr) when Citus is not installed; `citusUnavailable()` gives the reason up front.
 */
export async function startCitus(
  options: { workers?: number; settings?: Record<string, string | number> } = {},
): Promise<CitusCluster | undefined> {
  const unavailable = citusUnavailable();
  if (unavailable) {
    console.warn(`no Citus cluster: ${unavailable}`);
    return undefined;
  }
  const settings = { ...NODE_SETTINGS, ...options.settings };
  const started = await Promise.allSettled(
    Array.from({ length: 1 + (options.workers ?? 2) }, () =>
      startSystemPostgres(settings, { binDir: CITUS_PG_BIN }),
    ),
  );
  const servers = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const stopAll = async () => {
    await Promise.allSettled(servers.map((server) => server.stop()));
  };
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  const [coordinator, ...workers] = servers as [SystemPostgres, ...SystemPostgres[]];
  // The coordinator's own: one client per statement, on its postgres database.
  const query = (sql: string) => coordinator.query(sql);
  try {
    // The extension on every node before the coordinator adds them (citus_add_node would create it on
    // a worker too, but an explicit create shows a failing library at once, on the node it fails on).
    await Promise.all(servers.map((server) => server.query("create extension citus")));
    await query(`select citus_set_coordinator_host('127.0.0.1', ${coordinator.port})`);
    for (const worker of workers) await query(`select citus_add_node('127.0.0.1', ${worker.port})`);
    const [row] = await query("select citus_version() as version");
    return {
      url: coordinator.url,
      coordinator,
      workers,
      version: String(row?.version),
      query,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The statements of the ```sql block under "Distributing a schema", in order, for `schema`. */
export function documentedCalls(schema = "flowstore"): string[] {
  const doc = readFileSync(new URL("../../docs/scale-out.md", import.meta.url), "utf8");
  const section = doc.split("## Distributing a schema")[1]?.split("\n## ")[0] ?? "";
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('docs/scale-out.md has no sql block under "Distributing a schema"');
  return block
    .split(/;\s*\n/)
    .map((statement) => statement.trim().replace(/;$/, ""))
    .filter((statement) => statement !== "")
    .map((statement) => statement.replaceAll("flowstore.", `${schema}.`));
}

/** Runs the statements in one session (the block's settings hold for the calls after them). */
export async function runInOrder(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) {
      await client.query(statement).catch((error: Error & { code?: string }) => {
        throw Object.assign(new Error(`${statement}: ${error.code} ${error.message}`), { code: error.code });
      });
    }
  } finally {
    await client.end();
  }
}

/** Why a file's Citus tests are skipped (said once on stderr), or undefined when they run. */
export function citusSkipped(what: string): string | undefined {
  const why = citusUnavailable();
  if (why) console.warn(`skipping ${what}: ${why}`);
  return why;
}

/**
 * Shards a table gets where a test runs work on a distributed schema, rather than Citus's 32: two on
 * each worker still spread one table's runs over both, and a schema is distributed in about half a
 * second rather than three (most of the CPU time of the Citus test files went to making shards). The
 * tests of where the document's block puts each table run it on Citus's own default.
 */
export const WORKLOAD_SHARDS = 4;

/** docs/scale-out.md's calls for `schema`, with WORKLOAD_SHARDS a table. */
export function workloadCalls(schema: string): string[] {
  return [`set citus.shard_count = ${WORKLOAD_SHARDS}`, ...documentedCalls(schema)];
}

/**
 * Migrates `schema` as openStore does (with `partitions`, such as its history ranges) and distributes
 * it by docs/scale-out.md's calls, run as written (with WORKLOAD_SHARDS a table for `workload`).
 */
export async function distributeSchema(
  url: string,
  schema: string,
  options: Pick<StoreOptions, "partitions"> & { workload?: boolean } = {},
): Promise<void> {
  const { workload, ...storeOptions } = options;
  const store = await openStore({ connection: url, schema, logger: consoleLogger("warn"), ...storeOptions });
  await store.close();
  await runInOrder(url, workload ? workloadCalls(schema) : documentedCalls(schema));
}

/** distributeSchema with WORKLOAD_SHARDS a table, for a test that runs work on the schema. */
export function distributeForWorkload(
  url: string,
  schema: string,
  options: Pick<StoreOptions, "partitions"> = {},
): Promise<void> {
  return distributeSchema(url, schema, { ...options, workload: true });
}

/**
 * Distributes the schema of a store just opened (and migrated) on the cluster, as docs/scale-out.md
 * says, with WORKLOAD_SHARDS a table. Nothing when the
 * schema is not migrated or already distributed (a test opening a second store on it).
 */
export async function distributeOpened(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ migrated: boolean; distributed: boolean }>(
      `select to_regclass($1) is not null as migrated,
              exists (select 1 from pg_dist_partition where logicalrelid::text = $2) as distributed`,
      [`${quoteIdentifier(schema)}.executions`, `${schema}.executions`],
    );
    if (!rows[0]?.migrated || rows[0].distributed) return;
  } finally {
    await client.end();
  }
  await runInOrder(url, workloadCalls(schema));
}
