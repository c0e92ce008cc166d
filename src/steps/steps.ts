/**
 * Step checkpoints: what each step of an execution returned (or how it failed), under the step's number,
 * so a run that starts again replays its recorded steps instead of running them twice.
 *
 * `record` is one statement: the first writer of (execution, number) wins, and any later writer gets
 * the recorded checkpoint back. Outside a transaction, records made at the same time share one
 * statement and one commit (steps/batch.ts). A later writer that names another step gets a NonDeterminismError.
 * The execution need not be in `executions` (see migration 0010); retention deletes the checkpoints of
 * the executions it prunes.
 *
 * The types callers see are in steps/types.ts; the stored row, which this file's statements and the
 * batch's select alike, in steps/rows.ts.
 */

import { deleteBlobsUnder } from "../blobs/index.js";
import { batchesWrites, type SqlContext, type StoreContext } from "../core/context.js";
import { NonDeterminismError, StoreError } from "../core/errors.js";
import { checkId, checkInteger, errorJson, MAX_INT, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText, type JsonOrBytes, toJson, toJsonOrBytes } from "../core/payload.js";
import { idBatch } from "../core/planned-few.js";
import type { WriteBatcher } from "../core/write-batch.js";
import {
  keepIfWritten,
  offload,
  offloadPrefix,
  refuseReserved,
  resolve,
  resolveEach,
} from "../offload/index.js";
import { type StepInput, stepBatcher } from "./batch.js";
import { COLUMNS, type RecordedRow, type StepRow, toCheckpoint } from "./rows.js";
import type { RecordStep, RecordStepResult, StepCheckpoint, StepListOptions } from "./types.js";

// A misspelt output would record the step as having returned nothing, and replay would return that.
const RECORD_KEYS = optionKeys<RecordStep>({
  executionId: true,
  number: true,
  name: true,
  output: true,
  error: true,
  attempts: true,
});
const LIST_KEYS = optionKeys<StepListOptions>({ from: true, limit: true });

export type { RecordStep, RecordStepResult, StepCheckpoint, StepListOptions } from "./types.js";

/** How many times `record` runs its statement while a concurrent writer's row keeps slipping past it. */
const RECORD_ATTEMPTS = 5;

export class Steps {
  private readonly batcher: WriteBatcher<StepInput, RecordedRow>;

  constructor(protected readonly context: StoreContext) {
    this.batcher = stepBatcher(context);
  }

  private get t(): string {
    return `${this.context.q}.steps`;
  }

  /**
   * Records a step's outcome unless the step is recorded already; returns the stored checkpoint and
   * whether this call wrote it. One statement, so outside a transaction one round trip and no
   * BEGIN/COMMIT. NonDeterminismError (a ConflictError) when the number holds a step of another name.
   */
  async record(input: RecordStep): Promise<RecordStepResult> {
    const executionId = checkId(input?.executionId, "executionId");
    refuseUnknownKeys(input, RECORD_KEYS);
    const number = checkInteger(input.number, "number", 0, MAX_INT);
    const name = checkText(input.name, "name");
    const output =
      input.output === undefined
        ? { json: null, bytes: null }
        : toJsonOrBytes(input.output, "output", this.context.limits);
    const error =
      input.error === undefined || input.error === null
        ? null
        : input.error instanceof Error
          ? errorJson(input.error, this.context.limits)
          : toJson(input.error, "error", this.context.limits);
    const attempts =
      input.attempts === undefined ? null : checkInteger(input.attempts, "attempts", 1, MAX_INT);
    refuseReserved(input.output, "output");
    const put =
      input.output === undefined
        ? { value: output }
        : await offload(this.context, executionId, output, "steps");
    // Another writer's step won: its output is the one stored, and this call's blob goes.
    const row = await keepIfWritten(
      this.context,
      put.key ? [put.key] : [],
      () => this.write(executionId, number, name, put.value, error, attempts),
      (written) => !written.created,
    );
    const step = toCheckpoint(row);
    if (!row.created) step.output = await resolve(this.context, step.output);
    else if (put.key) step.output = input.output;
    return { step, created: row.created };
  }

