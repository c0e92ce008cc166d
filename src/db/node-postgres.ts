/** The node-postgres driver: a pg Pool, ours (built from the configuration) or one the user passed in. */

import { createHash } from "node:crypto";
import { inspect } from "node:util";
import pg from "pg";
import { ConnectionError, StoreClosedError, toStoreError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import {
  beginStatement,
  type ConnectionCounts,
  DEFAULT_TRANSACTION_RETRIES,
  type Driver,
  type DriverCapabilities,
  InFlight,
  logged,
  PING_SQL,
  type Queryable,
  type QueryOptions,
  type QueryResult,
  rolledBackAtCommit,
  SavepointQueue,
  type StatementLogging,
  TransactionLife,
  type TransactionOptions,
  type Unlisten,
  withTransactionRetries,
} from "./driver.js";
import { type ChosenServer, type Failover, ServerSearch } from "./failover.js";
import { Listener } from "./listener.js";
import { handOverIdleAtOnce } from "./pg-pool.js";
import { type ResultTypes, sendStatement, withBinaryByteArrays } from "./pg-send.js";

/**
 * Result parsing that does not depend on the pg module's global type parsers (which a user's own code
 * may have changed): bigint (int8) counts and versions come back as numbers, as they do from PGlite.
 */
const INT8_OID = 20;
const int8 = (value: string) => Number(value);
const resultTypes: ResultTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    return oid === INT8_OID ? int8 : pg.types.getTypeParser(oid, format);
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
  /**
   * Where LISTEN connects, when not where the pool does: past a pooler in transaction pooling, which
   * gives a session's LISTEN no lasting server session to receive notifications on.
   */
  listenConfig?: pg.ClientConfig | (() => Promise<pg.ClientConfig>);
  /** Set where several hosts were given: how to find the one to use now, after a connection is lost. */
  failover?: Failover;
  /** The database is a Citus coordinator (DriverCapabilities.distributed). */
  distributed?: boolean;
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

/**
 * Runs a statement on `runner`: its result, or its error as a StoreError. Written with then() rather
 * than async and await, so that a statement costs one reaction here, not three: every statement of the
 * store comes this way.
 */
function run<R>(
  runner: PgRunner,
  text: string,
  values: readonly unknown[] | undefined,
  options: NodePostgresOptions,
  queryOptions?: QueryOptions,
): Promise<QueryResult<R>> {
  const name =
    queryOptions?.prepare && options.preparedStatements !== false ? statementName(text) : undefined;
  const send = () =>
    sendStatement(runner, text, name, withBinaryByteArrays(values), resultTypes, options.ownsPool);
  let result: Promise<pg.QueryResult | pg.QueryResult[]>;
  try {
    // Not logging, the driver's promise itself, with no logging's promise around it.
    result = options.statements ? logged(options.statements, text, values, send, name !== undefined) : send();
  } catch (error) {
    result = Promise.reject(error);
  }
  return result.then(
    (result) => {
      // A multi-statement script returns one result per statement.
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? 0 };
    },
    (error: unknown) => {
      const code = (error as { code?: unknown }).code;
      if (name !== undefined && (code === "26000" || code === "42P05")) throw sessionChanged(error, options);
      throw toStoreError(error, options.secrets);
    },
  );
}

/**
 * A statement this connection prepared is missing on its server session, or one it has not is there:
 * the session changed under the connection, as a pooler in transaction pooling (PgBouncer) changes it
 * between transactions. Every prepared statement would fail so, at random: said once, clearly.
 */
function sessionChanged(error: unknown, options: NodePostgresOptions): ConnectionError {
  const { message } = toStoreError(error, options.secrets);
  return new ConnectionError(
    `${message}: the server session changed under a prepared statement, as it does behind a pooler in ` +
      "transaction pooling (PgBouncer); open the store with preparedStatements: false",
    { cause: error, sqlState: (error as { code?: string }).code },
  );
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
    private readonly life: TransactionLife,
  ) {}

  query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    queryOptions?: QueryOptions,
  ): Promise<QueryResult<R>> {
    return this.life.track(() => run<R>(this.client, text, values, this.options, queryOptions));
  }

  async exec(script: string): Promise<void> {
    await this.life.track(() => run(this.client, script, undefined, this.options));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.life.check();
    return this.savepoints.run(this, fn);
  }
}

export class NodePostgresDriver implements Driver {
  readonly kind = "node-postgres";
  readonly capabilities: DriverCapabilities;
  readonly inTransaction = false;
  private readonly inFlight = new InFlight();
  private readonly listener: Listener;
  private closing: Promise<void> | undefined;
  private description: string | undefined;
  /** Set where several hosts were given: finds the server to use when the one in use fails. */
  private readonly search: ServerSearch | undefined;
  /** Pools of servers left behind, ending once their last client is back. */
  private readonly leftBehind = new Set<Promise<void>>();

