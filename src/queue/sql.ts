/**
 * The queue's SQL pieces shared by its statements: the columns each kind of read returns, the row
 * shapes they come back in and their mapping to jobs, and the fragments several statements use.
 */

import type { StoreContext } from "../core/context.js";
import type { Job, JobError, JobStatus, LeasedJob } from "./types.js";

export interface JobRow {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  /**
   * 'scheduled' is how the table keeps a waiting job that is not due yet, and 'pending' one that waits
   * for the jobs it runs after (migration 0031).
   */
  status: JobStatus | "scheduled" | "pending";
  priority: number;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  key: string | null;
  execution_id: string | null;
  group_name: string | null;
  last_error: JobError | null;
  lease_owner: string | null;
  lease_token: string | null;
  lease_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  trace_context: string | null;
  absorbed: number;
  waiting_for: number;
}

export const JOB_COLUMNS = `id, queue, name, payload, status, priority, run_at, attempts, max_attempts, key, execution_id,
  group_name, last_error, lease_owner, lease_token, lease_expires_at, created_at, updated_at, trace_context, absorbed,
  waiting_for`;

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    queue: row.queue,
    name: row.name,
    payload: row.payload,
    status: row.status === "scheduled" || row.status === "pending" ? "waiting" : row.status,
    priority: row.priority,
    runAt: row.run_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    key: row.key,
    executionId: row.execution_id,
    group: row.group_name,
    lastError: row.last_error,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    traceContext: row.trace_context,
    absorbed: row.absorbed,
    waitingFor: row.waiting_for,
  };
}

/**
 * A job's run_at in microseconds since the epoch, exactly (as text: beyond 2^53 a number would round).
 * Claims order by it and the start marks compare with it.
 */
export const RUN_AT_US = "(extract(epoch from j.run_at) * 1000000)::bigint";

/**
 * What a claim returns. At tens of thousands of jobs a second, each column the client decodes per row
 * is a real share of the claim's cost, so the claim sends only what it must: the queue and the lease
 * owner are its own arguments, and updated_at is now(), which is lease_expires_at less the lease. Times
 * come as epoch milliseconds (run_at as microseconds, see RUN_AT_US): `new Date(number)` costs a fraction of parsing timestamp text.
 */
export const CLAIMED_COLUMNS = `j.id, j.lease_token, j.name, j.payload, j.status, j.priority, j.attempts, j.max_attempts,
  j.key, j.execution_id, j.group_name, j.last_error, j.trace_context, j.taken_back, j.absorbed,
  ${RUN_AT_US} as run_at_us,
  ${epochMs("j.created_at")} as created_at,
  ${epochMs("j.lease_expires_at")} as lease_expires_at`;

/**
 * A time as epoch milliseconds (float8), the double nearest the exact value, as extract's numeric
 * gives it; but in float8 arithmetic: numeric's cast to float8 goes through text, about 0.3 µs a
 * value. date_part's seconds are within half a microsecond, so the rounding gives the exact microseconds.
 */
function epochMs(column: string): string {
  return `round(date_part('epoch', ${column}) * 1000000) / 1000`;
}

export interface ClaimedRow {
  id: string;
  lease_token: string;
  name: string;
  payload: unknown;
  status: JobStatus;
  priority: number;
  attempts: number;
  max_attempts: number;
  key: string | null;
  execution_id: string | null;
  group_name: string | null;
  last_error: JobError | null;
  trace_context: string | null;
  absorbed: number;
  /** The claim took the job back from a worker whose lease expired. */
  taken_back: boolean;
  run_at_us: string;
  created_at: number;
  lease_expires_at: number;
}

/**
 * Puts a claim's rows in claim order, in place: priority descending, then run_at, then id, as the
 * claim chose them and as the start marks compare them (see job-starts.ts). run_at_us is compared as
 * the number the driver gives for a bigint, the one the start marks send back; ids are lower-case
 * UUIDs, whose text sorts as PostgreSQL sorts the UUIDs.
 */
export function inClaimOrder<R extends ClaimedRow>(rows: R[]): R[] {
  return rows.sort(
    (a, b) =>
      b.priority - a.priority ||
      Number(a.run_at_us) - Number(b.run_at_us) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** A claim's rows without the jobs that went dead in it. */
export function liveRows(rows: ClaimedRow[]): ClaimedRow[] {
  return rows.some((row) => row.status === "dead") ? rows.filter((row) => row.status !== "dead") : rows;
}

export function toLeasedJob(row: ClaimedRow, queue: string, workerId: string, leaseMs: number): LeasedJob {
  return {
    id: row.id,
    queue,
    name: row.name,
    payload: row.payload,
    status: row.status,
    priority: row.priority,
    runAt: new Date(Number(row.run_at_us) / 1000),
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    key: row.key,
    executionId: row.execution_id,
    group: row.group_name,
    lastError: row.last_error,
    leaseOwner: workerId,
    leaseExpiresAt: new Date(row.lease_expires_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.lease_expires_at - leaseMs),
    leaseToken: row.lease_token,
    traceContext: row.trace_context,
    absorbed: row.absorbed,
    // A claimed job waits for nothing.
    waitingFor: 0,
  };
}

/** Completions of more jobs than this are planned for their own arrays (see completeMany). */
export const PREPARED_COMPLETION_MAX = 32;

/**
 * Claims and completions commit durably unless the store was opened with `queueCommits: "relaxed"`:
 * then, outside a caller's transaction, they commit without waiting for the WAL flush. A crash (or a
 * failover to a synchronous standby) before the flush takes them back: a lost completion runs its job
 * again, and a lost claim lets a second worker claim a job the first is still running. Inside a
 * caller's transaction nothing is relaxed, since the setting would cover the caller's writes too.
 */
export function relaxedCommit(context: StoreContext): boolean {
  return context.relaxedQueueCommits === true && !context.db.inTransaction;
}

/** A CTE that turns synchronous_commit off for the statement's own (implicit) transaction. */
export const RELAXED_COMMIT = "relaxed_commit as (select set_config('synchronous_commit', 'off', true))";
