/**
 * The statements of execution writes that go alone: in a transaction, with events to append that no
 * batch took, or left out of a batch (executions/batch.ts, executions/history-batch.ts), which then
 * answer as if the write had never been batched. Also the cancels and the whole-record upserts, which
 * are never batched. A write that matches no row says why (explainMiss).
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ConflictError } from "../core/errors.js";
import { checkId, optionalVersion } from "../core/input.js";
import { isTerminal, type RunStatus, TERMINAL_SQL } from "../core/run-status.js";
import { type AppendOption, type HistoryEvent, type WithHistory, writeOne } from "../history/index.js";
import type { FinishInput, StartInput } from "./batch.js";
import type { ChangeInput } from "./history-batch.js";
import { withOffloadedStates } from "./offloaded-state.js";
import { findByIdempotencyKey, freeStaleKey } from "./read.js";
import {
  COLUMNS,
  checkRecordNames,
  explainMiss,
  type RecordColumns,
  recordColumns,
  resolveWorkflow,
  rethrowMissingDefinition,
  writeRecords,
} from "./records.js";
import { writeRecordsOnCitus } from "./records-distributed.js";
import type { CancelExecutionOptions, Execution, ExecutionRecord, StartExecution } from "./types.js";

/** A checked start with its workflow: a definition, a name, or (started by name alone) both to look up. */
export interface AloneStart extends Omit<StartInput, "name"> {
  definitionId: string | null;
  name: string | null;
}

export interface Started {
  execution: Execution;
  created: boolean;
  appended?: HistoryEvent[];
}

/**
 * Inserts the run, or with its idempotency key taken reads the run that holds it. Started by a name
 * alone (`byName`), the definition is looked up in the insert itself: its newest active version, or
 * none when the name is not registered (a registered name with no active version inserts nothing,
 * and resolveWorkflow says why).
 */
export async function startAlone(
  context: StoreContext,
  input: StartExecution,
  start: AloneStart,
  byName: boolean,
  options: AppendOption,
): Promise<Started> {
  const q = context.q;
  const key = start.idempotencyKey;
  const values = [
    start.id,
    start.definitionId,
    start.status,
    start.input,
    start.metadata,
    key,
    start.parentExecutionId,
    start.parentTaskId,
    start.name,
  ];
  const definition = byName
    ? `(select coalesce($2::uuid, (select id from ${q}.definitions where name = $9 and status = 'active'
         order by version desc limit 1)) as id,
        exists (select 1 from ${q}.definitions where name = $9) as registered)`
    : "(select $2::uuid as id, false as registered)";
  // Started by definition id, the run takes the definition's name; '' stands in for the name of a
  // definition that does not exist, which the foreign key then refuses.
  const columns = `insert into ${q}.executions
      (id, definition_id, name, status, input, metadata, idempotency_key, parent_execution_id, parent_task_id,
       started_at)
    select $1, d.id, coalesce($9::text, (select name from ${q}.definitions where id = d.id), ''), $3::text,
      $4::jsonb, $5::jsonb, $6, $7, $8, case when $3::text = 'running' then now() end`;
  // A key is registered first, and the run inserted only if the key was: a key taken inserts nothing,
  // and a racing start with the same key waits for the first to commit, then does the same. A run
  // that fails (a definition that does not exist, a taken id) takes its key's row with it.
  const [sql, before] =
    key === null
      ? [`${columns} from ${definition} d where d.id is not null or not d.registered returning ${COLUMNS}`]
      : [
          `${columns} from d join keyed on true returning ${COLUMNS}`,
          `d as ${definition},
           keyed as (
             insert into ${q}.execution_keys (idempotency_key, execution_id)
             select $6, $1 from d where d.id is not null or not d.registered
             on conflict do nothing
             returning execution_id)`,
        ];
  // Not written: the key is taken (the run holding it is returned), the name has no active version
  // (resolveWorkflow says so), or the key's row names no run that holds it (its run was deleted
  // outside retention, or a write that registered it wrote no run): then the row is freed and the
  // start tried again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await writeOne<Execution>(
      context,
      sql,
      values,
      { column: "id", id: start.id },
      options,
      undefined,
      before,
    ).catch((error: unknown) =>
      rethrowMissingDefinition(error, `definition ${start.definitionId} not found`),
    );
    if (row) {
      const { appended, history: _, ...execution } = row;
      return appended ? { execution, created: true, appended } : { execution, created: true };
    }
    const existing = key === null ? null : await findByIdempotencyKey(context, key);
    if (existing) return { execution: existing, created: false };
    if (byName) await resolveWorkflow(context, input); // throws for a name with no active version
    if (key !== null) await freeStaleKey(context, key);
  }
  throw new ConflictError(`idempotency key ${key} is taken, but its execution cannot be read`);
}

