/**
 * The store's read connections (StoreOptions.readConnection): one driver per replica, each opened as
 * the store's own pool is (TLS fallback, pooler detection, the same pool options), taking reads in
 * turn. Reads that tolerate replication lag go here; nothing here ever writes, migrates or listens.
 */

import type pg from "pg";
import type { ConnectionFields } from "../config/connection-string.js";
import { resolveConnection } from "../config/environment.js";
import { ConnectionError, ValidationError } from "../core/errors.js";
import type { Driver, Queryable, QueryOptions, QueryResult, TransactionOptions } from "./driver.js";
import { type DriverOptions, openDriver } from "./open.js";
import { isPgPool } from "./pg-pool.js";
import { isPglite } from "./pglite.js";

/** A replica: a URL, a key=value string, connection fields, or a pg Pool of yours (never closed by us). */
export type ReadConnection = string | ConnectionFields | pg.Pool;

export class ReadReplicas implements Queryable {
  readonly inTransaction = false;
  private turn = 0;

  constructor(private readonly drivers: readonly Driver[]) {}

  /** The next replica, round robin. */
  private next(): Driver {
    const driver = this.drivers[this.turn % this.drivers.length] as Driver;
    this.turn = (this.turn + 1) % this.drivers.length;
    return driver;
  }

  query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>> {
    return this.next().query<R>(text, values, options);
  }

  exec(script: string): Promise<void> {
    return this.next().exec(script);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.next().transaction(fn, options);
  }

  /** Where reads go, passwords hidden. */
  describe(): string {
    return this.drivers.map((driver) => driver.describe()).join(", ");
  }

  async close(): Promise<void> {
    await Promise.all(this.drivers.map((driver) => driver.close()));
  }
}

/**
 * Opens a driver per replica. A replica's connection string or fields are taken as they are (the
 * environment's DATABASE_URL and PG* variables say where the primary is, not the replicas), as
 * listenConnection is. Refused for a store on the embedded database, which has no replicas.
 */
export async function openReadReplicas(
  given: ReadConnection | readonly ReadConnection[],
  primaryOnServer: boolean,
  options: Pick<DriverOptions, "pool" | "preparedStatements" | "logger" | "statements"> & {
    environment: Pick<DriverOptions["environment"], "pool">;
  },
): Promise<ReadReplicas> {
  const connections: readonly unknown[] = Array.isArray(given) ? given : [given];
  if (!primaryOnServer) {
    throw new ValidationError(
      "readConnection needs a store on a PostgreSQL server: this one is on the embedded database (PGlite), which has no replicas; leave readConnection out",
      { field: "readConnection" },
    );
  }
  if (connections.length === 0) {
    throw new ValidationError("readConnection is an empty list: give a replica, or leave it out", {
      field: "readConnection",
    });
  }
  for (const connection of connections) checkReplica(connection);
  const drivers: Driver[] = [];
  try {
    for (const connection of connections as readonly ReadConnection[]) {
      const server = isPgPool(connection) ? undefined : resolveConnection(connection, {});
      const { driver } = await openDriver({
        ...options,
        connection,
        environment: { server, dataDir: undefined, pool: options.environment.pool },
      });
      drivers.push(driver);
      // Our own pools were pinged when opened; a pool of yours, not: a replica that is not there fails
      // the open, not the first list.
      if (isPgPool(connection)) await driver.ping();
    }
  } catch (error) {
    await Promise.all(drivers.map((driver) => driver.close().catch(() => {})));
    // Said to be the replica's, not the store's own connection.
    if (error instanceof ConnectionError) {
      throw new ConnectionError(`readConnection: ${error.message}`, {
        cause: error.cause ?? error,
        sqlState: error.sqlState,
      });
    }
    throw error;
  }
  return new ReadReplicas(drivers);
}

function checkReplica(connection: unknown): void {
  const server =
    isPgPool(connection) ||
    (typeof connection === "string" &&
      connection.trim() !== "" &&
      connection !== "memory" &&
      connection !== "memory://") ||
    (typeof connection === "object" && connection !== null && !isPglite(connection));
  if (!server) {
    throw new ValidationError(
      "readConnection must be a replica on a PostgreSQL server (a URL, a key=value string, connection fields or a pg Pool), or a list of them",
      { field: "readConnection" },
    );
  }
}
