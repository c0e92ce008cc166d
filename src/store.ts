/** openStore(): opens a driver for the options, checks the connection, migrates, and builds the repositories. */

import { loadBlobNamespace } from "./blobs/namespace.js";
import type { ConnectionFields } from "./config/connection-string.js";
import type { PoolOptions } from "./config/pool.js";
import { readStoreEnvironment } from "./config/store-environment.js";
import { backgroundOf } from "./core/background.js";
import type { BlobBackend } from "./core/blob-backend.js";
import { MigrationError, ValidationError } from "./core/errors.js";
import { checkOneOf } from "./core/input.js";
import { consoleLogger, type Logger } from "./core/logger.js";
import { checkLimits, DEFAULT_LIMITS, type PayloadLimits } from "./core/payload.js";
import { refuseOnReadOnly } from "./core/read-only.js";
import type { ConnectionCounts, Driver, StatementLogging } from "./db/driver.js";
import { isPgPool } from "./db/node-postgres.js";
import { type ConnectionOption, firstContactError, openDriver, serverConnection } from "./db/open.js";
import { shareEmbeddedStore } from "./db/pglite-socket.js";
import { ReadOnlyDriver } from "./db/read-only.js";
import { openReadReplicas, type ReadConnection, type ReadReplicas } from "./db/read-replicas.js";
import { quoteIdentifier, validateSchemaName } from "./db/sql.js";
import { type MigrateResult, migrate, migrationStatus } from "./migrations/runner.js";
import {
  checkPartitionOptions,
  ensureRanges,
  type HistoryRange,
  listRanges,
  type PartitionOptions,
  type RangeSize,
  rangeSizes,
} from "./partitions/index.js";
import { type Maintenance, type MaintenanceOptions, startMaintenance } from "./retention/maintenance.js";
import { countPrunable, type PruneOptions, type PruneResult, prune } from "./retention/prune.js";
import { StoreScope, type Transaction } from "./scope.js";
import { WorkingJobs } from "./worker/index.js";

export const DEFAULT_SCHEMA = "flowstore";

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
   * How the history tables are partitioned by time (see the README's History that scales): ranges of
   * `days` each (default 7), created `aheadDays` ahead (default: `days`) when the store migrates and at
   * each prune. Retention drops a range whole once it ends before the cut.
   */
  partitions?: PartitionOptions;
}

export type QueueCommits = "durable" | "relaxed";

/** How the store reads: from replicas (readConnection), and whether it may write at all (readOnly). */
export interface StoreReading {
  replicas?: ReadReplicas;
  readOnly?: boolean;
  /** (Not about reading:) how the history tables' ranges are made. */
  partitions?: PartitionOptions;
}

export class Store extends StoreScope {
  /** The queue, and its workers: started on the store, their transactional handlers run in its transactions. */
  declare readonly jobs: WorkingJobs<Transaction>;
  /** Opened with `readOnly: true`: every write is refused. */
  readonly readOnly: boolean;
  /**
   * The store's repositories with every read on the primary, for a list that must include what was
   * just written; the store itself when it has no readConnection.
   */
  readonly primary: StoreScope;
  private readonly replicas: ReadReplicas | undefined;
  private readonly partitionOptions: PartitionOptions;
  private closed: Promise<void> | undefined;

  constructor(
    readonly driver: Driver,
    readonly schema: string,
    private readonly logger: Logger,
    limits: PayloadLimits = DEFAULT_LIMITS,
    blobBackend?: BlobBackend,
    blobNamespace: { id: string | undefined } = { id: undefined },
    queueCommits: QueueCommits = "durable",
    reading: StoreReading = {},
  ) {
    super({
      db: driver,
      reads: reading.replicas ?? driver,
      readOnly: reading.readOnly === true,
      schema,
      q: quoteIdentifier(schema),
      driver,
      logger,
      limits,
      blobBackend,
      blobNamespace,
      relaxedQueueCommits: queueCommits === "relaxed",
    });
    this.jobs = new WorkingJobs(this.context, (fn) => this.transaction(fn));
    this.readOnly = reading.readOnly === true;
    this.replicas = reading.replicas;
    this.primary = reading.replicas ? new StoreScope({ ...this.context, reads: driver }) : this;
    this.partitionOptions = reading.partitions ?? {};
  }

