/**
 * Starts and finishes of executions made outside a transaction share statements and commits
 * (core/write-batch.ts): sixteen workflows starting or ending at once cost one insert or one update of
 * sixteen rows. Only the plain forms are batched; a write that gets no row back from its batch (a
 * taken id or idempotency key, a registered name with no active version, another version, a finished
 * run) runs its own statement, which answers it as if it had gone alone.
 */

import type { StoreContext } from "../core/context.js";
import { TERMINAL_SQL } from "../core/run-status.js";
import { recordsJson, WriteBatcher } from "../core/write-batch.js";
import { COLUMNS } from "./records.js";
import type { Execution } from "./types.js";

/** A start by workflow name, checked and converted. */
export interface StartInput {
  id: string;
  name: string;
  status: string;
  input: string | null;
  metadata: string;
  idempotencyKey: string | null;
  parentExecutionId: string | null;
  parentTaskId: string | null;
}

/** A completion or failure: the value goes to `output` when completed, to `error` when failed. */
export interface FinishInput {
  id: string;
  expectedVersion: number | null;
  status: "completed" | "failed";
  value: string | null;
}

/** A start as a batch's record carries it (see jsonb_to_recordset in the statements). */
export function startRecord(i: StartInput): object {
  return {
    id: i.id,
    name: i.name,
    status: i.status,
    input: i.input,
    metadata: i.metadata,
    idempotency_key: i.idempotencyKey,
    parent_execution_id: i.parentExecutionId,
    parent_task_id: i.parentTaskId,
  };
}

export function startBatcher(context: StoreContext): WriteBatcher<StartInput, Execution> {
  return new WriteBatcher(
    (inputs) => sendStarts(context, inputs),
    (input) => input.id,
  );
}

export function finishBatcher(context: StoreContext): WriteBatcher<FinishInput, Execution> {
  return new WriteBatcher(
    (inputs) => sendFinishes(context, inputs),
    (input) => input.id,
  );
}

/** One statement for the batch (see startsInsert). */
async function sendStarts(
  context: StoreContext,
  inputs: StartInput[],
): Promise<Array<Execution | undefined>> {
  const { ctes, insert } = startsInsert(
    context.q,
    `jsonb_to_recordset($1::jsonb)
       as i(id uuid, name text, status text, input text, metadata text, idempotency_key text,
            parent_execution_id uuid, parent_task_id uuid)`,
    inputs.some((input) => input.idempotencyKey !== null),
  );
  const { rows } = await context.db.query<Execution>(
    ctes === null ? insert : `with ${ctes} ${insert}`,
    [recordsJson(inputs.map(startRecord))],
    { prepare: true },
  );
  return inRequestOrder(inputs, rows);
}

/**
 * One update for the batch; a run at another version than expected, or finished already, is left out.
 * Each run's row is found by a probe of the primary key and updated at the address the probe found
 * (ctid): a join of the table with the batch would let a plan cached while the table was small scan
 * it whole ever after. A run updated between the probe and the update is no longer at that address,
 * and is left out too (its caller then writes alone).
 */
async function sendFinishes(
  context: StoreContext,
  inputs: FinishInput[],
): Promise<Array<Execution | undefined>> {
  const t = `${context.q}.executions`;
  // The batch's columns are named apart from the table's, which `returning` names bare.
  const { rows } = await context.db.query<Execution>(
    `update ${t} e
        set status = b.finished_as,
            output = case when b.finished_as = 'completed' then b.value::jsonb else e.output end,
            error = case when b.finished_as = 'failed' then b.value::jsonb else e.error end,
            version = e.version + 1, updated_at = now(), completed_at = now()
       from jsonb_to_recordset($1::jsonb) as b(run_id uuid, expected bigint, finished_as text, value text)
       cross join lateral (select ctid as found from ${t} x where x.id = b.run_id limit 1) probe
      where e.ctid = probe.found and (b.expected is null or e.version = b.expected)
        and e.status not in ${TERMINAL_SQL}
      returning ${COLUMNS}`,
    [
      recordsJson(
        inputs.map((i) => ({
          run_id: i.id,
          expected: i.expectedVersion,
          finished_as: i.status,
          value: i.value,
        })),
      ),
    ],
    { prepare: true },
  );
  return inRequestOrder(inputs, rows);
}

function inRequestOrder(inputs: Array<{ id: string }>, rows: Execution[]): Array<Execution | undefined> {
  const byId = new Map(rows.map((row) => [row.id, row]));
  return inputs.map((input) => byId.get(input.id));
}

/** The insert of a batch of starts, and the CTEs it reads (see startsInsert). */
export interface StartsInsert {
  ctes: string | null;
  insert: string;
}

/**
 * The insert of a batch of starts read from `source` (as `i`, with startRecord's columns). Each run
 * takes its name's newest active definition, or none when the name is not registered; `on conflict do
 * nothing` leaves out a run whose id is taken. A batch with idempotency keys (`keyed`) registers them
 * first (CTE `keyed`) and inserts only the runs whose key it registered, leaving out a run whose key
 * is taken; a batch without keys is sent without those CTEs, at the cost it always had.
 */
export function startsInsert(q: string, source: string, keyed: boolean): StartsInsert {
  const columns = `insert into ${q}.executions
        (id, definition_id, name, status, input, metadata, idempotency_key, parent_execution_id, parent_task_id,
         started_at)`;
  const workflow = `cross join lateral (
          select (select id from ${q}.definitions where name = i.name and status = 'active'
                   order by version desc limit 1) as id,
                 -- As a probe with a limit, not exists(): a cached plan may hash a whole table for that.
                 (select true from ${q}.definitions where name = i.name limit 1) as registered
        ) d
       where d.id is not null or d.registered is null`;
  // Keys in one order in every batch: two batches that share keys wait instead of deadlocking.
  const tail = `order by i.idempotency_key, i.id
      on conflict do nothing
      returning ${COLUMNS}`;
  if (!keyed) {
    return {
      ctes: null,
      insert: `${columns}
      select i.id, d.id, i.name, i.status, i.input::jsonb, i.metadata::jsonb, i.idempotency_key,
             i.parent_execution_id, i.parent_task_id, case when i.status = 'running' then now() end
        from ${source}
        ${workflow}
       ${tail}`,
    };
  }
  return {
    ctes: `starting as (
      select i.id, d.id as definition_id, i.name, i.status, i.input, i.metadata, i.idempotency_key,
             i.parent_execution_id, i.parent_task_id
        from ${source}
        ${workflow}),
    keyed as (
      insert into ${q}.execution_keys (idempotency_key, execution_id)
      select idempotency_key, id from starting where idempotency_key is not null
       order by idempotency_key, id
      on conflict do nothing
      returning execution_id)`,
    insert: `${columns}
      select i.id, i.definition_id, i.name, i.status, i.input::jsonb, i.metadata::jsonb, i.idempotency_key,
             i.parent_execution_id, i.parent_task_id, case when i.status = 'running' then now() end
        from starting i
       where i.idempotency_key is null or i.id in (select execution_id from keyed)
       ${tail}`,
  };
}