/** Changes the fields the change carries (a field it lacks is left as it is). */
export async function updateAlone(
  context: StoreContext,
  change: ChangeInput,
  options: AppendOption,
): Promise<WithHistory<Execution>> {
  const has = (field: "input" | "output" | "error" | "state") => Object.hasOwn(change, field);
  const { startedAt, completedAt } = statusTimes(change.status);
  const row = await writeOne<Execution>(
    context,
    `update ${context.q}.executions set
       status = coalesce($3::text, status),
       input = case when $4::boolean then $5::jsonb else input end,
       output = case when $6::boolean then $7::jsonb else output end,
       error = case when $8::boolean then $9::jsonb else error end,
       state = case when $10::boolean then $11::jsonb else state end,
       metadata = coalesce($12::jsonb, metadata),
       version = version + 1,
       updated_at = now(),
       started_at = ${startedAt},
       completed_at = ${completedAt}
     where id = $1 and ($2::bigint is null or version = $2)
       and ($3::text is null or $3::text = status or status not in ${TERMINAL_SQL})
       and ($13::text[] is null or status = any($13))
     returning ${COLUMNS}`,
    [
      change.id,
      change.expectedVersion,
      change.status,
      has("input"),
      change.input ?? null,
      has("output"),
      change.output ?? null,
      has("error"),
      change.error ?? null,
      has("state"),
      change.state ?? null,
      change.metadata,
      change.expectedStatus,
    ],
    { column: "id", id: change.id },
    options,
  );
  return row ?? explainMiss(context, change.id, change.expectedVersion, change.status, change.expectedStatus);
}

/**
 * The run's start and finish times as a change to `status` sets them: started when it first runs,
 * completed when it first ends. As least(column, now()) (a column once set is earlier than now, and
 * least passes over null), chosen here by the status, rather than a CASE or COALESCE around now(),
 * which Citus refuses in an update. A terminal status is only written over an unfinished run or the
 * same status (the update's condition), and an unfinished run has no completed_at.
 */
function statusTimes(status: string | null): { startedAt: string; completedAt: string } {
  // Checked against RUN_STATUSES before it gets here.
  const terminal = status !== null && isTerminal(status as RunStatus);
  return {
    startedAt: status === "running" ? "least(started_at, now())" : "started_at",
    completedAt: terminal ? "least(completed_at, now())" : "completed_at",
  };
}

/** Completes or fails a run that is not finished: the value goes to `output` or to `error`. */
export async function finishAlone(
  context: StoreContext,
  { id, expectedVersion, status, value }: FinishInput,
  options: AppendOption,
): Promise<WithHistory<Execution>> {
  const column = status === "completed" ? "output" : "error";
  const row = await writeOne<Execution>(
    context,
    `update ${context.q}.executions
     set status = $3, ${column} = $4::jsonb, version = version + 1, updated_at = now(), completed_at = now()
     where id = $1 and ($2::bigint is null or version = $2) and status not in ${TERMINAL_SQL}
     returning ${COLUMNS}`,
    [id, expectedVersion, status, value],
    { column: "id", id },
    options,
  );
  return row ?? explainMiss(context, id, expectedVersion, status);
}

/**
 * Cancels a run that is not finished. With `cascade`, the same statement (so the same transaction)
 * walks the descendants through parent_execution_id, cancels every unfinished one, and cancels the
 * unfinished tasks of all the runs it cancelled.
 */
export async function cancel(
  context: SqlContext & Pick<StoreContext, "driver">,
  id: string,
  options: CancelExecutionOptions,
): Promise<Execution> {
  const q = context.q;
  checkId(id, "id");
  const expected = optionalVersion(options.expectedVersion);
  const cancelRoot = `update ${q}.executions
     set status = 'cancelled', version = version + 1, updated_at = now(), completed_at = now()
     where id = $1 and ($2::bigint is null or version = $2) and status not in ${TERMINAL_SQL}
     returning ${COLUMNS}`;
  if (options.cascade && context.driver.capabilities.distributed) {
    const row = await cancelTreeOnCitus(context, cancelRoot, [id, expected]);
    return row ?? explainMiss(context, id, expected, "cancelled");
  }
  const sql = options.cascade
    ? `with recursive root as (${cancelRoot}),
       -- union (not union all) stops at a cycle of parent links instead of looping.
       descendants(id) as (
         select e.id from ${q}.executions e join root on e.parent_execution_id = root.id
         union
         select e.id from ${q}.executions e join descendants d on e.parent_execution_id = d.id
       ),
       children as (
         update ${q}.executions e
         set status = 'cancelled', version = e.version + 1, updated_at = now(), completed_at = now()
         from descendants d
         where e.id = d.id and e.id <> $1 and e.status not in ${TERMINAL_SQL}
         returning e.id
       ),
       tasks as (
         update ${q}.tasks t set status = 'cancelled', version = t.version + 1, updated_at = now()
         where t.execution_id in (select id from root union all select id from children)
           and t.status not in ${TERMINAL_SQL}
         returning 1
       )
       select * from root`
    : cancelRoot;
  const { rows } = await context.db.query<Execution>(sql, [id, expected]);
  return rows[0] ?? explainMiss(context, id, expected, "cancelled");
}

