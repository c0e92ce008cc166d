/**
 * Options in, a driver out: a pool of the user's, a PGlite instance of the user's, a throwaway in-memory
 * database, our own pool for a DSN or the environment, or the embedded database in a data directory
 * (through the process that holds it, when one does).
 */

import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { ConnectionConfig } from "../config/connection-config.js";
import type { ConnectionFields } from "../config/connection-string.js";
import { resolveConnection } from "../config/environment.js";
import { type PoolOptions, resolvePoolOptions } from "../config/pool.js";
import type { StoreEnvironment } from "../config/store-environment.js";
import { retryWithoutTls } from "../config/tls.js";
import { ConnectionError, toStoreError, ValidationError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Driver, StatementLogging } from "./driver.js";
import { advertisedSocket } from "./embedded-lock.js";
import type { Failover } from "./failover.js";
import { chooseHost } from "./hosts.js";
import { isPgPool, NodePostgresDriver } from "./node-postgres.js";
import { isPglite, openEmbedded, openInMemory, PgliteDriver } from "./pglite.js";
import { connectShared } from "./pglite-socket.js";

export const DEFAULT_DATA_DIR = ".flowstore";

/** Where the data lives: see StoreOptions.connection. */
export type ConnectionOption = string | ConnectionFields | pg.Pool | PGlite;

export interface DriverOptions {
  connection?: ConnectionOption;
  dataDir?: string;
  /** As given: fields left out come from the environment, then the defaults. */
  pool?: PoolOptions;
  preparedStatements?: boolean;
  /** Where LISTEN connects, when not where the pool does (see StoreOptions.listenConnection). */
  listenConnection?: string | ConnectionFields;
  /** What readStoreEnvironment read, asked with `connection: serverConnection(connection)`. */
  environment: Pick<StoreEnvironment, "server" | "dataDir" | "pool">;
  logger: Logger;
  statements: StatementLogging | undefined;
}

/**
 * The connection option when the environment has a say in where to connect: a connection string, fields,
 * or nothing. Null for a pool or PGlite instance of the user's, for memory, and for anything else (which
 * openDriver refuses).
 */
export function serverConnection(connection: unknown): string | ConnectionFields | undefined | null {
  if (connection === undefined) return undefined;
  if (isPgPool(connection) || isPglite(connection) || connection === "memory" || connection === "memory://")
    return null;
  if (typeof connection === "string") return connection;
  return typeof connection === "object" && connection !== null ? (connection as ConnectionFields) : null;
}