  /** The insert of a checked step, or the step recorded already; its name checked against `name`. */
  private async write(
    executionId: string,
    number: number,
    name: string,
    output: JsonOrBytes,
    error: string | null,
    attempts: number | null,
  ): Promise<RecordedRow> {
    // The insert does nothing when the step is there; the select then finds it. A row committed by a
    // concurrent writer after this statement's snapshot is seen by neither (the insert waited for that
    // writer and then did nothing): no row comes back, and the statement runs again with a new snapshot.
    // That second run happens only in such a race, and writes no dead row, unlike `do update`.
    const sql = `with inserted as (
        insert into ${this.t} (execution_id, step_number, name, output, output_bytes, error, attempts)
        values ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7)
        on conflict (execution_id, step_number) do nothing
        returning *
      )
      select ${COLUMNS}, true as created from inserted
      union all
      select ${COLUMNS}, false from ${this.t}
       where execution_id = $1 and step_number = $2 and not exists (select 1 from inserted)`;
    const values = [executionId, number, name, output.json, output.bytes, error, attempts];
    // Outside a transaction (and off Citus), records made at the same time share a statement and a commit.
    if (batchesWrites(this.context)) {
      const row = await this.batcher.write({
        executionId,
        number,
        name,
        outputJson: output.json,
        outputBytes: output.bytes,
        error,
        attempts,
      });
      if (row) {
        if (row.name !== name) throw new NonDeterminismError(executionId, number, row.name, name);
        return row;
      }
    }
    for (let attempt = 1; ; attempt++) {
      const { rows } = this.context.driver.capabilities.distributed
        ? await this.writeOnCitus(values)
        : await this.context.db.query<RecordedRow>(sql, values, { prepare: true });
      const row = rows[0];
      if (row) {
        if (row.name !== name) throw new NonDeterminismError(executionId, number, row.name, name);
        return row;
      }
      // Only reachable in the race above, or when the row was deleted between the two (a prune).
      if (attempt >= RECORD_ATTEMPTS) {
        throw new StoreError(`step ${number} of execution ${executionId} was neither written nor found`);
      }
    }
  }

  /**
   * The write's statement in two on Citus, each one Citus sends whole to the run's shard: the insert,
   * then (when the step was there) the read. As one statement, its CTE went through the coordinator.
   */
  private async writeOnCitus(values: unknown[]): Promise<{ rows: RecordedRow[] }> {
    const inserted = await this.context.db.query<RecordedRow>(
      `insert into ${this.t} (execution_id, step_number, name, output, output_bytes, error, attempts)
       values ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7)
       on conflict (execution_id, step_number) do nothing
       returning ${COLUMNS}, true as created`,
      values,
    );
    if (inserted.rows.length > 0) return inserted;
    return this.context.db.query<RecordedRow>(
      `select ${COLUMNS}, false as created from ${this.t} where execution_id = $1 and step_number = $2`,
      values.slice(0, 2),
    );
  }

  /** The checkpoint of one step, or undefined when it is not recorded. */
  async get(executionId: string, number: number): Promise<StepCheckpoint | undefined> {
    const { rows } = await this.context.db.query<StepRow>(
      `select ${COLUMNS} from ${this.t} where execution_id = $1 and step_number = $2`,
      [checkId(executionId, "executionId"), checkInteger(number, "number", 0, MAX_INT)],
      { prepare: true },
    );
    const step = rows[0] && toCheckpoint(rows[0]);
    if (step) step.output = await resolve(this.context, step.output);
    return step;
  }

  /** A run's checkpoints in step order, in one statement: what a replay reads. */
  async list(executionId: string, options: StepListOptions = {}): Promise<StepCheckpoint[]> {
    const id = checkId(executionId, "executionId");
    refuseUnknownKeys(options, LIST_KEYS);
    const from = checkInteger(options.from ?? 0, "from", 0, MAX_INT);
    const limit = options.limit === undefined ? null : checkInteger(options.limit, "limit", 1, MAX_INT);
    const { rows } = await this.context.db.query<StepRow>(
      `select ${COLUMNS} from ${this.t}
        where execution_id = $1 and step_number >= $2
        order by step_number
        limit $3`,
      [id, from, limit],
      { prepare: true },
    );
    const steps = rows.map(toCheckpoint);
    await resolveEach(
      this.context,
      steps,
      (step) => step.output,
      (step, output) => {
        step.output = output;
      },
    );
    return steps;
  }

  /**
   * Deletes every checkpoint of a run; returns how many. Retention does this for pruned executions; this
   * is for runs kept elsewhere than `executions`, or to start a run over.
   */
  async delete(executionId: string): Promise<number> {
    const id = checkId(executionId, "executionId");
    const deleted = await deleteStepsOf(this.context, [id]);
    // Their offloaded outputs too: a run kept elsewhere than `executions` has no retention to take them.
    await deleteBlobsUnder(this.context, offloadPrefix(id, "steps"), null);
    return deleted;
  }
}

/** Retention: deletes the checkpoints of these executions; returns how many. */
export async function deleteStepsOf({ db, q }: SqlContext, executionIds: string[]): Promise<number> {
  const sql = `delete from ${q}.steps where execution_id = any(${idBatch(1, "uuid")})`;
  return (await db.query(sql, [executionIds])).rowCount;
}
