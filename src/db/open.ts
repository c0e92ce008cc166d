/**
 * Options in, a driver out, in two steps. planConnection resolves the options and the environment into
 * one plan (which database, where, with which pool, LISTEN and plan settings), checking them all before
 * anything connects; openPlanned opens what the plan says: a pool of the user's, a PGlite instance of
 * the user's, a throwaway in-memory database, our own pool for a server (open-pool.ts, which finds on
 * the way only what a connection can tell: which of several hosts, TLS or not, a pooler, Citus), or the
 * embedded database in a data directory (through the process that holds it, when one does). A reader
 * follows the options down through the plan, and never back up to config/.
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
import type { ResolvedPool, ServerPlan } from "./open-pool.js";
import { isPgPool } from "./pg-pool.js";
import { isPglite, openInMemory, PgliteDriver } from "./pglite.js";
import { type NewDatabase, TEMPLATE_SCHEMA, type TemplateRanges } from "./template/template.js";

export { firstContactError } from "./first-contact.js";

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

/** A driver for the options: the plan they resolve to, opened. */
export async function openDriver(
  options: DriverOptions,
): Promise<{ driver: Driver; config?: ConnectionConfig }> {
  return openPlanned(planConnection(options), options.logger, options.statements);
}

export const DEFAULT_DATA_DIR = ".flowstore";

/** What openPlanned opens. */
export type ConnectionPlan =
  /** A pg Pool of the user's: theirs to configure; whether its database has Citus is found on it. */
  | {
      kind: "user-pool";
      pool: pg.Pool;
      preparedStatements: boolean | undefined;
      listen: ConnectionConfig | undefined;
      poolSettings: ResolvedPool;
    }
  /** A PGlite instance of the user's, used as it is. */
  | { kind: "user-pglite"; pglite: PGlite }
  /** A throwaway database in memory, made from the template. */
  | { kind: "memory"; database: NewDatabase }
  /** The embedded database in a directory, through the process that holds it, or opened here. */
  | { kind: "embedded"; dataDir: string; database: NewDatabase }
  /** Our own pool for a server. */
  | ({ kind: "server" } & ServerPlan);

/** The options and environment as openDriver's caller gives them, without what opening needs. */
export type PlanOptions = Omit<DriverOptions, "logger" | "statements">;

/** Resolves the options and the environment into a plan; a ValidationError for what cannot be opened. */
export function planConnection(options: PlanOptions): ConnectionPlan {
  const { connection, environment } = options;
  const listen =
    options.listenConnection === undefined ? undefined : resolveConnection(options.listenConnection, {});
  if (isPgPool(connection)) {
    return {
      kind: "user-pool",
      pool: connection,
      preparedStatements: options.preparedStatements,
      listen,
      poolSettings: resolvePoolOptions(options.pool, environment.pool),
    };
  }
  if (isPglite(connection)) return { kind: "user-pglite", pglite: connection };
  if (connection === "memory" || connection === "memory://") {
    return { kind: "memory", database: newDatabase(options) };
  }
  if (
    connection !== undefined &&
    typeof connection !== "string" &&
    (typeof connection !== "object" || connection === null)
  ) {
    throw new ValidationError(
      "connection must be a URL, a key=value string, connection fields, a pg Pool or a PGlite instance",
      { field: "connection" },
    );
  }
  const config = environment.server;
  if (!config) {
    // Empty is unset, as for DATABASE_URL: "" would resolve to the working directory itself.
    const dataDir = options.dataDir || environment.dataDir || DEFAULT_DATA_DIR;
    return { kind: "embedded", dataDir, database: newDatabase(options) };
  }
  return {
    kind: "server",
    config,
    poolSettings: resolvePoolOptions(options.pool, environment.pool),
    preparedStatements: options.preparedStatements,
    listen,
  };
}

/** Opens what the plan says. `config` is the server's, for a server. */
export async function openPlanned(
  plan: ConnectionPlan,
  logger: Logger,
  statements: StatementLogging | undefined,
): Promise<{ driver: Driver; config?: ConnectionConfig }> {
  switch (plan.kind) {
    case "user-pool":
      return { driver: await openUserPool(plan, logger, statements) };
    case "user-pglite":
      await plan.pglite.waitReady;
      return { driver: new PgliteDriver(plan.pglite, { ownsDatabase: false, statements }) };
    case "memory":
      return { driver: await openInMemory(statements, plan.database) };
    case "embedded": {
      const { openEmbeddedStore } = await import("./embedded-open.js");
      return { driver: await openEmbeddedStore(plan.dataDir, statements, logger, plan.database) };
    }
    case "server": {
      const { openPool } = await import("./open-pool.js");
      return { driver: await openPool(plan, logger, statements), config: plan.config };
    }
  }
}

/** A driver on the user's pool, told whether its database has Citus (asked on the pool). */
async function openUserPool(
  plan: Extract<ConnectionPlan, { kind: "user-pool" }>,
  logger: Logger,
  statements: StatementLogging | undefined,
): Promise<Driver> {
  const [{ NodePostgresDriver }, { CITUS_NOTICE, isCitus, listenSettings }] = await Promise.all([
    import("./node-postgres.js"),
    import("./open-pool.js"),
  ]);
  const onPool = (citus: boolean) =>
    new NodePostgresDriver(plan.pool, {
      ownsPool: false,
      secrets: plan.listen?.secrets() ?? [],
      logger,
      statements,
      // On Citus, no named prepared statements: their generic plans are what its planner cannot route.
      preparedStatements: citus ? false : plan.preparedStatements,
      listenConfig: plan.listen && listenSettings(plan.listen, plan.poolSettings),
      distributed: citus,
    });
  // A pool that cannot connect is not Citus here: the store's first query says why it cannot.
  const plain = onPool(false);
  if (!(await isCitus(plain).catch(() => false))) return plain;
  logger.info({ connection: "a pg Pool" }, CITUS_NOTICE);
  return onPool(true);
}

/**
 * What a new embedded database is made for (see template/template.ts): no schema for a read-only store,
 * which never migrates, so that it finds the database as empty as it is and refuses it.
 */
function newDatabase(options: Pick<PlanOptions, "schema" | "readOnly" | "templateRanges">): NewDatabase {
  return {
    schema: options.readOnly ? null : (options.schema ?? TEMPLATE_SCHEMA),
    ranges: options.templateRanges,
  };
}
