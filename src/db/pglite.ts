/**
 * The embedded driver: PGlite, PostgreSQL compiled to WebAssembly, in this process. It has one
 * connection, so its transactions are exclusive: other queries wait until the transaction ends.
 */

import { mkdirSync } from "node:fs";
import path from "node:path";
import type { PGlite, Transaction } from "@electric-sql/pglite";
import { ConnectionError, StoreClosedError, sqlStateOf, toStoreError } from "../core/errors.js";
import {
  type ConnectionCounts,
  DEFAULT_TRANSACTION_RETRIES,
  type Driver,
  type DriverCapabilities,
  InFlight,
  logged,
  PING_SQL,
  type Queryable,
  type QueryResult,
  rolledBackAtCommit,
  SavepointQueue,
  type StatementLogging,
  TransactionLife,
  type TransactionOptions,
  type Unlisten,
  withTransactionRetries,
} from "./driver.js";
import { acquireLock } from "./embedded-lock.js";
import { createPglite, type NewDatabase, TEMPLATE_SCHEMA } from "./template/template.js";

type PgliteRunner = Pick<PGlite | Transaction, "query" | "exec">;

/**
 * bigint (int8) as a number, as the node-postgres driver returns it; bytea through Buffer's hex codec,
 * which is many times faster than PGlite's byte-at-a-time default on large values.
 */
const parsers = {
  20: (value: string) => Number(value),
  17: (value: string) => Buffer.from(value.slice(2), "hex"),
};
const serializers = {
  17: (value: Uint8Array) =>
    `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`,
};

async function run<R>(
  runner: PgliteRunner,
  text: string,
  values: readonly unknown[] | undefined,
  statements: StatementLogging | undefined,
): Promise<QueryResult<R>> {
  try {
    const result = await logged(statements, text, values, () =>
      runner.query<R>(text, values as unknown[] | undefined, { parsers, serializers }),
    );
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rowCount ?? result.rows.length };
  } catch (error) {
    throw toStoreError(error);
  }
}

class PgliteTransaction implements Queryable {
  readonly inTransaction = true;
  private readonly savepoints = new SavepointQueue();

  constructor(
    private readonly tx: Transaction,
    private readonly statements: StatementLogging | undefined,
    private readonly life: TransactionLife,
  ) {}

  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>> {
    return this.life.track(() => run<R>(this.tx, text, values, this.statements));
  }

  async exec(script: string): Promise<void> {
    await this.life.track(async () => {
      try {
        await this.tx.exec(script);
      } catch (error) {
        throw toStoreError(error);
      }
    });
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.life.check();
    return this.savepoints.run(this, fn);
  }
}

export interface PgliteDriverOptions {
  /** False when the user gave us the instance: we then never close it. */
  ownsDatabase: boolean;
  statements?: StatementLogging;
  /** Where the data lives, for messages: a directory, or "memory". */
  location?: string;
  /** Called once the database is closed (releases the data directory's lock). */
  onClose?: () => void;
}

export class PgliteDriver implements Driver {
  readonly kind = "pglite";
  readonly capabilities: DriverCapabilities = {
    multipleConnections: false,
    listen: true,
    concurrentSessions: false,
    distributed: false,
  };
  readonly inTransaction = false;
  private readonly inFlight = new InFlight();
  private closing: Promise<void> | undefined;

  get location(): string | undefined {
    return this.options.location;
  }

  readonly maxConnections = 1;

  /** One connection, busy while a statement runs; the others queue behind it. */
  connections(): ConnectionCounts {
    const busy = this.inFlight.size;
    return { max: 1, open: 1, idle: busy === 0 ? 1 : 0, waiting: Math.max(0, busy - 1) };
  }

  describe(): string {
    const where = this.options.location;
    return where ? `embedded PGlite (${where === "memory" ? "in memory" : where})` : "a PGlite instance";
  }

  constructor(
    readonly db: PGlite,
    private readonly options: PgliteDriverOptions,
  ) {}

  private ensureOpen(): void {
    if (this.closing || this.db.closed) throw new StoreClosedError();
  }

  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>> {
    this.ensureOpen();
    return this.inFlight.track(run<R>(this.db, text, values, this.options.statements));
  }

