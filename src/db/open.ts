/**
 * Options in, a driver out: a pool of the user's, a PGlite instance of the user's, a throwaway in-memory
 * database, our own pool for a DSN or the environment, or the embedded database in a data directory
 * (through the process that holds it, when one does).
 */

import type { PGlite } from "@electric-sql/pglite";
import type pg from "pg";
import type { ConnectionConfig } from "../config/connection-config.js";
import type { ConnectionFields } from "../config/connection-string.js";
import { resolveConnection } from "../config/environment.js";
import { type PoolOptions, resolvePoolOptions } from "../config/pool.js";
import type { StoreEnvironment } from "../config/store-environment.js";
import { ValidationError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Driver, StatementLogging } from "./driver.js";
import { isPgPool } from "./pg-pool.js";
import { isPglite, openInMemory, PgliteDriver } from "./pglite.js";
import { type NewDatabase, TEMPLATE_SCHEMA, type TemplateRanges } from "./template/template.js";

export { firstContactError } from "./first-contact.js";

export const DEFAULT_DATA_DIR = ".flowstore";

/** Where the data lives: see StoreOptions.connection. */
export type ConnectionOption = string | ConnectionFields | pg.Pool | PGlite;

export interface DriverOptions {
  connection?: ConnectionOption;
  dataDir?: string;
  /** The store's schema (unset: the default), for a new embedded database made from the template. */
  schema?: string;
  /** A read-only store migrates nothing: a new embedded database is then made without the store's tables. */
  readOnly?: boolean;
  /** How a new embedded database's history ranges are made and fitted (partitions/ knows how). */
  templateRanges?: TemplateRanges;
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
    const [{ NodePostgresDriver }, { CITUS_NOTICE, isCitus, listenSettings }] = await Promise.all([
      import("./node-postgres.js"),
      import("./open-pool.js"),
    ]);
    const onPool = (citus: boolean) =>
      new NodePostgresDriver(connection, {
        ownsPool: false,
        secrets: listen?.secrets() ?? [],
        logger,
        statements,
        // On Citus, no named prepared statements: their generic plans are what its planner cannot route.
        preparedStatements: citus ? false : options.preparedStatements,
        listenConfig: listen && listenSettings(listen, resolvePoolOptions(options.pool, environment.pool)),
        distributed: citus,
      });
    // The user's pool is theirs to configure, but whether its database has Citus is ours to find. A
    // pool that cannot connect is not Citus here: the store's first query says why it cannot.
    const plain = onPool(false);
    if (!(await isCitus(plain).catch(() => false))) return { driver: plain };
    logger.info({ connection: "a pg Pool" }, CITUS_NOTICE);
    return { driver: onPool(true) };
  }
  if (isPglite(connection)) {
    await connection.waitReady;
    return { driver: new PgliteDriver(connection, { ownsDatabase: false, statements }) };
  }
  if (connection === "memory" || connection === "memory://")
    return { driver: await openInMemory(statements, newDatabase(options)) };
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
    // Through the process that holds it, or opened (and served to others) here.
    const { openEmbeddedStore } = await import("./embedded-open.js");
    return { driver: await openEmbeddedStore(dataDir, statements, logger, newDatabase(options)) };
  }
  const poolOptions = resolvePoolOptions(options.pool, environment.pool);
  const { openPool } = await import("./open-pool.js");
  return {
    driver: await openPool(config, poolOptions, logger, statements, options.preparedStatements, listen),
    config,
  };
}

/**
 * What a new embedded database is made for (see template/template.ts): no schema for a read-only store,
 * which never migrates, so that it finds the database as empty as it is and refuses it.
 */
function newDatabase(options: Pick<DriverOptions, "schema" | "readOnly" | "templateRanges">): NewDatabase {
  return {
    schema: options.readOnly ? null : (options.schema ?? TEMPLATE_SCHEMA),
    ranges: options.templateRanges,
  };
}
