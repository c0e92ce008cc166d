/** What openStore() takes: where the data lives and how the store behaves. */

import type { ConnectionFields } from "./config/connection-string.js";
import { POOL_KEYS, type PoolOptions } from "./config/pool.js";
import type { BlobBackend } from "./core/blob-backend.js";
import { optionKeys, refuseUnknownKeys } from "./core/input.js";
import type { Logger } from "./core/logger.js";
import type { PayloadLimits } from "./core/payload.js";
import type { ConnectionOption } from "./db/open.js";
import type { ReadConnection } from "./db/read-replicas.js";
import type { PartitionOptions } from "./partitions/index.js";
import type { TelemetryOption, TelemetryOptions } from "./telemetry/index.js";

export interface StoreOptions {
  /**
   * Where the data lives. A `postgres://` URL or libpq `key=value` string, connection fields, a pg Pool
   * or a PGlite instance of yours (never closed by us), or `"memory"` for a throwaway embedded database.
   * Unset: `DATABASE_URL` (or `PGHOST` / `POSTGRES_HOST`) if set, else the embedded database in `dataDir`.
   */
  connection?: ConnectionOption;
  /** The embedded database's directory (default `./.flowstore`, or `FLOWSTORE_DATA_DIR`). */
  dataDir?: string;
  /** The schema holding every flowstore table (default `flowstore`). */
  schema?: string;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Fields left out come from `DATABASE_MAX_CONNECTIONS` / `DATABASE_MIN_CONNECTIONS`, then defaults. */
  pool?: PoolOptions;
  logger?: Logger;
  /**
   * Log each statement's SQL and duration at debug level. Off by default; `FLOWSTORE_LOG_STATEMENTS=1`
   * or `ENABLE_STATEMENT_LOGGING=true` turns it on. Parameter values are logged only with `{ values: true }`.
   */
  logStatements?: boolean | { values?: boolean };
  /** The environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Size limits checked before anything is sent (default: 4 MiB of JSON per field). */
  limits?: Partial<PayloadLimits>;
  /**
   * Prepare hot statements once per connection (default true). Turn off behind PgBouncer in
   * transaction mode, which hands each transaction a different server session.
   */
  preparedStatements?: boolean;
  /**
   * Where LISTEN connects, when not where the store's pool does (a URL, key=value string or fields):
   * straight to PostgreSQL, past a pooler in transaction pooling (PgBouncer's default on many
   * services), where LISTEN receives no notifications and workers would wake only at their poll.
   */
  listenConnection?: string | ConnectionFields;
  /**
   * Replicas (streaming standbys) for reads that tolerate replication lag: a URL, key=value string,
   * connection fields or a pg Pool of yours (never closed by us), or a list of them, read from in
   * turn. Taken as given, as listenConnection is (DATABASE_URL and the PG* variables say where the
   * primary is); opened with the store's pool options, closed by `close()`, never migrated. Refused
   * for a store on the embedded database, which has no replicas.
   *
   * On the store, outside a transaction, these read from a replica: `executions.list`,
   * `executions.iterate`, `executions.countByStatus`, `jobs.list`, `jobs.stats`, `kv.list`,
   * `kv.listPrefixes`, `events.list`, `events.iterate`, the reads of `events.wait` (which still
   * LISTENs on the primary, so a wake-up the replica has not replayed yet waits for the next poll),
   * `definitions.list`, `timers.listAll` and `blobs.list`: the dashboard's overview, lists and counts,
   * and the CLI's list and stats commands with them. Everything else stays on the primary, to see the
   * caller's own writes: reads of one row by id or key (`get`, `find`, `head`, `findByIdempotencyKey`),
   * the reads an engine drives an execution by (tasks, steps, signals, streams, component state,
   * correlations, `timers.list`), claims, and every read in a transaction (`store.transaction(tx =>
   * tx.executions.list())` lists in the transaction). `store.primary` has the same repositories with
   * every read on the primary.
   */
  readConnection?: ReadConnection | ReadConnection[];
  /**
   * Open the store to look, never to write (default false): on a standby, or on any server or embedded
   * database. Nothing is migrated: the schema must be there at this flowstore's version, or the open
   * fails with a MigrationError that says so. Every statement runs in a read-only transaction, so the
   * server refuses a write before it changes anything, and the call fails with a ReadOnlyError naming
   * this option; `migrate()`, `prune()`, `startMaintenance()`, `jobs.work()`,
   * `timers.startDispatcher()` and blob writes refuse before they start.
   */
  readOnly?: boolean;
  /**
   * Where blob content goes. Unset: S3 when `S3_BUCKET` is set (with `S3_ENDPOINT`, `S3_REGION`,
   * `S3_ACCESS_KEY_ID`, `S3_SECRET_ACCESS_KEY`, `S3_USE_PATH_STYLE` and the AWS SDK's own variables),
   * else chunks in PostgreSQL.
   */
  blobs?: BlobBackend;
  /**
   * How the queue's own claims, completions and start marks commit outside a transaction of yours.
   * "durable" (the default): as every other write, as durably as the server's `synchronous_commit`
   * promises, so an acknowledged completion survives a crash or a failover. "relaxed": without
   * waiting for the WAL flush (`synchronous_commit = off` for those statements only), faster on a
   * server that flushes to disk, but a crash or a failover can take back what was acknowledged in its
   * last moments: a completed job then runs again, and a claimed one can be claimed twice.
   */
  queueCommits?: QueueCommits;
  /**
   * How the history tables are partitioned by time (see docs/production.md, History that scales): ranges of
   * `days` each (default 7), created `aheadDays` ahead (default: `days`) when the store migrates and at
   * each prune. Retention drops a range whole once it ends before the cut.
   */
  partitions?: PartitionOptions;
  /**
   * OpenTelemetry spans and metrics (see docs/observability.md), through
   * `@opentelemetry/api`, an optional peer dependency. Unset: on when the API is installed (its
   * registered providers get them; none registered, none recorded), else nothing is loaded. `true`
   * requires the API; `false` turns it off; `{ tracerProvider, meterProvider, queueGauges }` names
   * providers other than the registered ones, or leaves the queue gauges out.
   */
  telemetry?: TelemetryOption;
}

