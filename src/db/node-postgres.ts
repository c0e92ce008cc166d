/** The node-postgres driver: a pg Pool, ours (built from the configuration) or one the user passed in. */

import { createHash } from "node:crypto";
import pg from "pg";
import { ConnectionError, toStoreError } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  beginStatement,
  DEFAULT_TRANSACTION_RETRIES,
  type Driver,
  type DriverCapabilities,
  InFlight,
  inSavepoint,
  logged,
  type Queryable,
  type QueryOptions,
  type QueryResult,
  type StatementLogging,
  type TransactionOptions,
  type Unlisten,
  withTransactionRetries,
} from "./driver.js";

/**
 * Result parsing that does not depend on the pg module's global type parsers (which a user's own code
 * may have changed): bigint (int8) counts and versions come back as numbers, as they do from PGlite.
 */
const INT8_OID = 20;
const resultTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface NodePostgresOptions {
  /** False when the user gave us the pool: we then never end it. */
  ownsPool: boolean;
  /** Strings removed from every error message (the password). */
  secrets: readonly string[];
  logger: Logger;
  statements?: StatementLogging;
  /**
   * Use named prepared statements for hot queries (default true). Off where the server session is not
   * ours alone: PgBouncer in transaction mode, or another process's embedded store.
   */
  preparedStatements?: boolean;
  /** Where the pool connects, password hidden (default: "a pg Pool", for a pool the user gave). */
  description?: string;
}

type PgRunner = Pick<pg.Pool | pg.PoolClient, "query">;

/** A prepared statement's name: derived from its text, so one text always gets one name. */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `flowstore_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

async function run<R>(
  runner: PgRunner,
  text: string,
  values: readonly unknown[] | undefined,
  options: NodePostgresOptions,
  queryOptions?: QueryOptions,
): Promise<QueryResult<R>> {
  try {
    const name =
      queryOptions?.prepare && options.preparedStatements !== false ? statementName(text) : undefined;
    const result = await logged(options.statements, text, values, () =>
      runner.query({ text, name, values: values as unknown[] | undefined, types: resultTypes }),
    );
    // A multi-statement script returns one result per statement.
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? 0 };
  } catch (error) {
    throw toStoreError(error, options.secrets);
  }
}

/** A checked-out client inside BEGIN; nested transactions are savepoints on the same client. */
class ClientTransaction implements Queryable {
  readonly inTransaction = true;
  private savepoints = 0;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly options: NodePostgresOptions,
  ) {}

  query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    queryOptions?: QueryOptions,
  ): Promise<QueryResult<R>> {
    return run<R>(this.client, text, values, this.options, queryOptions);
  }

  async exec(script: string): Promise<void> {
    await run(this.client, script, undefined, this.options);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return inSavepoint(this, `flowstore_sp_${++this.savepoints}`, fn);
  }
}

/** One dedicated connection for LISTEN, re-established (and re-subscribed) when it drops. */
class Listener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private closed = false;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly options: NodePostgresOptions,
  ) {}

  async add(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      const client = await this.connect();
      await client.query(`listen ${quoteChannel(channel)}`);
    }
    set.add(onNotify);
    return async () => {
      const current = this.handlers.get(channel);
      if (!current?.delete(onNotify) || current.size > 0) return;
      this.handlers.delete(channel);
      await this.client?.query(`unlisten ${quoteChannel(channel)}`).catch(() => {});
    };
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client(this.clientConfig);
      client.on("notification", (message) => {
        for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? "");
      });
      client.on("error", (error) => this.lost(client, error));
      client.on("end", () => this.lost(client));
      try {
        await client.connect();
      } catch (error) {
        this.connecting = undefined;
        throw toStoreError(error, this.options.secrets);
      }
      for (const channel of this.handlers.keys()) await client.query(`listen ${quoteChannel(channel)}`);
      this.client = client;
      this.connecting = undefined;
      return client;
    })();
    return this.connecting;
  }

  private lost(client: pg.Client, error?: Error): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    if (error)
      this.options.logger.warn({ error: error.message }, "flowstore: LISTEN connection lost; reconnecting");
    client.end().catch(() => {});
    this.reconnect(100);
  }

  private reconnect(delayMs: number): void {
    if (this.closed || this.handlers.size === 0) return;
    setTimeout(() => {
      if (this.closed || this.client) return;
      this.connect().catch(() => this.reconnect(Math.min(delayMs * 2, 5000)));
    }, delayMs).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}

/** Channel names are ours (derived from the validated schema name), but quote them all the same. */
function quoteChannel(channel: string): string {
  return `"${channel.replaceAll('"', '""')}"`;
}