  /** Where the store is connected (and reads from, with a readConnection), passwords hidden. */
  describe(): string {
    const where = this.driver.describe();
    return this.replicas ? `${where}; reads from ${this.replicas.describe()}` : where;
  }

  /**
   * While this process holds the embedded store in a data directory, other processes (flowstore commands
   * among them) reach it through a unix socket until `close()` (the handle's or the store's); else a no-op.
   */
  async shareEmbedded(): Promise<{ close(): Promise<void> }> {
    const background = backgroundOf(this.driver);
    background.checkOpen();
    // A read-only store shares the database as it is: other processes open stores of their own on it.
    const driver = this.driver instanceof ReadOnlyDriver ? this.driver.inner : this.driver;
    const shared = await shareEmbeddedStore(driver);
    try {
      background.checkOpen(); // the store began to close meanwhile
    } catch (error) {
      await shared.close();
      throw error;
    }
    let closed: Promise<void> | undefined;
    let forget = () => {};
    const close = () => {
      forget();
      closed ??= shared.close();
      return closed;
    };
    forget = background.add({ stop: close });
    return { close };
  }

  async migrate(): Promise<MigrateResult> {
    refuseOnReadOnly(this.context, "migrate()");
    const result = await migrate(this.driver, this.schema, this.logger);
    await loadBlobNamespace(this.context);
    await this.ensurePartitions();
    return result;
  }

  /**
   * Creates the history tables' partitions for the days ahead (`partitions.aheadDays`), if another
   * process has not; returns the ranges made. Opening the store (with migrate) and every prune do it.
   */
  ensurePartitions(): Promise<HistoryRange[]> {
    refuseOnReadOnly(this.context, "ensurePartitions()");
    return ensureRanges(this.context, this.partitionOptions);
  }

  /** The ranges of time the history tables are partitioned by, oldest first. */
  listPartitions(): Promise<HistoryRange[]> {
    return listRanges(this.context);
  }

  /** What each range (and the default partitions) holds: runs (an estimate) and bytes, from the catalog. */
  partitionSizes(): Promise<RangeSize[]> {
    return rangeSizes(this.context);
  }

  /** The applied schema version and the number of migrations this flowstore has that are not applied. */
  migrationStatus(): Promise<{ version: number; pending: number }> {
    return migrationStatus(this.driver, this.schema);
  }

  ping(): Promise<void> {
    return this.driver.ping();
  }

  /** The store's own connections now: its pool's (one for the embedded database). */
  connections(): ConnectionCounts {
    return this.driver.connections();
  }

  /**
   * Deletes executions that finished before `finishedBefore`, with their tasks, component state,
   * correlations, timers, jobs (and history), blobs, step checkpoints, streams, event history, signals
   * and owned key-value entries, in batches that each commit on their own; then completed-job history of no execution older
   * than the cut, and expired key-value entries. Running executions and their children are never
   * touched. Returns what it removed.
   */
  async prune(options: PruneOptions): Promise<PruneResult> {
    // Before anything: pruning removes blob content outside the database too.
    refuseOnReadOnly(this.context, "prune()");
    return prune(
      {
        db: this.driver,
        q: this.context.q,
        logger: this.context.logger,
        collectGarbage: () => this.blobs.collectGarbage(),
        sweepExpiredKv: (batchSize) => this.kv.sweepExpired({ batchSize }),
        ensurePartitions: () => this.ensurePartitions(),
      },
      options,
    );
  }

  /** How many executions `prune(options)` would remove now (a dry run). */
  countPrunable(options: PruneOptions): Promise<number> {
    return countPrunable({ db: this.driver, q: this.context.q }, options);
  }

  /**
   * Prunes on a schedule: at once, then every `intervalMs` (default 10 minutes), whatever finished more
   * than `olderThanMs` ago, until stopped or the store closes. It never keeps the process alive.
   */
  startMaintenance(options: MaintenanceOptions): Maintenance {
    refuseOnReadOnly(this.context, "startMaintenance()");
    const background = backgroundOf(this.driver);
    background.checkOpen();
    let forget = () => {};
    const maintenance = startMaintenance(
      (prune) => this.prune(prune),
      options,
      (error) => this.context.logger.warn({ error: String(error) }, "flowstore maintenance"),
      () => forget(),
    );
    forget = background.add(maintenance);
    return maintenance;
  }