  async exec(script: string): Promise<void> {
    this.ensureOpen();
    await this.inFlight.track(
      this.db.exec(script).catch((error: unknown) => {
        throw toStoreError(error);
      }),
    );
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.ensureOpen();
    const attempt = () =>
      // PGlite issues BEGIN itself and rolls back when the callback throws, which leaves its single
      // connection usable after a failed statement.
      this.db
        .transaction(async (raw) => {
          const life = new TransactionLife();
          const tx = new PgliteTransaction(raw, this.options.statements, life);
          try {
            if (options.isolation) await tx.query(`set transaction isolation level ${options.isolation}`);
            if (options.readOnly) await tx.query("set transaction read only");
            return await fn(tx);
          } finally {
            await life.settle();
            life.end();
          }
        })
        .catch((error: unknown) => {
          // PGlite throws when the server answers COMMIT with ROLLBACK (an aborted transaction).
          // A COMMIT the server refused with an error of its own (a deferred constraint) keeps it;
          // anything else is the callback's own error (or already a StoreError), passed on as it is.
          if ((error as { query?: unknown } | null)?.query === "COMMIT") {
            throw sqlStateOf(error) === undefined ? rolledBackAtCommit() : toStoreError(error);
          }
          throw error;
        });
    return this.inFlight.track(
      withTransactionRetries(attempt, options.retries ?? DEFAULT_TRANSACTION_RETRIES),
    );
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    this.ensureOpen();
    const unlisten = await this.db.listen(channel, onNotify);
    return async () => {
      if (!this.db.closed) await unlisten();
    };
  }

  serverVersion: number | undefined;

  async ping(): Promise<void> {
    const { rows } = await this.query<{ version: number }>(PING_SQL);
    this.serverVersion = rows[0]?.version;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.inFlight.idle();
      if (this.options.ownsDatabase && !this.db.closed) await this.db.close();
      this.options.onClose?.();
    })();
    return this.closing;
  }
}

export function isPglite(value: unknown): value is PGlite {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as PGlite).exec === "function" &&
    typeof (value as PGlite).listen === "function" &&
    "waitReady" in value
  );
}

/**
 * Opens PGlite on a data directory this process then holds alone. PGlite does not guard its files,
 * and two processes writing one data directory corrupt it, so a lock file beside the data records the
 * holder; a second opener gets a ConnectionError naming it. A lock left by a dead process is taken over.
 */
export async function openEmbedded(
  dir: string,
  statements?: StatementLogging,
  fresh: NewDatabase = { schema: TEMPLATE_SCHEMA },
): Promise<PgliteDriver> {
  const root = path.resolve(dir);
  let release: () => void;
  try {
    mkdirSync(root, { recursive: true });
    release = acquireLock(path.join(root, "lock"));
  } catch (error) {
    if (error instanceof ConnectionError) throw error; // in use by another process
    throw new ConnectionError(`cannot open the embedded database in ${root}: ${unusable(error)}`, {
      cause: error,
    });
  }
  try {
    // A new database is made from the template (template/template.ts), the store's schema migrated.
    const db = await createPglite({ ...fresh, dataDir: path.join(root, "pgdata"), parsers, serializers });
    return new PgliteDriver(db, { ownsDatabase: true, statements, onClose: release, location: root });
  } catch (error) {
    release();
    throw new ConnectionError(`cannot open the embedded database in ${root}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Why the data directory cannot be made or written, in words rather than an errno. */
function unusable(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOTDIR") return "a file stands where the path needs a directory (not a directory)";
  if (code === "EEXIST") return "it is a file, not a directory";
  if (code === "EACCES" || code === "EPERM") {
    const uid = process.getuid?.();
    const who = uid === undefined ? "this process" : `this process (uid ${uid})`;
    return `permission denied: ${who} may not create or write files there; choose a directory it can write to (dataDir, FLOWSTORE_DATA_DIR)`;
  }
  if (code === "EROFS") return "its file system is read-only; choose another (dataDir, FLOWSTORE_DATA_DIR)";
  return (error as Error).message;
}

export async function openInMemory(
  statements?: StatementLogging,
  fresh: NewDatabase = { schema: TEMPLATE_SCHEMA },
): Promise<PgliteDriver> {
  const db = await createPglite({ ...fresh, parsers, serializers });
  return new PgliteDriver(db, { ownsDatabase: true, statements, location: "memory" });
}
