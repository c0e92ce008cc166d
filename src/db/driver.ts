/**
 * The one interface repositories talk to. A driver owns connections and transactions; a repository
 * only ever sees a Queryable, so the same SQL runs on a pool, a pool client in a transaction, or PGlite.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { StoreError, sqlStateOf, TransactionEndedError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";

export interface QueryResult<R> {
  rows: R[];
  /** Rows returned by a SELECT, or changed by an INSERT/UPDATE/DELETE. */
  rowCount: number;
}

export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  isolation?: IsolationLevel;
  readOnly?: boolean;
  /**
   * How many times a top-level transaction is run again after a serialization failure (40001) or a
   * deadlock (40P01). The callback runs once per attempt, so it should only touch the database.
   * Default 3; 0 turns retries off. Ignored for nested transactions (savepoints).
   */
  retries?: number;
}

export interface QueryOptions {
  /**
   * Hot statements with a fixed text: prepared once per connection (a named statement) where the driver
   * can, so the server parses and plans them once. Never for SQL built from user input.
   */
  prepare?: boolean;
}

export interface Queryable {
  query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /** A transaction; called inside one it becomes a savepoint. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** True inside a transaction (or savepoint). */
  readonly inTransaction: boolean;
}

export interface DriverCapabilities {
  /** More than one query can run at a time (a pool); false for PGlite's single connection. */
  readonly multipleConnections: boolean;
  /** LISTEN/NOTIFY reaches this process. */
  readonly listen: boolean;
  /** Row locks and SKIP LOCKED can be contended by other sessions. */
  readonly concurrentSessions: boolean;
  /**
   * Citus distributes the tables: one statement over many runs' rows reaches every node, so the store
   * writes each run alone (one node each) rather than batch writes of runs together.
   */
  readonly distributed: boolean;
}

export type Unlisten = () => Promise<void>;

export interface Driver extends Queryable {
  readonly kind: "node-postgres" | "pglite";
  readonly capabilities: DriverCapabilities;
  /** How many connections it may hold at once (a pool's max; 1 for PGlite). */
  readonly maxConnections: number;
  /**
   * Calls `onNotify` with each payload NOTIFY sends on `channel` until the returned function is called;
   * and with "" when notifications may have been missed (the LISTEN connection was made again).
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten>;
  /** A round trip to the server; on a pool it retries once, since a dead connection is dropped on error. */
  ping(): Promise<void>;
  /**
   * The server's version as its last ping read it (server_version_num: 170004 for 17.4); undefined
   * before the first. A store pings as it opens.
   */
  readonly serverVersion: number | undefined;
  /** Where the data lives, for messages; never with a password. */
  describe(): string;
  /** Waits for queries in flight, then closes what the driver opened (never a pool or PGlite it was given). */
  close(): Promise<void>;
  /** Its connections now: for metrics and the dashboard. */
  connections(): ConnectionCounts;
}

/** A driver's connections at one moment. */
export interface ConnectionCounts {
  /** The most it may hold (a pool's max; 1 for PGlite). */
  max: number;
  /** Open now, busy or idle. */
  open: number;
  /** Open and not in use. */
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
}

export interface StatementLogging {
  logger: Logger;
  /** Also log parameter values. Off unless asked, since values may hold personal data. */
  values: boolean;
}

export const DEFAULT_TRANSACTION_RETRIES = 3;

const RETRYABLE = new Set(["40001", "40P01"]);

function isRetryable(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state !== undefined && RETRYABLE.has(state);
}

/** Runs `attempt` again (after a short, jittered pause) while it fails with a serialization failure or deadlock. */
export async function withTransactionRetries<T>(attempt: () => Promise<T>, retries: number): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= retries || !isRetryable(error)) throw error;
      const pauseMs = Math.min(200, 5 * 2 ** n) * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}

/** A nested transaction: a savepoint released on success, rolled back to (alone) on failure. */
export async function inSavepoint<T>(
  tx: Queryable,
  name: string,
  fn: (tx: Queryable) => Promise<T>,
): Promise<T> {
  await tx.query(`savepoint ${name}`);
  try {
    const result = await fn(tx);
    await tx.query(`release savepoint ${name}`);
    return result;
  } catch (error) {
    await tx.query(`rollback to savepoint ${name}`);
    throw error;
  }
}

/** The savepoint level the code running now is inside of, per physical transaction. */
const currentLevel = new AsyncLocalStorage<SavepointQueue>();

/**
 * The nested transactions of one transaction. Savepoints form a stack: two opened at once by calls in
 * parallel (`Promise.all` of two repository calls) would release or roll back each other's. So nested
 * transactions started at one level run one after the other; one started inside a savepoint (through
 * any handle on the same transaction) nests in it, and never waits for the savepoint it is inside of.
 */
export class SavepointQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly names: { count: number };

  constructor(private readonly root?: SavepointQueue) {
    this.names = root ? root.names : { count: 0 };
  }

  run<T>(tx: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const root = this.root ?? this;
    const here = currentLevel.getStore();
    const level = here && (here.root ?? here) === root ? here : this;
    const turn = level.tail.then(() => {
      const name = `flowstore_sp_${++level.names.count}`;
      return currentLevel.run(new SavepointQueue(root), () => inSavepoint(tx, name, fn));
    });
    level.tail = turn.catch(() => {});
    return turn;
  }
}