  /**
   * Stops what the store started first: workers (each lets its running handlers finish, up to its
   * stopTimeoutMs, and hands its prefetched jobs back), timer dispatchers, maintenance, the embedded
   * store's socket. Then waits for queries in flight and closes what the store opened. Never rejects
   * for what it stops; safe to call twice.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await backgroundOf(this.driver).stopAll((error) =>
        this.context.logger.warn({ error: String(error) }, "flowstore: stopping at close"),
      );
      await this.driver.close();
      await this.replicas?.close();
      await this.context.blobBackend?.close?.();
    })();
    return this.closed;
  }
}

export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const env = options.env ?? process.env;
  const schema = validateSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const queueCommits = checkOneOf(options.queueCommits ?? "durable", ["durable", "relaxed"], "queueCommits");
  checkPartitionOptions(options.partitions);
  const limits = checkLimits(options.limits);
  const readOnly = options.readOnly === true;
  if (readOnly && options.migrate === true) {
    throw new ValidationError("a store opened with readOnly: true never migrates: leave migrate out", {
      field: "migrate",
    });
  }
  const fromEnv = readStoreEnvironment(env, {
    connection: serverConnection(options.connection),
    s3: options.blobs === undefined,
  });
  const logStatements = options.logStatements ?? fromEnv.logStatements ?? false;
  const logger = options.logger ?? consoleLogger(logStatements !== false ? "debug" : "warn");
  const statements = statementLogging(logStatements, logger);
  const opened = await openDriver({ ...options, environment: fromEnv, logger, statements });
  const { config } = opened;
  const driver = readOnly ? new ReadOnlyDriver(opened.driver) : opened.driver;
  let blobs = options.blobs;
  let replicas: ReadReplicas | undefined;
  try {
    // Built here, so closed by store.close(); the SDK module loads only for stores that use S3.
    if (!blobs && fromEnv.s3) blobs = (await import("./blobs/s3.js")).s3(fromEnv.s3);
    if (options.readConnection !== undefined) {
      const onServer = fromEnv.server !== undefined || isPgPool(options.connection);
      replicas = await openReadReplicas(options.readConnection, onServer, {
        pool: options.pool,
        preparedStatements: options.preparedStatements,
        environment: fromEnv,
        logger,
        statements,
      });
    }
  } catch (error) {
    await driver.close().catch(() => {});
    if (blobs !== options.blobs) await Promise.resolve(blobs?.close?.()).catch(() => {});
    throw error;
  }
  const blobNamespace: { id: string | undefined } = { id: undefined };
  const store = new Store(driver, schema, logger, limits, blobs, blobNamespace, queueCommits, {
    replicas,
    readOnly,
    partitions: options.partitions,
  });
  try {
    await store.ping();
    // Read-only, the blob namespace stays unknown: only writes and garbage sweeps name it.
    if (readOnly) await requireCurrentSchema(driver, schema);
    else if (options.migrate ?? true) await store.migrate();
    else await loadBlobNamespace({ driver, q: quoteIdentifier(schema), blobBackend: blobs, blobNamespace });
  } catch (error) {
    await store.close().catch(() => {});
    throw firstContactError(error, config ?? options.connection);
  }
  return store;
}

/** A read-only store never migrates: the schema must already be at this flowstore's version. */
async function requireCurrentSchema(driver: Driver, schema: string): Promise<void> {
  const { version, pending } = await migrationStatus(driver, schema);
  if (pending === 0) return;
  const needs = `this flowstore needs version ${version + pending}, and a store opened with readOnly: true never migrates`;
  throw new MigrationError(
    version === 0
      ? `schema ${schema} holds no flowstore tables: ${needs}; migrate it first, on the primary (flowstore migrate)`
      : `schema ${schema} is at version ${version}: ${needs}; migrate it first, on the primary (flowstore migrate)`,
  );
}

function statementLogging(
  logStatements: NonNullable<StoreOptions["logStatements"]>,
  logger: Logger,
): StatementLogging | undefined {
  if (logStatements === false) return undefined;
  const values = typeof logStatements === "object" && logStatements.values === true;
  return { logger, values };
}