/**
 * A cancel with `cascade` on Citus, where a recursive walk of parent_execution_id (not the distribution
 * column) is not run: in one transaction, the root's update, then its descendants a generation at a
 * time (each read from every shard, stopping at a run seen before), their update, and their tasks'.
 */
async function cancelTreeOnCitus(
  context: SqlContext,
  cancelRoot: string,
  values: unknown[],
): Promise<Execution | undefined> {
  const { q } = context;
  return context.db.transaction(async (db) => {
    const { rows } = await db.query<Execution>(cancelRoot, values);
    const root = rows[0];
    if (!root) return undefined;
    const seen = new Set([root.id]);
    let generation = [root.id];
    while (generation.length) {
      const children = await db.query<{ id: string }>(
        `select id from ${q}.executions where parent_execution_id = any($1::uuid[])`,
        [generation],
      );
      generation = children.rows.map((row) => row.id).filter((child) => !seen.has(child));
      for (const child of generation) seen.add(child);
    }
    const { rows: cancelled } = await db.query<{ id: string }>(
      `update ${q}.executions
          set status = 'cancelled', version = version + 1, updated_at = now(), completed_at = now()
        where id = any($1::uuid[]) and id <> $2 and status not in ${TERMINAL_SQL} returning id`,
      [[...seen], root.id],
    );
    await db.query(
      `update ${q}.tasks set status = 'cancelled', version = version + 1, updated_at = now()
        where execution_id = any($1::uuid[]) and status not in ${TERMINAL_SQL}`,
      [[root.id, ...cancelled.map((row) => row.id)]],
    );
    return root;
  });
}

/** How records are written: in one statement, or on Citus a run at a time (records-distributed.ts). */
function recordsWriter(context: StoreContext): typeof writeRecords {
  return context.driver.capabilities.distributed ? writeRecordsOnCitus : writeRecords;
}

/** Writes the whole object (inserting it if new); moving a terminal execution to another status is a conflict. */
export async function upsert(context: StoreContext, execution: ExecutionRecord): Promise<Execution> {
  const columns = recordColumns([execution], context.limits);
  return withOffloadedStates(context, columns.id, columns.state, async (c) => {
    const [row] = await recordsWriter(c)(c, columns);
    if (row) return row;
    await checkRecordNames(c, columns);
    return explainMiss(c, execution.id, null, execution.status);
  });
}

/** Many `upsert`s in one statement, all or none. Returned in the order given. */
export async function upsertMany(
  context: StoreContext,
  executions: readonly ExecutionRecord[],
): Promise<Execution[]> {
  if (executions.length === 0) return [];
  const columns = recordColumns(executions, context.limits);
  // The ids as checked (lower case), which is how the rows come back.
  const ids = columns.id;
  return withOffloadedStates(context, ids, columns.state, (c) => writeAll(c, columns, executions));
}

/** upsertMany's statement in a transaction; a ConflictError for the first run it could not write. */
async function writeAll(
  context: StoreContext,
  columns: RecordColumns,
  executions: readonly ExecutionRecord[],
): Promise<Execution[]> {
  const ids = columns.id;
  return context.db.transaction(async (tx) => {
    const rows = await recordsWriter(context)({ db: tx, q: context.q }, columns);
    if (rows.length < executions.length) {
      await checkRecordNames({ db: tx, q: context.q }, columns);
      const written = new Set(rows.map((row) => row.id));
      const slot = ids.findIndex((id) => !written.has(id));
      throw new ConflictError(
        `execution ${ids[slot]} is finished and cannot move to ${executions[slot]?.status}; nothing was written`,
      );
    }
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) as Execution);
  });
}
