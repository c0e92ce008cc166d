/** openStore(): picks the driver, checks the connection, migrates, and builds the repositories. */

import pg from "pg";
import type { BlobBackend } from "./blobs/backend.js";
import {
  type ConnectionConfig,
  type ConnectionFields,
  type PoolOptions,
  resolveConnection,
  resolvePoolOptions,
} from "./config.js";
import type { Driver, Queryable, QueryResult, StatementLogging, TransactionOptions } from "./db/driver.js";
import { isPgPool, NodePostgresDriver } from "./db/node-postgres.js";
import { advertisedSocket, isPglite, openEmbedded, openInMemory, PgliteDriver } from "./db/pglite.js";
import { connectShared, SharedEmbeddedDriver } from "./db/pglite-socket.js";
import { quoteIdentifier, validateSchemaName } from "./db/sql.js";
import { ConnectionError, toStoreError, ValidationError } from "./errors.js";
import { consoleLogger, type Logger } from "./logger.js";
import { type Maintenance, type MaintenanceOptions, startMaintenance } from "./maintenance.js";
import { type MigrateResult, migrate, migrationStatus } from "./migrations/runner.js";
import { DEFAULT_LIMITS, type PayloadLimits } from "./payload.js";
import { Blobs } from "./repositories/blobs.js";
import { ComponentState } from "./repositories/component-state.js";
import { Correlations } from "./repositories/correlations.js";
import { Definitions } from "./repositories/definitions.js";
import { DurableState } from "./repositories/durable-state.js";
import { Executions } from "./repositories/executions.js";
import { Jobs } from "./repositories/jobs.js";
import { KeyValue } from "./repositories/kv.js";
import { Tasks } from "./repositories/tasks.js";
import { Timers } from "./repositories/timers.js";
import { type PruneOptions, type PruneResult, prune } from "./retention.js";

export const DEFAULT_SCHEMA = "flowstore";
export const DEFAULT_DATA_DIR = ".flowstore";

export interface StoreOptions {
  /**
   * Where the data lives. A `postgres://` URL or libpq `key=value` string, connection fields, a pg Pool
   * or a PGlite instance of yours (never closed by us), or `"memory"` for a throwaway embedded database.
   * Unset: `DATABASE_URL` (or `PGHOST` / `POSTGRES_HOST`) if set, else the embedded database in `dataDir`.
   */
  connection?: string | ConnectionFields | pg.Pool | import("@electric-sql/pglite").PGlite;
  /** The embedded database's directory (default `./.flowstore`, or `FLOWSTORE_DATA_DIR`). */
  dataDir?: string;
  /** The schema holding every flowstore table (default `flowstore`). */
  schema?: string;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  pool?: PoolOptions;
  logger?: Logger;
  /**
   * Log each statement's SQL and duration at debug level. Off by default; `FLOWSTORE_LOG_STATEMENTS=1`
   * turns it on. Parameter values are logged only with `{ values: true }`.
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
  /** Where blob content goes (default: chunks in PostgreSQL). */
  blobs?: BlobBackend;
}

/** What every repository is built on: a Queryable (the store, or a transaction) and the quoted schema. */
export interface StoreContext {
  readonly db: Queryable;
  readonly schema: string;
  /** The schema name quoted for SQL text: `"flowstore"`. */
  readonly q: string;
  /** The store's driver, for what a transaction cannot do (LISTEN, workers). */
  readonly driver: Driver;
  readonly logger: Logger;
  readonly limits: PayloadLimits;
  readonly blobBackend: BlobBackend | undefined;
}

/** The same surface on the store and inside a transaction. */
export class StoreScope {
  readonly definitions: Definitions;
  readonly executions: Executions;
  readonly tasks: Tasks;
  readonly componentState: ComponentState;
  readonly correlations: Correlations;
  readonly timers: Timers;
  readonly jobs: Jobs;
  readonly durableState: DurableState;
  readonly kv: KeyValue;
  readonly blobs: Blobs;

  constructor(protected readonly context: StoreContext) {
    this.definitions = new Definitions(context);
    this.executions = new Executions(context);
    this.tasks = new Tasks(context);
    this.componentState = new ComponentState(context);
    this.correlations = new Correlations(context);
    this.timers = new Timers(context);
    this.jobs = new Jobs(context);
    this.durableState = new DurableState(context);
    this.kv = new KeyValue(context);
    this.blobs = new Blobs(context);
  }