/**
 * The life of one top-level transaction's handle. While the callback runs, its statements go on the
 * transaction's connection. When the callback returns, statements still running (a call that was not
 * awaited, and the statements it goes on to send) are waited for, so none lands after the COMMIT on a
 * connection that by then belongs to someone else. After the end, every call is refused.
 */
export class TransactionLife {
  private running = 0;
  private ended = false;
  private idleWaiters: Array<() => void> = [];

  /** Runs one statement of the transaction, or refuses once the transaction has ended. */
  async track<T>(statement: () => Promise<T>): Promise<T> {
    this.check();
    this.running++;
    try {
      return await statement();
    } finally {
      this.running--;
      if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  check(): void {
    if (this.ended) {
      throw new TransactionEndedError(
        "this transaction has ended (committed or rolled back): a transaction's handle works only inside its callback; use the store, or a new transaction",
      );
    }
  }

  /**
   * After the callback returned: waits until no statement runs and none starts in the next turn of the
   * event loop, so a call that sends several statements is waited for between them too.
   */
  async settle(): Promise<void> {
    for (;;) {
      if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      if (this.running === 0) return;
    }
  }

  end(): void {
    this.ended = true;
  }
}

/** The error for a COMMIT that PostgreSQL answered with ROLLBACK: a statement in it had failed. */
export function rolledBackAtCommit(): StoreError {
  return new StoreError(
    "the transaction was rolled back instead of committed: a statement in it failed and its error was caught, which leaves a PostgreSQL transaction aborted; nothing in it was written (use a nested transaction to let a statement fail alone)",
    { sqlState: "25P02" },
  );
}

export function beginStatement(options: TransactionOptions): string {
  let sql = "begin";
  if (options.isolation) {
    if (!["read committed", "repeatable read", "serializable"].includes(options.isolation)) {
      throw new StoreError(`unknown isolation level ${JSON.stringify(options.isolation)}`);
    }
    sql += ` isolation level ${options.isolation}`;
  }
  if (options.readOnly) sql += " read only";
  return sql;
}

/** The driver can run a statement while a transaction holds one of its connections. */
export function anotherConnection(driver: Driver): boolean {
  return driver.capabilities.multipleConnections && driver.maxConnections > 1;
}

/** Each transaction's answer to snapshotIsolation(), asked once (savepoints share their transaction's handle). */
const snapshotLevels = new WeakMap<Queryable, Promise<boolean>>();

/**
 * True inside a repeatable read or serializable transaction: one that reads from a snapshot taken at
 * its first statement, so rows other connections commit after it stay invisible to it. The level is
 * asked of the server rather than taken from the options, since a transaction begun without one runs
 * at the server's default_transaction_isolation.
 */
export function snapshotIsolation(db: Queryable): Promise<boolean> {
  if (!db.inTransaction) return Promise.resolve(false);
  let level = snapshotLevels.get(db);
  if (!level) {
    level = db
      .query<{ level: string }>("select current_setting('transaction_isolation') as level")
      .then(({ rows }) => rows[0]?.level === "repeatable read" || rows[0]?.level === "serializable");
    // A failed question (an aborted transaction) is asked again next time, not remembered.
    level.catch(() => snapshotLevels.delete(db));
    snapshotLevels.set(db, level);
  }
  return level;
}

/** Counts queries in flight so close() can wait for them. */
export class InFlight {
  private count = 0;

  /** Statements running or queued now. */
  get size(): number {
    return this.count;
  }
  private waiters: Array<() => void> = [];

  /** `work`, counted until it settles (by one reaction of its own: statements run by the thousand). */
  track<T>(work: Promise<T>): Promise<T> {
    this.count++;
    return work.then(
      (value) => {
        this.settled();
        return value;
      },
      (error: unknown) => {
        this.settled();
        throw error;
      },
    );
  }

  private settled(): void {
    this.count--;
    if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * Times a statement and logs its text (never its values unless asked) when statement logging is on.
 * Logging is a side show: a logger that throws is ignored, so it can neither fail a statement that
 * succeeded nor, inside a transaction, roll it back, nor replace the statement's own error.
 */
export async function logged<T>(
  logging: StatementLogging | undefined,
  text: string,
  values: readonly unknown[] | undefined,
  run: () => Promise<T>,
  prepared = false,
): Promise<T> {
  if (!logging) return run();
  const started = performance.now();
  try {
    return await run();
  } finally {
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const entry: Record<string, unknown> = { sql: text, durationMs };
    if (logging.values && values) entry.values = values;
    // A named prepared statement runs on a plan the connection may keep: worth knowing when reading plans.
    if (prepared) entry.prepared = true;
    try {
      logging.logger.debug(entry, "flowstore statement");
    } catch {
      // The logger's failure is its own; the statement's outcome stands.
    }
  }
}

/** What `logStatements` asks for: none, or statements with their values or without. */
export function statementLogging(
  logStatements: boolean | { values?: boolean },
  logger: Logger,
): StatementLogging | undefined {
  if (logStatements === false) return undefined;
  const values = typeof logStatements === "object" && logStatements.values === true;
  return { logger, values };
}

/** The statement a ping sends: a round trip that also tells the server's version. */
export const PING_SQL = "select current_setting('server_version_num')::int as version";