export class NodePostgresDriver implements Driver {
  readonly kind = "node-postgres";
  readonly capabilities: DriverCapabilities = {
    multipleConnections: true,
    listen: true,
    concurrentSessions: true,
  };
  readonly inTransaction = false;
  private readonly inFlight = new InFlight();
  private readonly listener: Listener;
  private closing: Promise<void> | undefined;

  constructor(
    readonly pool: pg.Pool,
    private readonly options: NodePostgresOptions,
  ) {
    // The pool's own settings say how to open a connection; the listener opens its own with them.
    this.listener = new Listener((pool as unknown as { options: pg.ClientConfig }).options, options);
    if (options.ownsPool) {
      // An idle client that loses its server (a restart) must not crash the process; the pool drops it.
      pool.on("error", (error) =>
        options.logger.warn({ error: error.message }, "flowstore: idle connection lost"),
      );
    }
  }

  private ensureOpen(): void {
    if (this.closing) throw new ConnectionError("the store is closed");
  }

  query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    queryOptions?: QueryOptions,
  ): Promise<QueryResult<R>> {
    this.ensureOpen();
    return this.inFlight.track(run<R>(this.pool, text, values, this.options, queryOptions));
  }

  async exec(script: string): Promise<void> {
    await this.query(script);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.ensureOpen();
    const begin = beginStatement(options);
    return this.inFlight.track(
      withTransactionRetries(() => this.attempt(begin, fn), options.retries ?? DEFAULT_TRANSACTION_RETRIES),
    );
  }

  private async attempt<T>(begin: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw toStoreError(error, this.options.secrets);
    }
    let broken: Error | undefined;
    // A checked-out client whose connection dies emits 'error'; unheard, that would crash the process.
    // The failing query rejects as well, which is how the caller learns of it.
    const onLost = (error: Error) => {
      broken = error;
    };
    client.on("error", onLost);
    try {
      const tx = new ClientTransaction(client, this.options);
      await tx.query(begin);
      try {
        const result = await fn(tx);
        await tx.query("commit");
        return result;
      } catch (error) {
        try {
          await client.query("rollback");
        } catch (rollbackError) {
          // The connection is gone; do not hand it back to the pool.
          broken = rollbackError as Error;
        }
        throw error;
      }
    } finally {
      client.off("error", onLost);
      client.release(broken);
    }
  }

  listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    this.ensureOpen();
    return this.listener.add(channel, onNotify);
  }

  describe(): string {
    return this.options.description ?? "a pg Pool";
  }

  async ping(): Promise<void> {
    try {
      await this.query("select 1");
    } catch (error) {
      if (!(error instanceof ConnectionError) || this.closing) throw error;
      // The failed connection has been removed from the pool; the next checkout opens a fresh one.
      await this.query("select 1");
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.inFlight.idle();
      await this.listener.close();
      if (this.options.ownsPool) await this.pool.end();
    })();
    return this.closing;
  }
}

/** True for a pg Pool from any copy of the pg module (instanceof fails across copies). */
export function isPgPool(value: unknown): value is pg.Pool {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as pg.Pool).connect === "function" &&
    typeof (value as pg.Pool).query === "function" &&
    typeof (value as pg.Pool).totalCount === "number"
  );
}
