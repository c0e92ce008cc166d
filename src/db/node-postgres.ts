/** The node-postgres driver: a pg Pool, ours (built from the configuration) or one the user passed in. */

import { createHash } from "node:crypto";
import { inspect } from "node:util";
import pg from "pg";
import { ConnectionError, toStoreError } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  beginStatement,
  DEFAULT_TRANSACTION_RETRIES,
  type Driver,
  type DriverCapabilities,
  InFlight,
  logged,
  type Queryable,
  type QueryOptions,
  type QueryResult,
  SavepointQueue,
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
  private readonly savepoints = new SavepointQueue();

  /** The client and options hold the password: util.inspect shows neither. */
  [inspect.custom](): string {
    return "ClientTransaction { node-postgres }";
  }

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
    return this.savepoints.run(this, fn);
  }
}

/** Retries of the LISTEN connection wait this long at first, doubling up to the maximum. */
const LISTEN_RETRY_MIN_MS = 100;
const LISTEN_RETRY_MAX_MS = 5_000;
/**
 * TCP keepalive on the LISTEN connection, after this much silence: the connection is idle by nature,
 * and one that a firewall, a NAT or a dead server dropped without a word would otherwise look alive
 * for ever, while its notifications go nowhere.
 */
const LISTEN_KEEPALIVE_DELAY_MS = 10_000;

/**
 * One dedicated connection for LISTEN. When it cannot be made, or is lost, it is made again after a
 * backoff (100 ms doubling to 5 s) and subscribes every channel again, until the store closes or no
 * channel is left. Meanwhile notifications are missed, which is why workers poll as well.
 */
class Listener {
  /** The client config holds the password: util.inspect never shows it. */
  [inspect.custom](): string {
    return "Listener { node-postgres }";
  }

  /** The connection, with every channel subscribed. */
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = LISTEN_RETRY_MIN_MS;
  /** True from a failure or a loss until a connection is made again (to log each outage once). */
  private down = false;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private closed = false;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly options: NodePostgresOptions,
  ) {}

  /**
   * Subscribes `onNotify`. Resolves once the channel is subscribed, or once the attempt has failed: the
   * subscription stands either way and takes effect when a retry connects, so the caller always gets
   * its way to unsubscribe.
   */
  async add(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    let set = this.handlers.get(channel);
    const fresh = set === undefined;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(onNotify);
    if (fresh) await this.subscribe(channel);
    return async () => {
      const current = this.handlers.get(channel);
      if (!current?.delete(onNotify) || current.size > 0) return;
      this.handlers.delete(channel);
      await this.client?.query(`unlisten ${quoteChannel(channel)}`).catch(() => {});
    };
  }

  /** LISTEN on `channel`, connecting first if need be. Never rejects: a failure schedules a retry. */
  private async subscribe(channel: string): Promise<void> {
    let client: pg.Client | undefined;
    try {
      client = await this.connect();
      // A connection made just now has subscribed every channel, this one included; once more is harmless.
      if (this.handlers.has(channel)) await client.query(`listen ${quoteChannel(channel)}`);
    } catch (error) {
      // A connection that fails a LISTEN is not to be trusted: start over on a new one.
      if (client && this.client === client) this.lost(client, error as Error);
      else this.retryLater(error);
    }
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** A new connection that subscribes every channel; it becomes `client` only once all are subscribed. */
  private async open(): Promise<pg.Client> {
    const client = new pg.Client({
      ...this.clientConfig,
      // The pool keeps its password out of sight (not enumerable), so the spread leaves it behind.
      password: this.clientConfig.password,
      keepAlive: true,
      keepAliveInitialDelayMillis: this.clientConfig.keepAliveInitialDelayMillis || LISTEN_KEEPALIVE_DELAY_MS,
    });
    client.on("notification", (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? "");
    });
    // Until it becomes `client`, a failure shows as the rejection below; after, these report the loss.
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`listen ${quoteChannel(channel)}`);
    } catch (error) {
      client.end().catch(() => {});
      throw toStoreError(error, this.options.secrets);
    }
    if (this.closed) {
      await client.end().catch(() => {});
      throw new ConnectionError("the store is closed");
    }
    this.client = client;
    this.retryDelayMs = LISTEN_RETRY_MIN_MS;
    if (this.down) {
      this.down = false;
      this.options.logger.info({}, "flowstore: LISTEN connection restored");
    }
    return client;
  }

  private lost(client: pg.Client, error?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    if (this.closed) return;
    this.down = true;
    this.options.logger.warn(
      { error: error?.message ?? "the connection ended" },
      "flowstore: LISTEN connection lost; reconnecting",
    );
    this.retryLater();
  }

  /** Connects again after the current delay, which doubles (up to the maximum) until one succeeds. */
  private retryLater(error?: unknown): void {
    if (error !== undefined && !this.down && !this.closed) {
      this.down = true;
      this.options.logger.warn(
        { error: error instanceof Error ? error.message : String(error) },
        "flowstore: LISTEN connection failed; retrying with backoff (workers poll meanwhile)",
      );
    }
    if (this.closed || this.retryTimer || this.handlers.size === 0) return;
    const delayMs = this.retryDelayMs;
    this.retryDelayMs = Math.min(delayMs * 2, LISTEN_RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || this.client || this.handlers.size === 0) return;
      this.connect().catch((failure: unknown) => this.retryLater(failure));
    }, delayMs);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
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

  /**
   * What util.inspect (and console.log) shows: never the pool, its connection settings or the secrets,
   * which hold the password.
   */
  [inspect.custom](): string {
    return `${this.constructor.name} { ${this.describe()}, up to ${this.maxConnections} connections }`;
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

  get maxConnections(): number {
    // pg's own default when the pool was given no max.
    return (this.pool as unknown as { options: { max?: number } }).options.max ?? 10;
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