  constructor(
    private pool: pg.Pool,
    private readonly options: NodePostgresOptions,
  ) {
    this.capabilities = {
      multipleConnections: true,
      listen: true,
      concurrentSessions: true,
      distributed: options.distributed === true,
    };
    this.description = options.description;
    // The pool's own settings say how to open a connection (the current pool's, after a failover); the
    // listener opens its own with them.
    this.listener = new Listener(
      options.listenConfig ?? (() => Promise.resolve(this.poolSettings())),
      options,
    );
    this.watch(pool);
    this.search =
      options.failover &&
      new ServerSearch(
        options.failover,
        options.logger,
        () => this.description,
        (chosen) => this.moveTo(chosen),
      );
  }

  private poolSettings(): pg.ClientConfig {
    return (this.pool as unknown as { options: pg.ClientConfig }).options;
  }

  private watch(pool: pg.Pool): void {
    if (!this.options.ownsPool) return;
    handOverIdleAtOnce(pool);
    // An idle client that loses its server (a restart) must not crash the process; the pool drops it.
    pool.on("error", (error) =>
      this.options.logger.warn({ error: error.message }, "flowstore: idle connection lost"),
    );
    // A client the pool hands to a checkout that waited for it has no listener until the caller of that
    // checkout adds one, a moment later; a server ending the connection right then (its FATAL error in
    // the packet that freed the client, as the holder of an embedded store sends when it closes it)
    // would crash the process. Heard here, the error leaves the client unusable: its next call fails.
    pool.on("connect", (client) => client.on("error", () => {}));
  }

  /** Moves to another server: a new pool, the old one ended once its clients are back, LISTEN there too. */
  private moveTo(chosen: ChosenServer): void {
    const old = this.pool;
    this.pool = chosen.pool();
    this.watch(this.pool);
    this.description = chosen.description;
    const ending: Promise<void> = old
      .end()
      .catch(() => {})
      .finally(() => this.leftBehind.delete(ending));
    this.leftBehind.add(ending);
    this.listener.reconnect();
  }

  private ensureOpen(): void {
    if (this.closing) throw new StoreClosedError();
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
    return this.inFlight.track(this.followed(run<R>(this.pool, text, values, this.options, queryOptions)));
  }

  /** With several hosts, a failure may start the search for the server to use now (see ServerSearch). */
  private followed<T>(result: Promise<T>, readOnly = false): Promise<T> {
    const search = this.search;
    if (!search) return result;
    return result.catch((error: unknown) => {
      throw search.failed(error, readOnly);
    });
  }

  async exec(script: string): Promise<void> {
    await this.query(script);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.ensureOpen();
    // On Citus, a transaction that reached a distributed table's shards over several connections
    // per node cannot then write a reference table its foreign keys lead to (definitions): Citus
    // refuses it ("there was a parallel operation on a distributed table"). One connection per node,
    // from the start, lets any call follow any other in a transaction.
    const begin = this.options.distributed
      ? `${beginStatement(options)}; set local citus.multi_shard_modify_mode to 'sequential'`
      : beginStatement(options);
    return this.inFlight.track(
      this.followed(
        withTransactionRetries(() => this.attempt(begin, fn), options.retries ?? DEFAULT_TRANSACTION_RETRIES),
        options.readOnly === true,
      ),
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
    const life = new TransactionLife();
    try {
      const tx = new ClientTransaction(client, this.options, life);
      await tx.query(begin);
      try {
        const result = await fn(tx);
        await life.settle();
        life.end();
        const outcome = await logged(this.options.statements, "commit", undefined, () =>
          client.query("commit"),
        ).catch((error: unknown) => {
          throw toStoreError(error, this.options.secrets);
        });
        if (outcome.command === "ROLLBACK") throw rolledBackAtCommit();
        return result;
      } catch (error) {
        await life.settle();
        life.end();
        try {
          await client.query("rollback");
        } catch (rollbackError) {
          // The connection is gone; do not hand it back to the pool.
          broken = rollbackError as Error;
        }
        throw error;
      }
    } finally {
      life.end();
      client.off("error", onLost);
      client.release(broken);
    }
  }

  listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    this.ensureOpen();
    return this.listener.add(channel, onNotify);
  }

  connections(): ConnectionCounts {
    const { totalCount, idleCount, waitingCount } = this.pool;
    return { max: this.maxConnections, open: totalCount, idle: idleCount, waiting: waitingCount };
  }

  get maxConnections(): number {
    // pg's own default when the pool was given no max.
    return (this.pool as unknown as { options: { max?: number } }).options.max ?? 10;
  }

  describe(): string {
    return this.description ?? "a pg Pool";
  }

  serverVersion: number | undefined;

  async ping(): Promise<void> {
    const ping = async () => {
      const { rows } = await this.query<{ version: number }>(PING_SQL);
      this.serverVersion = rows[0]?.version;
    };
    try {
      await ping();
    } catch (error) {
      if (!(error instanceof ConnectionError) || this.closing) throw error;
      // The failed connection has been removed from the pool; the next checkout opens a fresh one.
      await ping();
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const searched = this.search?.stop();
      await this.inFlight.idle();
      await this.listener.close();
      await searched;
      if (this.options.ownsPool) await this.pool.end();
      await Promise.all(this.leftBehind);
    })();
    return this.closing;
  }
}
