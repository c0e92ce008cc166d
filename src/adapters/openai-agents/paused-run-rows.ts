/** FlowstorePausedRuns' rows: how a saved run and its approvals are read, checked and refused. */

import { ConflictError, NotFoundError, type Transaction, ValidationError } from "../../index.js";
import type { Approval, PausedRun, PausedRunStatus } from "./paused-run-types.js";

export interface ApprovalRow {
  call_id: string;
  agent_name: string;
  tool_name: string;
  arguments: string | null;
  decision: "approved" | "rejected" | null;
  always: boolean;
  message: string | null;
  decided_by: string | null;
  decided_at: Date | string | null;
}

export interface RunRow {
  id: string;
  session_id: string | null;
  agent_name: string;
  status: PausedRunStatus;
  created_at: Date | string;
  expires_at: Date | string | null;
  finished_at: Date | string | null;
  resumed_by: string | null;
  sdk_version: string;
  state_schema: string;
  approvals: ApprovalRow[] | string;
}

export const APPROVAL_COLUMNS =
  "call_id, agent_name, tool_name, arguments, decision, always, message, decided_by, decided_at";

/** Runs with their approvals in order, as JSON (one statement for a whole page). */
export function selectRuns(q: string): string {
  return `select r.id, r.session_id, r.agent_name, r.status, r.created_at, r.expires_at, r.finished_at,
                 r.resumed_by, r.sdk_version, r.state_schema,
                 (select coalesce(json_agg(json_build_object(
                           'call_id', a.call_id, 'agent_name', a.agent_name, 'tool_name', a.tool_name,
                           'arguments', a.arguments, 'decision', a.decision, 'always', a.always,
                           'message', a.message, 'decided_by', a.decided_by, 'decided_at', a.decided_at)
                         order by a.position), '[]')
                    from ${q}.agent_run_approvals a where a.run_id = r.id) as approvals
            from ${q}.agent_paused_runs r`;
}

export const asDate = (value: Date | string | null): Date | null =>
  value === null ? null : value instanceof Date ? value : new Date(value);

export function toApproval(row: ApprovalRow): Approval {
  return {
    callId: row.call_id,
    agentName: row.agent_name,
    toolName: row.tool_name,
    arguments: row.arguments,
    decision: row.decision,
    always: row.always,
    message: row.message,
    decidedBy: row.decided_by,
    decidedAt: asDate(row.decided_at),
  };
}

export function toPausedRun(row: RunRow): PausedRun {
  const approvals = typeof row.approvals === "string" ? JSON.parse(row.approvals) : row.approvals;
  return {
    id: row.id,
    sessionId: row.session_id,
    agentName: row.agent_name,
    status: row.status,
    createdAt: asDate(row.created_at) as Date,
    expiresAt: asDate(row.expires_at),
    finishedAt: asDate(row.finished_at),
    resumedBy: row.resumed_by,
    sdkVersion: row.sdk_version,
    stateSchema: row.state_schema,
    approvals: (approvals as ApprovalRow[]).map(toApproval),
  };
}

/** The run with its state, its row locked for the resume's transaction. */
export async function lockRun(
  tx: Transaction,
  q: string,
  id: string,
): Promise<PausedRun & { state: string }> {
  const { rows: locked } = await tx.query<{ state: string }>(
    `select state from ${q}.agent_paused_runs where id = $1 for update`,
    [id],
  );
  const { rows } = await tx.query<RunRow>(`${selectRuns(q)} where r.id = $1`, [id]);
  if (!locked[0] || !rows[0]) throw new NotFoundError(`no paused run ${id}`);
  return { ...toPausedRun(rows[0]), state: locked[0].state };
}

/** Refuses a run that was resumed, or expired (marked so, or past its expiry not yet marked). */
export function refuseFinished(run: PausedRun): void {
  if (run.status === "resumed") {
    throw new ConflictError(
      `paused run ${run.id} was already resumed by ${run.resumedBy} at ${run.finishedAt?.toISOString()}`,
    );
  }
  if (run.status === "expired" || (run.expiresAt !== null && run.expiresAt.getTime() <= Date.now())) {
    throw new ConflictError(
      `paused run ${run.id} expired at ${run.expiresAt?.toISOString()}: it can no longer be decided or resumed`,
    );
  }
}

export function checkId(id: string): void {
  if (typeof id !== "string" || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
    throw new ValidationError(`a paused run's id is a UUID, not ${JSON.stringify(id)}`, { field: "id" });
  }
}

export function checkMs(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`${field} must be a whole number of milliseconds, 0 or more`, { field });
  }
  return value;
}
