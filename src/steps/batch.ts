/**
 * Step records made outside a transaction share one statement and one commit (core/write-batch.ts): one
 * insert of many rows, each writer still getting the stored row back.
 */

import type { StoreContext } from "../core/context.js";
import { recordsJson, WriteBatcher } from "../core/write-batch.js";
import { COLUMNS, type RecordedRow } from "./rows.js";

/** One record, checked and converted, as the statement takes it. */
export interface StepInput {
  executionId: string;
  number: number;
  name: string;
  outputJson: string | null;
  outputBytes: Uint8Array | null;
  error: string | null;
  attempts: number | null;
}

/**
 * Step records made outside a transaction share statements (core/write-batch.ts): two records of one step
 * never share one.
 */
export function stepBatcher(context: StoreContext): WriteBatcher<StepInput, RecordedRow> {
  return new WriteBatcher(
    (inputs) => sendSteps(context, inputs),
    (input) => `${input.executionId}/${input.number}`,
  );
}

/** One statement for the batch (each step in it once); the rows come back in the batch's order. */
async function sendSteps(
  context: StoreContext,
  inputs: StepInput[],
): Promise<Array<RecordedRow | undefined>> {
  const t = `${context.q}.steps`;
  // The steps recorded already are read back one by one through their key, and only when some were
  // not inserted: a lateral probe with a limit stays an index probe in a cached plan, however small the
  // table was when the plan was made (a join here turned into a scan of the whole table as it grew).
  // Inserted in key order, the order in which every batch takes its rows: two batches that share keys
  // wait for each other instead of deadlocking.
  const sql = `with input as (
        select execution_id, step_number, name, output::jsonb, decode(output_bytes, 'base64') as output_bytes,
               error::jsonb, attempts
          from jsonb_to_recordset($1::jsonb)
                 as i(execution_id uuid, step_number int, name text, output text, output_bytes text, error text,
                      attempts int)
      ),
      inserted as (
        insert into ${t} (execution_id, step_number, name, output, output_bytes, error, attempts)
        select * from input order by execution_id, step_number
        on conflict (execution_id, step_number) do nothing
        returning *
      )
      select ${COLUMNS}, true as created from inserted
      union all
      select ${COLUMNS}, false from (
        select s.* from input i
         cross join lateral (select * from ${t} s
                              where s.execution_id = i.execution_id and s.step_number = i.step_number
                              limit 1) s
         where (select count(*) from inserted) < (select count(*) from input)
      ) s`;
  const records = inputs.map((i) => ({
    execution_id: i.executionId,
    step_number: i.number,
    name: i.name,
    output: i.outputJson,
    output_bytes: i.outputBytes && base64(i.outputBytes),
    error: i.error,
    attempts: i.attempts,
  }));
  const { rows } = await context.db.query<RecordedRow>(sql, [recordsJson(records)], { prepare: true });
  const byKey = new Map(rows.map((row) => [`${row.execution_id}/${row.step_number}`, row]));
  return inputs.map((input) => byKey.get(`${input.executionId}/${input.number}`));
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
