/**
 * What several execution statements share: the columns they return, the JSON checks of metadata, and
 * the whole-record write behind upsert and upsertMany (checked, laid out per column, one statement).
 */

import type { SqlContext } from "../context.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { type PayloadLimits, toJson, toJsonOrNull } from "../payload.js";
import type { Execution, ExecutionRecord } from "./execution-types.js";
import { checkDistinct, checkId, checkOneOf, optionalId, optionalText } from "./input.js";
import { RUN_STATUSES, TERMINAL_SQL } from "./run-status.js";

export const COLUMNS = `id, definition_id as "definitionId", status, input, output, error, state, metadata,
  idempotency_key as "idempotencyKey", parent_execution_id as "parentExecutionId",
  parent_task_id as "parentTaskId", version, created_at as "createdAt", updated_at as "updatedAt",
  started_at as "startedAt", completed_at as "completedAt"`;

/** Metadata as JSON: a plain object, or null when absent. */
export function metadataJson(value: unknown, limits: PayloadLimits): string | null {
  if (value === undefined) return null;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError("metadata must be a plain object", { field: "metadata" });
  }
  return toJson(value, "metadata", limits);
}

/** Checks every record and lays the batch out as one array per column, for unnest. */
export function recordColumns(records: readonly ExecutionRecord[], limits: PayloadLimits): unknown[] {
  const columns = {
    id: [] as string[],
    definitionId: [] as string[],
    status: [] as string[],
    input: [] as (string | null)[],
    output: [] as (string | null)[],
    error: [] as (string | null)[],
    state: [] as (string | null)[],
    metadata: [] as (string | null)[],
    idempotencyKey: [] as (string | null)[],
    parentExecutionId: [] as (string | null)[],
    parentTaskId: [] as (string | null)[],
  };
  for (const r of records) {
    columns.id.push(checkId(r.id, "id"));
    columns.definitionId.push(checkId(r.definitionId, "definitionId"));
    columns.status.push(checkOneOf(r.status, RUN_STATUSES, "status"));
    columns.input.push(toJsonOrNull(r.input, "input", limits));
    columns.output.push(toJsonOrNull(r.output, "output", limits));
    columns.error.push(toJsonOrNull(r.error, "error", limits));
    columns.state.push(toJsonOrNull(r.state, "state", limits));
    columns.metadata.push(metadataJson(r.metadata, limits));
    columns.idempotencyKey.push(optionalText(r.idempotencyKey, "idempotencyKey", 1024));
    columns.parentExecutionId.push(optionalId(r.parentExecutionId, "parentExecutionId"));
    columns.parentTaskId.push(optionalId(r.parentTaskId, "parentTaskId"));
  }
  checkDistinct(columns.id, "id");
  return Object.values(columns); // in the order of the unnest parameters $1..$11
}

export async function writeRecords({ db, q }: SqlContext, values: unknown[]): Promise<Execution[]> {
  const { rows } = await db
    .query<Execution>(
      `insert into ${q}.executions as e (id, definition_id, status, input, output, error, state, metadata,
         idempotency_key, parent_execution_id, parent_task_id, started_at, completed_at)
       select u.id, u.definition_id, u.status, u.input, u.output, u.error, u.state, coalesce(u.metadata, '{}'),
         u.idempotency_key, u.parent_execution_id, u.parent_task_id,
         case when u.status = 'running' then now() end,
         case when u.status in ${TERMINAL_SQL} then now() end
       from unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::jsonb[],
                   $8::jsonb[], $9::text[], $10::uuid[], $11::uuid[])
         as u(id, definition_id, status, input, output, error, state, metadata,
              idempotency_key, parent_execution_id, parent_task_id)
       on conflict (id) do update set
         definition_id = excluded.definition_id, status = excluded.status, input = excluded.input,
         output = excluded.output, error = excluded.error, state = excluded.state,
         metadata = excluded.metadata, idempotency_key = excluded.idempotency_key,
         parent_execution_id = excluded.parent_execution_id, parent_task_id = excluded.parent_task_id,
         version = e.version + 1,
         updated_at = now(),
         started_at = case when excluded.status = 'running' then coalesce(e.started_at, now()) else e.started_at end,
         completed_at = case when excluded.status in ${TERMINAL_SQL}
                             then coalesce(e.completed_at, now()) else e.completed_at end
       where e.status = excluded.status or e.status not in ${TERMINAL_SQL}
       returning ${COLUMNS}`,
      values,
    )
    .catch((error: unknown) => rethrowMissingDefinition(error, "a definitionId given does not exist"));
  return rows;
}

export function rethrowMissingDefinition(error: unknown, message: string): never {
  if (error instanceof ValidationError && error.sqlState === "23503") {
    throw new NotFoundError(message, { cause: error.cause ?? error });
  }
  throw error;
}