  /** Runs your own SQL (values only as `$n` parameters), in the transaction when called on one. */
  async query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    return this.context.db.query<R>(text, values);
  }

  /** Commits when `fn` returns, rolls back when it throws; nested, it is a savepoint. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.context.db.transaction((db) => fn(new StoreScope({ ...this.context, db })), options);
  }
}

export type Transaction = StoreScope;

export class Store extends StoreScope {
  private closed: Promise<void> | undefined;

  constructor(
    readonly driver: Driver,
    readonly schema: string,
    private readonly logger: Logger,
    private readonly connectionConfig: ConnectionConfig | undefined,
    limits: PayloadLimits = DEFAULT_LIMITS,
    blobBackend?: BlobBackend,
  ) {
    super({ db: driver, schema, q: quoteIdentifier(schema), driver, logger, limits, blobBackend });
  }

  /** Where the store is connected, password hidden. */
  describe(): string {
    if (this.connectionConfig) return String(this.connectionConfig);
    if (this.driver instanceof SharedEmbeddedDriver) return this.driver.description;
    if (this.driver instanceof PgliteDriver) {
      const where = this.driver.location;
      return where ? `embedded PGlite (${where === "memory" ? "in memory" : where})` : "a PGlite instance";
    }
    return "a pg Pool";
  }

  migrate(): Promise<MigrateResult> {
    return migrate(this.driver, this.schema, this.logger);
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
   * correlations, timers, jobs (and history) and blobs, in batches that each commit on their own; then
   * completed-job history of no execution older than the cut, and expired key-value entries. Running
   * executions and their children are never touched. Returns what it removed.
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

  /**
   * Prunes on a schedule: at once, then every `intervalMs` (default 10 minutes), whatever finished more
   * than `olderThanMs` ago. Stop it before closing the store.
   */
  startMaintenance(options: MaintenanceOptions): Maintenance {
    return startMaintenance(
      (prune) => this.prune(prune),
      options,
      (error) => this.context.logger.warn({ error: String(error) }, "flowstore maintenance"),
    );
  }

  /** Waits for queries in flight, then closes what the store opened. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= this.driver.close().then(() => this.context.blobBackend?.close?.());
    return this.closed;
  }
}

export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const env = options.env ?? process.env;
  const schema = validateSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const logger = options.logger ?? consoleLogger(statementLoggingWanted(options, env) ? "debug" : "warn");
  const statements = statementLogging(options, env, logger);
  const { driver, config } = await openDriver(options, env, logger, statements);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const store = new Store(driver, schema, logger, config, limits, options.blobs);
  try {
    await store.ping();
    if (options.migrate ?? true) await store.migrate();
  } catch (error) {
    await store.close().catch(() => {});
    if (error instanceof ConnectionError && config) {
      throw new ConnectionError(`cannot reach PostgreSQL at ${config}: ${error.message}`, {
        cause: error.cause ?? error,
        sqlState: error.sqlState,
      });
    }
    throw error;
  }
  return store;
}

function statementLoggingWanted(options: StoreOptions, env: NodeJS.ProcessEnv): boolean {
  if (options.logStatements !== undefined) return options.logStatements !== false;
  return env.FLOWSTORE_LOG_STATEMENTS === "1" || env.FLOWSTORE_LOG_STATEMENTS === "true";
}

function statementLogging(
  options: StoreOptions,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): StatementLogging | undefined {
  if (!statementLoggingWanted(options, env)) return undefined;
  const values = typeof options.logStatements === "object" && options.logStatements.values === true;
  return { logger, values };
}

async function openDriver(
  options: StoreOptions,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  statements: StatementLogging | undefined,
): Promise<{ driver: Driver; config?: ConnectionConfig }> {
  const { connection } = options;
  if (isPgPool(connection)) {
    return {
      driver: new NodePostgresDriver(connection, {
        ownsPool: false,
        secrets: [],
        logger,
        statements,
        preparedStatements: options.preparedStatements,
      }),
    };
  }
  if (isPglite(connection)) {
    await connection.waitReady;
    return { driver: new PgliteDriver(connection, { ownsDatabase: false, statements }) };
  }
  if (connection === "memory" || connection === "memory://")
    return { driver: await openInMemory(statements) };
  if (
    connection !== undefined &&
    typeof connection !== "string" &&
    (typeof connection !== "object" || connection === null)
  ) {
    throw new ValidationError(
      "connection must be a URL, a key=value string, connection fields, a pg Pool or a PGlite instance",
      {
        field: "connection",
      },
    );
  }
  const config = resolveConnection(connection, env);
  if (!config) {
    const dataDir = options.dataDir ?? env.FLOWSTORE_DATA_DIR ?? DEFAULT_DATA_DIR;
    // Held by a live process that serves it on a socket: go through that process.
    const shared = advertisedSocket(dataDir);
    if (shared) return { driver: connectShared(dataDir, shared, logger, statements) };
    return { driver: await openEmbedded(dataDir, statements) };
  }
  const poolOptions = resolvePoolOptions(options.pool);
  return {
    driver: await openPool(config, poolOptions, logger, statements, options.preparedStatements),
    config,
  };
}

/**
 * Builds our pool. With sslmode=prefer (libpq's default) it tries TLS first and, if the server has
 * none, settles on a plain connection, as libpq does; node-postgres alone cannot fall back.
 */
async function openPool(
  config: ConnectionConfig,
  poolOptions: ReturnType<typeof resolvePoolOptions>,
  logger: Logger,
  statements: StatementLogging | undefined,
  preparedStatements: boolean | undefined,
): Promise<NodePostgresDriver> {
  const build = (c: ConnectionConfig) =>
    new NodePostgresDriver(new pg.Pool(c.toPgConfig(poolOptions)), {
      ownsPool: true,
      secrets: c.secrets(),
      logger,
      statements,
      preparedStatements,
    });
  const driver = build(config);
  if (config.sslMode !== "prefer") return driver;
  try {
    await driver.ping();
    return driver;
  } catch (error) {
    await driver.close().catch(() => {});
    const cause = (error as ConnectionError).cause ?? error;
    if (!/does not support SSL/i.test(String((cause as Error).message)))
      throw toStoreError(error, config.secrets());
    return build(config.withoutTls());
  }
}
