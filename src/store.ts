/** openStore(): opens a driver for the options, checks the connection, migrates, and builds the repositories. */

import { loadBlobNamespace } from "./blobs/namespace.js";
import type { ConnectionFields } from "./config/connection-string.js";
import type { PoolOptions } from "./config/pool.js";
import { readStoreEnvironment } from "./config/store-environment.js";
import { backgroundOf } from "./core/background.js";
import type { BlobBackend } from "./core/blob-backend.js";
import { checkOneOf } from "./core/input.js";
import { consoleLogger, type Logger } from "./core/logger.js";
import { DEFAULT_LIMITS, type PayloadLimits } from "./core/payload.js";
import type { Driver, StatementLogging } from "./db/driver.js";
import { type ConnectionOption, firstContactError, openDriver, serverConnection } from "./db/open.js";
import { shareEmbeddedStore } from "./db/pglite-socket.js";
import { quoteIdentifier, validateSchemaName } from "./db/sql.js";
import { type MigrateResult, migrate, migrationStatus } from "./migrations/runner.js";
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
}

export type QueueCommits = "durable" | "relaxed";

export class Store extends StoreScope {
  /** The queue, and its workers: started on the store, their transactional handlers run in its transactions. */
  declare readonly jobs: WorkingJobs<Transaction>;
  private closed: Promise<void> | undefined;

  constructor(
    readonly driver: Driver,
    readonly schema: string,
    private readonly logger: Logger,
    limits: PayloadLimits = DEFAULT_LIMITS,
    blobBackend?: BlobBackend,
    blobNamespace: { id: string | undefined } = { id: undefined },
    queueCommits: QueueCommits = "durable",
  ) {
    super({
      db: driver,
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
  }

  /** Where the store is connected, password hidden. */
  describe(): string {
    return this.driver.describe();
  }

  /**
   * While this process holds the embedded store in a data directory, other processes (flowstore
   * commands among them) reach it through a unix socket until `close()` (the handle's or the store's).
   * Elsewhere it does nothing.
   */
  async shareEmbedded(): Promise<{ close(): Promise<void> }> {
    const background = backgroundOf(this.driver);
    background.checkOpen();
    const shared = await shareEmbeddedStore(this.driver);
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
    const result = await migrate(this.driver, this.schema, this.logger);
    await loadBlobNamespace(this.context);
    return result;
  }

  /** The applied schema version and the number of migrations this flowstore has that are not applied. */
  migrationStatus(): Promise<{ version: number; pending: number }> {
    return migrationStatus(this.driver, this.schema);
  }

  ping(): Promise<void> {
    return this.driver.ping();
  }

  /**
   * Deletes executions that finished before `finishedBefore`, with their tasks, component state,
   * correlations, timers, jobs (and history), blobs, step checkpoints, streams, event history, signals
   * and owned key-value entries, in batches that each commit on their own; then completed-job history of no execution older
   * than the cut, and expired key-value entries. Running executions and their children are never
   * touched. Returns what it removed.
   */
  prune(options: PruneOptions): Promise<PruneResult> {
    return prune(
      {
        db: this.driver,
        q: this.context.q,
        collectGarbage: () => this.blobs.collectGarbage(),
        sweepExpiredKv: (batchSize) => this.kv.sweepExpired({ batchSize }),
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
      await this.context.blobBackend?.close?.();
    })();
    return this.closed;
  }
}

export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const env = options.env ?? process.env;
  const schema = validateSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const queueCommits = checkOneOf(options.queueCommits ?? "durable", ["durable", "relaxed"], "queueCommits");
  const fromEnv = readStoreEnvironment(env, {
    connection: serverConnection(options.connection),
    s3: options.blobs === undefined,
  });
  const logStatements = options.logStatements ?? fromEnv.logStatements ?? false;
  const logger = options.logger ?? consoleLogger(logStatements !== false ? "debug" : "warn");
  const statements = statementLogging(logStatements, logger);
  const { driver, config } = await openDriver({ ...options, environment: fromEnv, logger, statements });
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  let blobs = options.blobs;
  try {
    // Built here, so closed by store.close(); the SDK module loads only for stores that use S3.
    if (!blobs && fromEnv.s3) blobs = (await import("./blobs/s3.js")).s3(fromEnv.s3);
  } catch (error) {
    await driver.close().catch(() => {});
    throw error;
  }
  const blobNamespace: { id: string | undefined } = { id: undefined };
  const store = new Store(driver, schema, logger, limits, blobs, blobNamespace, queueCommits);
  try {
    await store.ping();
    if (options.migrate ?? true) await store.migrate();
    else await loadBlobNamespace({ driver, q: quoteIdentifier(schema), blobBackend: blobs, blobNamespace });
  } catch (error) {
    await store.close().catch(() => {});
    throw firstContactError(error, config ?? options.connection);
  }
  return store;
}

function statementLogging(
  logStatements: NonNullable<StoreOptions["logStatements"]>,
  logger: Logger,
): StatementLogging | undefined {
  if (logStatements === false) return undefined;
  const values = typeof logStatements === "object" && logStatements.values === true;
  return { logger, values };
}
