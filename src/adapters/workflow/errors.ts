/**
 * The errors a World throws, by the names the Workflow SDK tells them apart by (its `X.is(error)` reads
 * `error.name` only), so this adapter needs no runtime import of `@workflow/errors`. A failure of the
 * database that may pass (a lost connection, a serialization failure, a deadlock) becomes a
 * WorkflowWorldError with status 503, which the runtime retries.
 */

import { ConflictError, ConnectionError, StoreError, ValidationError } from "../../index.js";

export class WorkflowWorldError extends Error {
  status?: number;
  code?: string;
  retryAfter?: number;

  constructor(
    message: string,
    options: { status?: number; code?: string; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WorkflowWorldError";
    this.status = options.status;
    this.code = options.code;
    this.retryAfter = options.retryAfter;
  }
}

/** The entity exists already, or is finished: the runtime takes it as "someone else did this". */
export class EntityConflictError extends WorkflowWorldError {
  constructor(message: string) {
    super(message);
    this.name = "EntityConflictError";
  }
}

/** The run is finished: nothing more runs for it. */
export class RunExpiredError extends WorkflowWorldError {
  constructor(message: string) {
    super(message);
    this.name = "RunExpiredError";
  }
}

/** The step may not start before its retryAfter; `retryAfter` is in seconds. */
export class TooEarlyError extends WorkflowWorldError {
  constructor(message: string, options: { retryAfter: number }) {
    super(message, { retryAfter: options.retryAfter });
    this.name = "TooEarlyError";
  }
}

export class WorkflowRunNotFoundError extends Error {
  runId: string;

  constructor(runId: string) {
    super(`Workflow run "${runId}" not found`);
    this.name = "WorkflowRunNotFoundError";
    this.runId = runId;
  }
}

export class HookNotFoundError extends Error {
  token: string;

  constructor(token: string) {
    super("Hook not found");
    this.name = "HookNotFoundError";
    this.token = token;
  }
}

/**
 * The run was recorded by the other line of the SDK (4.x's spec 3, or the 5.0 betas' spec 5): their
 * errors and streams differ, so this World does not continue it. The SDK's RunNotSupportedError, by name.
 */
export class RunNotSupportedError extends Error {
  runSpecVersion: number;
  worldSpecVersion: number;

  constructor(runId: string, runSpecVersion: number, worldSpecVersion: number, served: string) {
    super(
      `Workflow run "${runId}" was recorded with World spec ${runSpecVersion}; this World serves spec ` +
        `${worldSpecVersion} (${served}) and does not continue it: run it to its end with the workflow ` +
        "release that started it",
    );
    this.name = "RunNotSupportedError";
    this.runSpecVersion = runSpecVersion;
    this.worldSpecVersion = worldSpecVersion;
  }
}

const TRANSIENT_STATES = new Set(["40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"]);

/** A store error as the runtime should see it; anything else (already a World error) as it is. */
export function toWorldError(error: unknown): unknown {
  if (!(error instanceof StoreError)) return error;
  const { sqlState } = error;
  if (error instanceof ConnectionError || (sqlState !== undefined && TRANSIENT_STATES.has(sqlState))) {
    return new WorkflowWorldError(`the store failed for now: ${error.message}`, {
      status: 503,
      cause: error,
    });
  }
  if (error instanceof ValidationError) {
    return new WorkflowWorldError(error.message, { status: 400, cause: error });
  }
  if (error instanceof ConflictError) return new EntityConflictError(error.message);
  return new WorkflowWorldError(error.message, { status: 500, cause: error });
}
