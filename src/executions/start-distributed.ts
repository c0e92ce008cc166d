/**
 * A start on a schema distributed with Citus. The start of write.ts is one statement that inserts the
 * run from a select over `definitions` (its workflow looked up in the insert), with its idempotency
 * key registered in a CTE: Citus runs an insert from a select through the coordinator, the select
 * first and its rows then sent on, and the key's registry is in a group of its own. Here the workflow
 * is read first (`definitions` is a reference table, with a copy on the coordinator), then the run is
 * inserted as a row of values, which Citus sends whole to the run's shard; a key is registered first,
 * in one transaction with the run, and a key taken inserts no run, as the single statement does.
 */

import type { StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError } from "../core/errors.js";
import type { Queryable } from "../db/driver.js";
import { findByIdempotencyKey, freeStaleKey } from "./read.js";
import { COLUMNS, resolveWorkflow, rethrowMissingDefinition } from "./records.js";
import type { Execution, StartExecution } from "./types.js";
import type { AloneStart, Started } from "./write.js";

/** startAlone on Citus, for a start that appends nothing. */
export async function startOnCitus(
  context: StoreContext,
  input: StartExecution,
  start: AloneStart,
  byName: boolean,
): Promise<Started> {
  const workflow = await workflowOf(context, input, start, byName);
  const key = start.idempotencyKey;
  // Not written: the key is taken (the run holding it is returned), or the key's row names no run
  // that holds it (its run was deleted outside retention): then the row is freed and the start tried again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const row =
      key === null
        ? await insertRun(context.db, context.q, start, workflow)
        : await context.db.transaction(async (tx) =>
            (await registerKey(tx, context.q, key, start.id))
              ? insertRun(tx, context.q, start, workflow)
              : undefined,
          );
    if (row) return { execution: row, created: true };
    const existing = key === null ? null : await findByIdempotencyKey(context, key);
    if (existing) return { execution: existing, created: false };
    if (key !== null) await freeStaleKey(context, key);
  }
  throw new ConflictError(`idempotency key ${key} is taken, but its execution cannot be read`);
}

interface Workflow {
  definitionId: string | null;
  name: string;
}

/** The run's definition and name, as the single statement looks them up. */
async function workflowOf(
  context: StoreContext,
  input: StartExecution,
  start: AloneStart,
  byName: boolean,
): Promise<Workflow> {
  // By name: its newest active version, or none for a name not registered (throws for a registered
  // name with no active version).
  if (byName) {
    const found = await resolveWorkflow(context, input);
    return { definitionId: found.definitionId, name: found.name as string };
  }
  if (start.name !== null) return { definitionId: start.definitionId, name: start.name };
  const { rows } = await context.db.query<{ name: string }>(
    `select name from ${context.q}.definitions where id = $1`,
    [start.definitionId],
  );
  if (!rows[0]) throw new NotFoundError(`definition ${start.definitionId} not found`);
  return { definitionId: start.definitionId, name: rows[0].name };
}

/** Registers the key for the run; false when another run's row holds it. */
async function registerKey(tx: Queryable, q: string, key: string, id: string): Promise<boolean> {
  const { rows } = await tx.query(
    `insert into ${q}.execution_keys (idempotency_key, execution_id) values ($1, $2)
     on conflict do nothing returning execution_id`,
    [key, id],
  );
  return rows.length > 0;
}

async function insertRun(
  db: Queryable,
  q: string,
  start: AloneStart,
  workflow: Workflow,
): Promise<Execution | undefined> {
  // The clock chosen by the status here: Citus refuses now() in a CASE.
  const startedAt = start.status === "running" ? "now()" : "null";
  const { rows } = await db
    .query<Execution>(
      `insert into ${q}.executions
         (id, definition_id, name, status, input, metadata, idempotency_key, parent_execution_id,
          parent_task_id, started_at)
       values ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, ${startedAt})
       returning ${COLUMNS}`,
      [
        start.id,
        workflow.definitionId,
        workflow.name,
        start.status,
        start.input,
        start.metadata,
        start.idempotencyKey,
        start.parentExecutionId,
        start.parentTaskId,
      ],
    )
    .catch((error: unknown) =>
      rethrowMissingDefinition(error, `definition ${workflow.definitionId} not found`),
    );
  return rows[0];
}