export async function openDriver(
  options: DriverOptions,
): Promise<{ driver: Driver; config?: ConnectionConfig }> {
  const { connection, environment, logger, statements } = options;
  const listen =
    options.listenConnection === undefined ? undefined : resolveConnection(options.listenConnection, {});
  if (isPgPool(connection)) {
    return {
      driver: new NodePostgresDriver(connection, {
        ownsPool: false,
        secrets: listen?.secrets() ?? [],
        logger,
        statements,
        preparedStatements: options.preparedStatements,
        listenConfig: listen && listenSettings(listen, resolvePoolOptions(options.pool, environment.pool)),
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
  const config = environment.server;
  if (!config) {
    // Empty is unset, as for DATABASE_URL: "" would resolve to the working directory itself.
    const dataDir = options.dataDir || environment.dataDir || DEFAULT_DATA_DIR;
    // Held by a live process that serves it on a socket: go through that process.
    const shared = advertisedSocket(dataDir);
    if (shared) return { driver: connectShared(dataDir, shared, logger, statements) };
    return { driver: await openEmbedded(dataDir, statements) };
  }
  const poolOptions = resolvePoolOptions(options.pool, environment.pool);
  return {
    driver: await openPool(config, poolOptions, logger, statements, options.preparedStatements, listen),
    config,
  };
}

/**
 * Builds our pool. With sslmode=prefer (libpq's default) it tries TLS first and, if the server has
 * none, settles on a plain connection, as libpq does; node-postgres alone cannot fall back.
 */
/**
 * Every prepared statement's generic plan is an index probe (the prepared-plans test keeps it so), and
 * planning costs more than running. Left to choose, the server planned the claim afresh at every call
 * behind a million ready jobs of other queues, since a custom plan looked cheaper there: that doubled a
 * claim's time. So the store's own connections ask for generic plans when they open, except where
 * prepared statements are off (behind PgBouncer, which would refuse the startup option).
 */
function withGenericPlans(config: pg.PoolConfig, preparedStatements: boolean | undefined): pg.PoolConfig {
  return preparedStatements === false
    ? config
    : { ...config, options: "-c plan_cache_mode=force_generic_plan" };
}

async function openPool(
  config: ConnectionConfig,
  poolOptions: ReturnType<typeof resolvePoolOptions>,
  logger: Logger,
  statements: StatementLogging | undefined,
  preparedStatements: boolean | undefined,
  listen: ConnectionConfig | undefined,
): Promise<NodePostgresDriver> {
  const poolFor = (c: ConnectionConfig, prepared: boolean | undefined) =>
    new pg.Pool(withGenericPlans(c.toPgConfig(poolOptions), prepared));
  // Several hosts (or a role asked of one): the store uses the one chosen, and chooses again when it
  // loses it. Each host's URL tells them apart.
  const failover = (prepared: boolean | undefined): Failover | undefined =>
    config.choosesHost
      ? {
          choose: async () => {
            const chosen = await chooseHost(config, poolOptions);
            return { description: String(chosen), pool: () => poolFor(chosen, prepared) };
          },
        }
      : undefined;
  const build = (c: ConnectionConfig, prepared: boolean | undefined) =>
    new NodePostgresDriver(poolFor(c, prepared), {
      ownsPool: true,
      secrets: [...c.secrets(), ...(listen?.secrets() ?? [])],
      description: String(c),
      logger,
      statements,
      preparedStatements: prepared,
      listenConfig: listen && listenSettings(listen, poolOptions),
      failover: failover(prepared),
    });
  let current = config;
  let prepared = preparedStatements;
  for (;;) {
    // Its error says what each host answered.
    if (current.choosesHost) current = await chooseHost(current, poolOptions);
    const driver = build(current, prepared);
    try {
      await driver.ping();
      return driver;
    } catch (error) {
      await driver.close().catch(() => {});
      const cause = (error as ConnectionError).cause ?? error;
      if (retryWithoutTls(current, String((cause as Error).message))) {
        current = current.withoutTls();
        continue;
      }
      if (prepared !== false && refusesStartupOptions(cause)) {
        logger.info({ connection: String(current) }, POOLER_NOTICE);
        if (!listen) logger.warn({ connection: String(current) }, LISTEN_NOTICE);
        prepared = false;
        continue;
      }
      throw firstContactError(toStoreError(error, current.secrets()), current);
    }
  }
}

/** Where LISTEN connects: the one host given, or the host chosen among several at each connection. */
function listenSettings(
  listen: ConnectionConfig,
  poolOptions: ReturnType<typeof resolvePoolOptions>,
): pg.ClientConfig | (() => Promise<pg.ClientConfig>) {
  if (!listen.choosesHost) return listen.toPgConfig(poolOptions);
  return async () => (await chooseHost(listen, poolOptions)).toPgConfig(poolOptions);
}

/**
 * PgBouncer (and poolers like it) refuses the `options` startup parameter the store opens its
 * connections with, unless told to ignore it. Such a pooler, in transaction pooling, also hands each
 * transaction whichever server connection is free, where a statement prepared on another is missing.
 */
function refusesStartupOptions(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === "08P01" && /unsupported startup parameter/i.test(String(message));
}

const LISTEN_NOTICE =
  "flowstore: behind a pooler in transaction pooling, LISTEN receives no notifications: workers, " +
  "timers and events.wait then wake at their poll interval. Give listenConnection (a connection " +
  "straight to PostgreSQL, past the pooler) for wake-ups at once; in session pooling they work as they are.";

const POOLER_NOTICE =
  "flowstore: the server refused a startup parameter, as PgBouncer does: connecting without it and with " +
  "preparedStatements: false (each statement planned at every call). Pass preparedStatements: false " +
  "to skip this first attempt.";

/** Node's codes for a server that is not there: nothing listens, no route, no answer, no socket file. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOENT"]);

/**
 * A connection error of a store's first contact with a server, saying where it tried: `to` is the
 * resolved configuration (shown as its URL, password hidden) or the `connection` option (said of a pool
 * of the user's). A server that is not there comes with the question to ask first, a database that is
 * not there is said to be missing. Other errors, and those of other connections (PGlite, the embedded
 * store's socket), pass as they are.
 */
export function firstContactError(
  error: unknown,
  to: ConnectionConfig | ConnectionOption | undefined,
): unknown {
  const pool = isPgPool(to);
  if (!(error instanceof ConnectionError) || !(to instanceof ConnectionConfig || pool)) return error;
  const where = pool ? "PostgreSQL through the pool given" : `PostgreSQL at ${to}`;
  const cause = error.cause ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  const timedOut = /timeout exceeded when trying to connect|connection timeout/i.test(error.message);
  const message =
    error.sqlState === "3D000"
      ? `cannot connect to ${where}: ${error.message}; create the database, or connect to one that exists`
      : code === "ENOTFOUND" || code === "EAI_AGAIN"
        ? `cannot reach ${where}: ${error.message}; is the host name right?`
        : (typeof code === "string" && UNREACHABLE.has(code)) || timedOut
          ? `cannot reach ${where}: ${error.message}; is the server running, and listening on that host and port?`
          : `cannot connect to ${where}: ${error.message}`;
  return new ConnectionError(message, { cause, sqlState: error.sqlState });
}
