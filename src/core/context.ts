/** What every repository is built on: a Queryable (the store, or a transaction) and the quoted schema. */

import type { Driver, Queryable } from "../db/driver.js";
import type { BlobBackend } from "./blob-backend.js";
import type { Logger } from "./logger.js";
import type { PayloadLimits } from "./payload.js";
import type { Telemetry } from "./telemetry.js";

export interface StoreContext {
  readonly db: Queryable;
  /**
   * Where reads that tolerate replication lag go (lists and counts: see StoreOptions.readConnection):
   * the store's read connection when it has one, else `db`. A transaction's scope sets it to the
   * transaction, so what it lists includes what it wrote.
   */
  readonly reads: Queryable;
  readonly schema: string;
  /** The schema name quoted for SQL text: `"flowstore"`. */
  readonly q: string;
  /** The store's driver, for what a transaction cannot do (LISTEN, workers). */
  readonly driver: Driver;
  readonly logger: Logger;
  readonly limits: PayloadLimits;
  readonly blobBackend: BlobBackend | undefined;
  /** The store's name in a shared blob backend (blob_namespace), read when the store opens. */
  readonly blobNamespace: { id: string | undefined };
  /** The queue's claims, completions and start marks commit without waiting for the WAL flush. */
  readonly relaxedQueueCommits?: boolean;
  /** Opened with `readOnly: true`: what would write refuses before it starts (and the server refuses the rest). */
  readonly readOnly?: boolean;
  /** OpenTelemetry, when the store has it (see telemetry/); none costs nothing. */
  readonly telemetry?: Telemetry;
}

/** Enough to run an area's SQL: a connection (or transaction) and the quoted schema. */
export type SqlContext = Pick<StoreContext, "db" | "q">;

/**
 * Whether a write may share a statement and a commit with others made at the same time (the write
 * batchers): outside a transaction, and not on Citus, where a statement over several runs' rows reaches
 * every node holding one of them, where alone each goes to one.
 */
export function batchesWrites(context: Pick<StoreContext, "db" | "driver">): boolean {
  return !context.db.inTransaction && !context.driver.capabilities.distributed;
}

/** The context inside a transaction: its writes and reads, lists and counts included, go through it. */
export function inTransaction<C extends Pick<StoreContext, "db" | "reads">>(context: C, tx: Queryable): C {
  return { ...context, db: tx, reads: tx };
}

/**
 * The context for a read that tolerates replication lag: `db` is the store's read connection, outside
 * a transaction. Inside one (whatever `reads` says) it stays the transaction, which sees its own writes.
 */
export function forReads<C extends Pick<StoreContext, "db" | "reads">>(context: C): C {
  return context.reads === context.db || context.db.inTransaction
    ? context
    : { ...context, db: context.reads };
}
