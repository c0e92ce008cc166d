/**
 * The driver of a store opened with `readOnly: true`. Every statement runs in a read-only transaction
 * (a transaction of the caller's is made read-only, its savepoints with it), so PostgreSQL itself
 * refuses a write (SQLSTATE 25006) before it changes anything: on a primary, on a standby (which
 * refuses writes anyway, and keeps refusing after a promotion here) and on the embedded database
 * alike. The refusal becomes a ReadOnlyError that names the option. A statement alone costs a BEGIN and
 * a COMMIT more: the price of a guarantee that holds whatever the statement is.
 */

import { inspect } from "node:util";
import { isReadOnlyRefusal, readOnlyStoreError } from "../core/read-only.js";
import type {
  ConnectionCounts,
  Driver,
  Queryable,
  QueryOptions,
  QueryResult,
  TransactionOptions,
  Unlisten,
} from "./driver.js";

function refused(error: unknown): never {
  throw isReadOnlyRefusal(error) ? readOnlyStoreError("a write", error) : error;
}

/** A transaction of the read-only driver: its refusals say why, where the caller can catch them. */
function readOnlyTransaction(tx: Queryable): Queryable {
  return {
    inTransaction: tx.inTransaction,
    query: <R>(text: string, values?: readonly unknown[], options?: QueryOptions) =>
      tx.query<R>(text, values, options).catch(refused),
    exec: (script: string) => tx.exec(script).catch(refused),
    transaction: <T>(fn: (inner: Queryable) => Promise<T>, options?: TransactionOptions) =>
      tx.transaction((inner) => fn(readOnlyTransaction(inner)), options),
  };
}

export class ReadOnlyDriver implements Driver {
  readonly inTransaction = false;

  constructor(
    /** The driver that connects; sharing an embedded store goes through it. */
    readonly inner: Driver,
  ) {}

  [inspect.custom](): string {
    return `ReadOnlyDriver { ${this.describe()} }`;
  }

  get kind(): Driver["kind"] {
    return this.inner.kind;
  }

  get capabilities(): Driver["capabilities"] {
    return this.inner.capabilities;
  }

  get maxConnections(): number {
    return this.inner.maxConnections;
  }

  connections(): ConnectionCounts {
    return this.inner.connections();
  }

  query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>> {
    return this.transaction((tx) => tx.query<R>(text, values, options));
  }

  async exec(script: string): Promise<void> {
    await this.transaction((tx) => tx.exec(script));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.inner
      .transaction((tx) => fn(readOnlyTransaction(tx)), { ...options, readOnly: true })
      .catch(refused);
  }

  listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    return this.inner.listen(channel, onNotify);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  get serverVersion(): number | undefined {
    return this.inner.serverVersion;
  }

  describe(): string {
    return `${this.inner.describe()} (read-only)`;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
