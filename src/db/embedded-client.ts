/**
 * A store on the embedded database of another process, through the unix socket that process serves it
 * on (pglite-socket.ts), with node-postgres. PGlite has one session, so one connection; LISTEN there
 * would subscribe the holder's session, so this driver does not listen and workers here poll.
 *
 * When the holder goes (it closed its store, exited or was killed), the next call finds the directory
 * free and opens it here, serving it from then on, or reaches the process that took it first. A call
 * that never got through (its connection was refused, or the closing holder answered that it did not
 * run it) runs again there; a call that was under way when the holder went (killed, or stuck in a
 * transaction past its closing) fails with a ConnectionError saying so, since whether it took effect
 * is unknown.
 */

import pg from "pg";
import { ConnectionError, StoreClosedError, sqlStateOf } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type {
  ConnectionCounts,
  Driver,
  DriverCapabilities,
  Queryable,
  QueryOptions,
  QueryResult,
  StatementLogging,
  TransactionOptions,
  Unlisten,
} from "./driver.js";
import { liveHolder, type SocketAddress } from "./embedded-lock.js";
import { NodePostgresDriver } from "./node-postgres.js";
import { HOLDER_CLOSING } from "./pglite-wire.js";

/** Where the store can be used from now: a driver of this process's own, or the socket of its holder. */
export type Reach = () => Promise<{ held: Driver } | { through: SocketAddress & { pid: number } }>;

/** Connection errors raised before anything was sent: the holder was gone by then. */
const NEVER_CONNECTED = new Set(["ECONNREFUSED", "ENOENT"]);

function neverConnected(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === "string" && NEVER_CONNECTED.has(e.code)) return true;
  }
  return false;
}

function connect(
  root: string,
  address: SocketAddress & { pid: number },
  logger: Logger,
  statements: StatementLogging | undefined,
): Driver {
  const pool = new pg.Pool({
    host: address.host,
    port: address.port,
    user: "postgres",
    database: "postgres",
    max: 1,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 1_000,
  });
  return new NodePostgresDriver(pool, {
    ownsPool: true,
    secrets: [],
    logger,
    statements,
    // Prepared statement names live in the one shared session, where two clients could collide.
    preparedStatements: false,
    description: `embedded PGlite (${root}), through process ${address.pid}`,
  });
}

export class SharedEmbeddedDriver implements Driver {
  readonly kind = "pglite";
  readonly inTransaction = false;
  readonly maxConnections = 1;
  readonly capabilities: DriverCapabilities = {
    multipleConnections: false,
    listen: false,
    concurrentSessions: false,
    distributed: false,
  };
  private current: Driver;
  /** The holder this driver goes through; undefined once this process holds the store itself. */
  private through: number | undefined;
  private lost = false;
  private reopening: Promise<Driver> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly root: string,
    address: SocketAddress & { pid: number },
    private readonly logger: Logger,
    private readonly statements: StatementLogging | undefined,
    private readonly reach: Reach,
  ) {
    this.current = connect(root, address, logger, statements);
    this.through = address.pid;
  }

  get serverVersion(): number | undefined {
    return this.current.serverVersion;
  }

  describe(): string {
    return this.current.describe();
  }

  connections(): ConnectionCounts {
    return this.current.connections();
  }

  query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>> {
    return this.use((driver) => driver.query<R>(text, values, options));
  }

  exec(script: string): Promise<void> {
    return this.use((driver) => driver.exec(script));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> {
    // Run again elsewhere only if the callback never ran: it may have done more than statements.
    let began = false;
    return this.use(
      (driver) =>
        driver.transaction((tx) => {
          began = true;
          return fn(tx);
        }, options),
      () => !began,
    );
  }

  ping(): Promise<void> {
    return this.use((driver) => driver.ping());
  }

  /** Notifications do not come through the socket (see the top of the file): workers here poll. */
  async listen(): Promise<Unlisten> {
    return async () => {};
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.reopening?.catch(() => {});
      await this.current.close();
    })();
    return this.closing;
  }

  /**
   * Runs `call` on the current way to the store; once again on the next if the holder was gone before
   * the call got through, or answered that it did not run it as it closed (and `again` agrees).
   */
  private async use<T>(call: (driver: Driver) => Promise<T>, again = () => true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const driver = await this.target();
      try {
        return await call(driver);
      } catch (error) {
        if (!this.holderGone(driver, error)) throw error;
        const notRun = neverConnected(error) || sqlStateOf(error) === HOLDER_CLOSING;
        if (notRun && attempt === 0 && again()) continue;
        throw new ConnectionError(
          `process ${this.through}, which held the embedded store in ${this.root}, went away during this call, so whether it took effect is unknown; the store's next call carries on without it`,
          { cause: error },
        );
      }
    }
  }

  /** After a failed call through the holder: true (and the next call reopens) when it no longer serves the store. */
  private holderGone(driver: Driver, error: unknown): boolean {
    if (driver !== this.current || this.through === undefined || this.closing) return false;
    const state = sqlStateOf(error);
    if (state !== undefined && state !== HOLDER_CLOSING) return false; // the database answered
    const holder = liveHolder(this.root);
    if (holder?.pid === this.through && holder.socket) return false;
    this.lost = true;
    return true;
  }

  private async target(): Promise<Driver> {
    if (this.closing) throw new StoreClosedError();
    if (!this.lost) return this.current;
    this.reopening ??= (async () => {
      const gone = this.through;
      await this.current.close().catch(() => {});
      const reached = await this.reach();
      if ("held" in reached) {
        this.current = reached.held;
        this.through = undefined;
        this.logger.info({ dataDir: this.root, from: gone }, "flowstore: took the embedded store over");
      } else {
        this.current = connect(this.root, reached.through, this.logger, this.statements);
        this.through = reached.through.pid;
      }
      this.lost = false;
      return this.current;
    })().finally(() => {
      this.reopening = undefined;
    });
    return this.reopening;
  }
}
