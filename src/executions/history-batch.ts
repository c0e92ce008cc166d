/**
 * Starts, changes and finishes of executions that append to their own history share statements when
 * made outside a transaction (history/batch.ts), as plain starts and finishes do (executions/batch.ts):
 * a hundred runs each recording that they started cost one statement and one commit. A write the batch
 * left out (a taken id or key, a name with no active version, another version or status, a finished
 * run) runs alone, which answers it as if it had gone alone.
 *
 * Rows are found by probes of their keys (lateral, limit 1) that also check the expected version and
 * status, and updated at the address the probe found: a run changed since is no longer there, and is
 * left out too. A join of the table with the batch would let a plan cached while the table was small
 * scan it whole ever after.
 */

import type { StoreContext } from "../core/context.js";
import { TERMINAL_SQL } from "../core/run-status.js";
import type { WriteBatcher } from "../core/write-batch.js";
import {
  type AppendOption,
  type BatchWritten,
  type HistoryWrite,
  historyBatcher,
  historyTail,
  inBatch,
  probedRows,
} from "../history/index.js";
import { type FinishInput, type StartInput, startRecord, startsInsert } from "./batch.js";
import { COLUMNS } from "./records.js";
import type { Execution } from "./types.js";

/** A change of an execution, as executions.update checks it (its statement's parameters $2 to $13). */
export interface ChangeInput {
  id: string;
  expectedVersion: number | null;
  status: string | null;
  input?: string | null;
  output?: string | null;
  error?: string | null;
  state?: string | null;
  metadata: string | null;
  expectedStatus: string[] | null;
}

type Batcher<I> = WriteBatcher<I & HistoryWrite, BatchWritten<Execution>>;

function startBatcher(context: StoreContext): Batcher<StartInput> {
  const q = context.q;
  const sql = (keyed: boolean) => {
    const { ctes, insert } = startsInsert(q, "b i", keyed);
    return `with b as (
      select * from jsonb_to_recordset($1::jsonb)
        as b(n int, events jsonb, after bigint, id uuid, name text, status text, input text, metadata text,
             idempotency_key text, parent_execution_id uuid, parent_task_id uuid)),${ctes === null ? "" : `\n    ${ctes},`}
    inserted as (${insert}),
    written as (select w.*, b.n as "batch.n" from inserted w join b on b.id = w.id),
    ${historyTail(q, "id")}`;
  };
  // Two texts, each built once: with idempotency keys in the batch (registered first), and without.
  const [keyed, plain] = [sql(true), sql(false)];
  return historyBatcher<StartInput & HistoryWrite, Execution>(
    context,
    (inputs) => (inputs.some((input) => input.idempotencyKey !== null) ? keyed : plain),
    startRecord,
    (i) => i.id,
  );
}

function finishBatcher(context: StoreContext): Batcher<FinishInput> {
  const t = `${context.q}.executions`;
  // The batch's columns are named apart from the table's, which returning names bare.
  const sql = `with b as (
      select * from jsonb_to_recordset($1::jsonb)
        as b(n int, events jsonb, after bigint, run_id uuid, expected bigint, finished_as text, value text)),
    written as (
      update ${t} e
         set status = b.finished_as,
             output = case when b.finished_as = 'completed' then b.value::jsonb else e.output end,
             error = case when b.finished_as = 'failed' then b.value::jsonb else e.error end,
             version = e.version + 1, updated_at = now(), completed_at = now()
        ${probedRows(t, "id", "run_id", [
          "(b.expected is null or x.version = b.expected)",
          `x.status not in ${TERMINAL_SQL}`,
        ])}
       where e.ctid = probe.found
      returning ${COLUMNS}, b.n as "batch.n"),
    ${historyTail(context.q, "id")}`;
  return historyBatcher(
    context,
    sql,
    (i) => ({ run_id: i.id, expected: i.expectedVersion, finished_as: i.status, value: i.value }),
    (i) => i.id,
  );
}

function changeBatcher(context: StoreContext): Batcher<ChangeInput> {
  const t = `${context.q}.executions`;
  const has = (column: string) => `b.set_${column} then b.new_${column}::jsonb else e.${column}`;
  const sql = `with b as (
      select * from jsonb_to_recordset($1::jsonb)
        as b(n int, events jsonb, after bigint, run_id uuid, expected bigint, to_status text,
             set_input boolean, new_input text, set_output boolean, new_output text, set_error boolean,
             new_error text, set_state boolean, new_state text, new_metadata text, statuses jsonb)),
    -- The batch's columns are named apart from the table's, which returning names bare.
    written as (
      update ${t} e set
         status = coalesce(b.to_status, e.status),
         input = case when ${has("input")} end,
         output = case when ${has("output")} end,
         error = case when ${has("error")} end,
         state = case when ${has("state")} end,
         metadata = coalesce(b.new_metadata::jsonb, e.metadata),
         version = e.version + 1,
         updated_at = now(),
         started_at = case when b.to_status = 'running' then coalesce(e.started_at, now()) else e.started_at end,
         completed_at = case when b.to_status in ${TERMINAL_SQL} and e.status not in ${TERMINAL_SQL}
                             then now() else e.completed_at end
        ${probedRows(t, "id", "run_id", [
          "(b.expected is null or x.version = b.expected)",
          `(b.to_status is null or b.to_status = x.status or x.status not in ${TERMINAL_SQL})`,
          "(b.statuses is null or b.statuses ? x.status)",
        ])}
       where e.ctid = probe.found
      returning ${COLUMNS}, b.n as "batch.n"),
    ${historyTail(context.q, "id")}`;
  const set = (value: string | null | undefined) => ({ set: value !== undefined, value: value ?? null });
  return historyBatcher(
    context,
    sql,
    (i) => {
      const [input, output, error, state] = [i.input, i.output, i.error, i.state].map(set);
      return {
        run_id: i.id,
        expected: i.expectedVersion,
        to_status: i.status,
        set_input: input?.set,
        new_input: input?.value,
        set_output: output?.set,
        new_output: output?.value,
        set_error: error?.set,
        new_error: error?.value,
        set_state: state?.set,
        new_state: state?.value,
        new_metadata: i.metadata,
        statuses: i.expectedStatus,
      };
    },
    (i) => i.id,
  );
}

/**
 * The batches of one store's execution writes that append: each write, its append checked, goes in
 * its kind's batch and comes back with its events; undefined when it appends nothing, runs in a
 * transaction, or was left out of its batch (then it goes alone).
 */
export class ExecutionHistoryBatches {
  private starts?: Batcher<StartInput>;
  private changes?: Batcher<ChangeInput>;
  private finishes?: Batcher<FinishInput>;

  constructor(private readonly context: StoreContext) {}

  start(start: StartInput, options: AppendOption) {
    return inBatch(this.context, start.id, options, (events) => {
      this.starts ??= startBatcher(this.context);
      return this.starts.write({ ...start, ...events });
    });
  }

  change(change: ChangeInput, options: AppendOption) {
    return inBatch(this.context, change.id, options, (events) => {
      this.changes ??= changeBatcher(this.context);
      return this.changes.write({ ...change, ...events });
    });
  }

  finish(finish: FinishInput, options: AppendOption) {
    return inBatch(this.context, finish.id, options, (events) => {
      this.finishes ??= finishBatcher(this.context);
      return this.finishes.write({ ...finish, ...events });
    });
  }
}
