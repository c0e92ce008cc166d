/**
 * Every error flowstore throws is a StoreError with a stable `code`. Callers branch on the class
 * (or the code); the driver's own error, when there is one, is kept as `cause`.
 */

export type ErrorCode =
  | "STORE_ERROR"
  | "NOT_FOUND"
  | "CONFLICT"
  | "VALIDATION"
  | "LEASE_LOST"
  | "CONNECTION"
  | "MIGRATION"
  | "BLOB"
  | "TRANSACTION_ENDED"
  | "READ_ONLY";

export interface StoreErrorOptions {
  cause?: unknown;
  /** The PostgreSQL SQLSTATE, when the error came from the server. */
  sqlState?: string;
}

export class StoreError extends Error {
  readonly code: ErrorCode = "STORE_ERROR";
  readonly sqlState: string | undefined;

  constructor(message: string, options: StoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.sqlState = options.sqlState ?? sqlStateOf(options.cause);
  }
}

export class NotFoundError extends StoreError {
  override readonly code = "NOT_FOUND";
}

/** A unique key already taken, or a compare-and-set that found another version. */
export class ConflictError extends StoreError {
  override readonly code = "CONFLICT";
}

/**
 * A step recorded under a number that already holds a step of another name: the code that ran is not
 * the code that ran before (a workflow changed under a run, or chose its steps by something other than
 * its input and its recorded steps). Nothing was written.
 */
export class NonDeterminismError extends ConflictError {
  constructor(
    readonly executionId: string,
    readonly stepNumber: number,
    /** The name the step was first recorded under. */
    readonly recordedName: string,
    /** The name given now. */
    readonly givenName: string,
  ) {
    super(
      `non-determinism detected: step ${stepNumber} of execution ${executionId} was recorded as ${JSON.stringify(recordedName)}, and now ${JSON.stringify(givenName)} ran in its place`,
    );
  }
}

/** A write to a stream that was closed. Nothing was written. */
export class StreamClosedError extends ConflictError {
  constructor(
    readonly executionId: string,
    readonly stream: string,
  ) {
    super(`stream ${JSON.stringify(stream)} of execution ${executionId} is closed; it takes no more chunks`);
  }
}

/** Bad input. Nothing was written. */
export class ValidationError extends StoreError {
  override readonly code = "VALIDATION";
  /** The option, field or argument at fault, when there is one. */
  readonly field: string | undefined;

  constructor(message: string, options: StoreErrorOptions & { field?: string } = {}) {
    super(message, options);
    this.field = options.field;
  }
}

/** A worker whose lease expired (and was perhaps taken by another) tried to use it. */
export class LeaseLostError extends StoreError {
  override readonly code = "LEASE_LOST";
}

export class ConnectionError extends StoreError {
  override readonly code = "CONNECTION";
}

/** A call on a store that is closed (or closing): a ConnectionError that waiting will not mend. */
export class StoreClosedError extends ConnectionError {
  constructor() {
    super("the store is closed");
  }
}

export class MigrationError extends StoreError {
  override readonly code = "MIGRATION";
}

export class BlobError extends StoreError {
  override readonly code = "BLOB";
}

/**
 * A transaction's handle (`tx`) used after its transaction committed or rolled back. Nothing was
 * written: a handle is good for its own transaction only.
 */
export class TransactionEndedError extends StoreError {
  override readonly code = "TRANSACTION_ENDED";
}

/**
 * A write on a store opened with `readOnly: true` (or a background loop that writes, started on one).
 * Nothing was written: the store refused before sending it, or the server refused it (SQLSTATE 25006).
 */
export class ReadOnlyError extends StoreError {
  override readonly code = "READ_ONLY";
}

/** The SQLSTATE a failed statement carries, whether the driver's error or a StoreError made from it. */
export function sqlStateOf(error: unknown): string | undefined {
  if (error instanceof StoreError) return error.sqlState;
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Node's socket-level error codes that mean "the server is not there (any more)". */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ENOENT",
]);