export type QueueCommits = "durable" | "relaxed";

/** How the store reads: from replicas (readConnection), and whether it may write at all (readOnly). */
const STORE_KEYS = optionKeys<StoreOptions>({
  connection: true,
  dataDir: true,
  schema: true,
  migrate: true,
  pool: true,
  logger: true,
  logStatements: true,
  env: true,
  limits: true,
  preparedStatements: true,
  listenConnection: true,
  readConnection: true,
  readOnly: true,
  blobs: true,
  queueCommits: true,
  partitions: true,
  telemetry: true,
});
const LIMITS_KEYS = optionKeys<PayloadLimits>({ jsonBytes: true, offloadAbove: true });
const PARTITIONS_KEYS = optionKeys<PartitionOptions>({ days: true, aheadDays: true });
const TELEMETRY_KEYS = optionKeys<TelemetryOptions>({
  tracerProvider: true,
  meterProvider: true,
  queueGauges: true,
});
const LOG_STATEMENTS_KEYS = optionKeys<{ values?: boolean }>({ values: true });

/**
 * Refuses a key openStore() does not know, at the top level or in the objects it reads, before anything is connected or created: a misspelt
 * `connection` would otherwise open the embedded database in the working directory.
 */
export function refuseUnknownStoreOptions(options: StoreOptions): void {
  if (typeof options !== "object" || options === null) return;
  refuseUnknownKeys(options, STORE_KEYS);
  const nested: Array<[unknown, ReadonlySet<string>, string]> = [
    [options.pool, POOL_KEYS, "pool"],
    [options.limits, LIMITS_KEYS, "limits"],
    [options.partitions, PARTITIONS_KEYS, "partitions"],
    [options.telemetry, TELEMETRY_KEYS, "telemetry"],
    [options.logStatements, LOG_STATEMENTS_KEYS, "logStatements"],
  ];
  for (const [value, known, what] of nested) {
    if (typeof value === "object" && value !== null) refuseUnknownKeys(value, known, what);
  }
}