const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection timeout/i,
  /Connection terminated unexpectedly/i,
  /Client has encountered a connection error/i,
  /server does not support SSL/i,
  /self[- ]signed certificate/i,
  /unable to verify the first certificate/i,
  /Hostname\/IP does not match certificate/i,
];

/**
 * Whether a ConflictError came from the constraint `name`. On Citus the error names a shard's copy of
 * it, `name` followed by the shard's id (`task_ids_pkey_102008`), and only in its message: the
 * coordinator passes on a worker's error without its constraint field.
 */
export function violates(error: unknown, name: string): error is ConflictError {
  if (!(error instanceof ConflictError)) return false;
  const cause = error.cause as { constraint?: unknown; message?: unknown } | undefined;
  const constraint =
    typeof cause?.constraint === "string"
      ? cause.constraint
      : /unique constraint "([^"]+)"/.exec(String(cause?.message ?? error.message))?.[1];
  if (constraint === undefined) return false;
  const shard = constraint.startsWith(`${name}_`) ? constraint.slice(name.length + 1) : "";
  return constraint === name || /^\d+$/.test(shard);
}

/**
 * A worker's error as the Citus coordinator passes it on from a statement it ran in steps (an insert
 * from a select, say): internal_error (XX000) with the worker's message. A unique violation keeps its
 * words, and is one.
 */
function citusWrapped(sqlState: string | undefined, message: string): string | undefined {
  return sqlState === "XX000" && message.startsWith("duplicate key value violates unique constraint")
    ? "23505"
    : sqlState;
}

/**
 * Turns whatever a driver threw into a StoreError. SQLSTATE classes decide the kind:
 * 23505/23P01 and 40001/40P01 are conflicts, 22xxx/23xxx other than those are bad input,
 * 08xxx/57P0x are connection trouble, and so are a refused login (28000/28P01) and a database that
 * does not exist (3D000), which only connecting reports. `secrets` are removed from the message.
 */
export function toStoreError(error: unknown, secrets: readonly string[] = []): StoreError {
  if (error instanceof StoreError) return error;
  const message = redact(error instanceof Error ? error.message : String(error), secrets);
  const sqlState = citusWrapped(sqlStateOf(error), message);
  const code = (error as { code?: unknown } | null)?.code;
  if (sqlState !== undefined) {
    const detail = (error as { detail?: unknown }).detail;
    const full = typeof detail === "string" && detail ? `${message} (${redact(detail, secrets)})` : message;
    if (sqlState === "23505" || sqlState === "23P01" || sqlState === "40001" || sqlState === "40P01") {
      return new ConflictError(full, { cause: error, sqlState });
    }
    if (sqlState.startsWith("22") || sqlState.startsWith("23")) {
      return new ValidationError(full, { cause: error, sqlState });
    }
    if (
      sqlState.startsWith("08") ||
      sqlState.startsWith("57P") ||
      sqlState === "28P01" ||
      sqlState === "28000" ||
      sqlState === "3D000"
    ) {
      return new ConnectionError(citusNodeDown(full), { cause: error, sqlState });
    }
    return new StoreError(full, { cause: error, sqlState });
  }
  if (
    (typeof code === "string" && NETWORK_CODES.has(code)) ||
    CONNECTION_MESSAGES.some((re) => re.test(message))
  ) {
    return new ConnectionError(message, { cause: error });
  }
  return new StoreError(message, { cause: error });
}

/**
 * A Citus coordinator's word for a worker it cannot reach, said as what it means for the caller: the
 * rows on that node cannot be read or written until it is back (the rest of the store works).
 */
function citusNodeDown(message: string): string {
  const node = /^connection to the remote node (?:[^\s@]+@)?(\S+:\d+) failed/.exec(message)?.[1];
  return node === undefined
    ? message
    : `the Citus worker ${node}, which holds rows this statement needs, cannot be reached; the statement runs again once the node is back (${message})`;
}

/** Replaces every occurrence of each secret (and its URL-encoded form) with `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join("***");
    }
  }
  return out;
}
