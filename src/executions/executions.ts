/**
 * Executions: one row per workflow run. Writes are compare-and-set on `version` when asked, and a
 * terminal execution (completed, failed, cancelled, timed_out) never changes status again.
 */

import type { StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError } from "../core/errors.js";
import {
  checkId,
  checkLimit,
  checkOneOf,
  checkOneOrMany,
  idOrNew,
  optionalDate,
  optionalId,
  optionalText,
  optionalVersion,
  requireTransaction,
} from "../core/input.js";
import { CURSOR_AT, decodeCursor, type Page, toPage } from "../core/keyset.js";
import { checkText, toJsonOrNull } from "../core/payload.js";
import { countsByStatus, RUN_STATUSES, TERMINAL_SQL } from "../core/run-status.js";
import type { WriteBatcher } from "../core/write-batch.js";
import type { HistoryEvent } from "../history/types.js";
import { type AppendOption, type WithHistory, writeOne } from "../history/writes.js";
import { type FinishInput, finishBatcher, type StartInput, startBatcher } from "./batch.js";
import { type ChangeInput, ExecutionHistoryBatches } from "./history-batch.js";
import {
  COLUMNS,
  checkRecordNames,
  explainMiss,
  metadataJson,
  recordColumns,
  resolveWorkflow,
  rethrowMissingDefinition,
  writeRecords,
} from "./records.js";
import type {
  CancelExecutionOptions,
  Execution,
  ExecutionFilter,
  ExecutionListOptions,
  ExecutionPatch,
  ExecutionRecord,
  ExecutionStatus,
  ExecutionWriteOptions,
  StartExecution,
} from "./types.js";

export class Executions {
  // Made when first used: a transaction's repositories never batch.
  private starts?: WriteBatcher<StartInput, Execution>;
  private finishes?: WriteBatcher<FinishInput, Execution>;

  constructor(protected readonly context: StoreContext) {}

  private history?: ExecutionHistoryBatches;

  /** Outside a transaction, a plain write shares a statement and a commit with those made at the same time. */
  private batches(options: AppendOption): boolean {
    return options.append === undefined && !this.context.db.inTransaction;
  }

  /** Outside a transaction, a write that appends to the history shares one too (its batches). */
  private get historyBatches(): ExecutionHistoryBatches {
    this.history ??= new ExecutionHistoryBatches(this.context);
    return this.history;
  }

  private get q(): string {
    return this.context.q;
  }

  private json(value: unknown, field: string): string | null {
    return toJsonOrNull(value, field, this.context.limits);
  }

  private metadata(value: unknown): string | null {
    return metadataJson(value, this.context.limits);
  }

  /**
   * Creates a run, or with a known idempotency key returns the existing one (`created: false`). With
   * `append`, a run it creates records those events in the same statement.
   */
  async start(
    input: StartExecution,
    options: AppendOption = {},
  ): Promise<{ execution: Execution; created: boolean; appended?: HistoryEvent[] }> {
    const id = idOrNew(input.id, "id");
    const status = checkOneOf(input.status ?? "pending", ["pending", "running"], "status");
    const key = optionalText(input.idempotencyKey, "idempotencyKey", 1024);
    const payload = this.json(input.input, "input");
    const metadata = this.metadata(input.metadata) ?? "{}";
    const parentExecutionId = optionalId(input.parentExecutionId, "parentExecutionId");
    const parentTaskId = optionalId(input.parentTaskId, "parentTaskId");
    // Started by a name alone, the definition is looked up in the insert itself (one round trip): its
    // newest active version, or none when the name is not registered (a registered name with no
    // active version inserts nothing, and resolveWorkflow says why).
    const byName =
      input.definitionId === undefined && input.version === undefined && input.name !== undefined;
    const { definitionId, name } = byName
      ? { definitionId: null, name: checkText(input.name, "name") }
      : await resolveWorkflow(this.context, input);
    // Outside a transaction a start by name goes in a batch; it is written alone only when the batch
    // wrote nothing for it (a taken key, a name with no active version).
    if (byName && name !== null) {
      const start: StartInput = {
        id,
        name,
        status,
        input: payload,
        metadata,
        idempotencyKey: key,
        parentExecutionId,
        parentTaskId,
      };
      if (this.batches(options)) {
        this.starts ??= startBatcher(this.context);
        const row = await this.starts.write(start);
        if (row) return { execution: row, created: true };
      }
      const row = await this.historyBatches.start(start, options);
      if (row) {
        const { appended, history: _, ...execution } = row;
        return { execution, created: true, appended: appended ?? [] };
      }
    }
    const values = [id, definitionId, status, payload, metadata, key, parentExecutionId, parentTaskId, name];
    const definition = byName
      ? `(select coalesce($2::uuid, (select id from ${this.q}.definitions where name = $9 and status = 'active'
           order by version desc limit 1)) as id,
          exists (select 1 from ${this.q}.definitions where name = $9) as registered)`
      : "(select $2::uuid as id, false as registered)";
    // Started by definition id, the run takes the definition's name; '' stands in for the name of a
    // definition that does not exist, which the foreign key then refuses.
    const sql = `insert into ${this.q}.executions
        (id, definition_id, name, status, input, metadata, idempotency_key, parent_execution_id, parent_task_id,
         started_at)
      select $1, d.id, coalesce($9::text, (select name from ${this.q}.definitions where id = d.id), ''), $3::text,
        $4::jsonb, $5::jsonb, $6, $7, $8, case when $3::text = 'running' then now() end
        from ${definition} d
       where d.id is not null or not d.registered
      on conflict (idempotency_key) where idempotency_key is not null do nothing
      returning ${COLUMNS}`;
    // A racing start with the same key waits for the first to commit, then inserts nothing and reads
    // the winner. Only if that row vanished in between (deleted) is the insert tried again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await writeOne<Execution>(this.context, sql, values, "id", options).catch(
        (error: unknown) => rethrowMissingDefinition(error, `definition ${definitionId} not found`),
      );
      if (row) {
        const { appended, history: _, ...execution } = row;
        return appended ? { execution, created: true, appended } : { execution, created: true };
      }
      const existing = key === null ? null : await this.findByIdempotencyKey(key);
      if (existing) return { execution: existing, created: false };
      if (byName) await resolveWorkflow(this.context, input); // throws for a name with no active version
    }
    throw new ConflictError(`idempotency key ${key} is taken, but its execution cannot be read`);
  }

  async get(id: string): Promise<Execution> {
    checkId(id, "id");
    const { rows } = await this.context.db.query<Execution>(
      `select ${COLUMNS} from ${this.q}.executions where id = $1`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError(`execution ${id} not found`);
    return rows[0];
  }

  /** Reads and locks the row until the transaction ends; other writers (and lockers) wait. */
  async getForUpdate(id: string): Promise<Execution> {
    requireTransaction(this.context.db, "executions.getForUpdate");
    checkId(id, "id");
    const { rows } = await this.context.db.query<Execution>(
      `select ${COLUMNS} from ${this.q}.executions where id = $1 for update`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError(`execution ${id} not found`);
    return rows[0];
  }

  async findByIdempotencyKey(key: string): Promise<Execution | null> {
    checkText(key, "idempotencyKey", 1024);
    const { rows } = await this.context.db.query<Execution>(
      `select ${COLUMNS} from ${this.q}.executions where idempotency_key = $1`,
      [key],
    );
    return rows[0] ?? null;
  }

  /**
   * Changes the fields given. With `expectedVersion` (or `expectedStatus`), a run at another version (or
   * in another status) is a ConflictError and nothing is written; with `append`, the change records
   * those events in the same statement.
   */
  async update(
    id: string,
    patch: ExecutionPatch,
    options: ExecutionWriteOptions & AppendOption = {},
  ): Promise<WithHistory<Execution>> {
    checkId(id, "id");
    const expected = optionalVersion(options.expectedVersion);
    const status = patch.status === undefined ? null : checkOneOf(patch.status, RUN_STATUSES, "status");
    const statuses =
      options.expectedStatus === undefined
        ? null
        : checkOneOrMany(options.expectedStatus, RUN_STATUSES, "expectedStatus");
    const has = (field: keyof ExecutionPatch) => Object.hasOwn(patch, field) && patch[field] !== undefined;
    const change: ChangeInput = {
      id,
      expectedVersion: expected,
      status,
      metadata: this.metadata(patch.metadata),
      expectedStatus: statuses,
    };
    for (const field of ["input", "output", "error", "state"] as const) {
      if (has(field)) change[field] = this.json(patch[field], field);
    }
    const batched = await this.historyBatches.change(change, options);
    if (batched) return batched;
    const row = await writeOne<Execution>(
      this.context,
      `update ${this.q}.executions set
         status = coalesce($3::text, status),
         input = case when $4::boolean then $5::jsonb else input end,
         output = case when $6::boolean then $7::jsonb else output end,
         error = case when $8::boolean then $9::jsonb else error end,
         state = case when $10::boolean then $11::jsonb else state end,
         metadata = coalesce($12::jsonb, metadata),
         version = version + 1,
         updated_at = now(),
         started_at = case when $3::text = 'running' then coalesce(started_at, now()) else started_at end,
         completed_at = case when $3::text in ${TERMINAL_SQL} and status not in ${TERMINAL_SQL}
                             then now() else completed_at end
       where id = $1 and ($2::bigint is null or version = $2)
         and ($3::text is null or $3::text = status or status not in ${TERMINAL_SQL})
         and ($13::text[] is null or status = any($13))
       returning ${COLUMNS}`,
      [
        id,
        expected,
        status,
        has("input"),
        change.input ?? null,
        has("output"),
        change.output ?? null,
        has("error"),
        change.error ?? null,
        has("state"),
        change.state ?? null,
        change.metadata,
        statuses,
      ],
      "id",
      options,
    );
    return row ?? explainMiss(this.context, id, expected, status, statuses);
  }

  /** Writes the whole object (inserting it if new); moving a terminal execution to another status is a conflict. */
  async upsert(execution: ExecutionRecord): Promise<Execution> {
    const columns = recordColumns([execution], this.context.limits);
    const [row] = await writeRecords(this.context, columns);
    if (row) return row;
    await checkRecordNames(this.context, columns);
    return explainMiss(this.context, execution.id, null, execution.status);
  }

  /** Many `upsert`s in one statement, all or none. Returned in the order given. */
  async upsertMany(executions: readonly ExecutionRecord[]): Promise<Execution[]> {
    if (executions.length === 0) return [];
    const columns = recordColumns(executions, this.context.limits);
    // The ids as checked (lower case), which is how the rows come back.
    const ids = columns.id;
    return this.context.db.transaction(async (tx) => {
      const rows = await writeRecords({ db: tx, q: this.q }, columns);
      if (rows.length < executions.length) {
        await checkRecordNames({ db: tx, q: this.q }, columns);
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

  /** Completes a run that is not finished (with `append`, recording those events in the same statement). */
  async complete(
    id: string,
    output?: unknown,
    options: ExecutionWriteOptions & AppendOption = {},
  ): Promise<WithHistory<Execution>> {
    return this.finish(id, "completed", "output", this.json(output, "output"), options);
  }

  /** Fails a run that is not finished (with `append`, recording those events in the same statement). */
  async fail(
    id: string,
    error: unknown,
    options: ExecutionWriteOptions & AppendOption = {},
  ): Promise<WithHistory<Execution>> {
    return this.finish(id, "failed", "error", this.json(error, "error"), options);
  }

  private async finish(
    id: string,
    status: "completed" | "failed",
    column: "output" | "error",
    value: string | null,
    options: ExecutionWriteOptions & AppendOption,
  ): Promise<WithHistory<Execution>> {
    checkId(id, "id");
    const expected = optionalVersion(options.expectedVersion);
    if (this.batches(options)) {
      this.finishes ??= finishBatcher(this.context);
      const row = await this.finishes.write({ id, expectedVersion: expected, status, value });
      if (row) return row;
    }
    const batched = await this.historyBatches.finish(
      { id, expectedVersion: expected, status, value },
      options,
    );
    if (batched) return batched;
    const row = await writeOne<Execution>(
      this.context,
      `update ${this.q}.executions
       set status = $3, ${column} = $4::jsonb, version = version + 1, updated_at = now(), completed_at = now()
       where id = $1 and ($2::bigint is null or version = $2) and status not in ${TERMINAL_SQL}
       returning ${COLUMNS}`,
      [id, expected, status, value],
      "id",
      options,
    );
    return row ?? explainMiss(this.context, id, expected, status);
  }

  /**
   * Cancels a run that is not finished. With `cascade`, the same statement (so the same transaction)
   * walks the descendants through parent_execution_id, cancels every unfinished one, and cancels the
   * unfinished tasks of all the runs it cancelled.
   */
  async cancel(id: string, options: CancelExecutionOptions = {}): Promise<Execution> {
    checkId(id, "id");
    const expected = optionalVersion(options.expectedVersion);
    const cancelRoot = `update ${this.q}.executions
       set status = 'cancelled', version = version + 1, updated_at = now(), completed_at = now()
       where id = $1 and ($2::bigint is null or version = $2) and status not in ${TERMINAL_SQL}
       returning ${COLUMNS}`;
    const sql = options.cascade
      ? `with recursive root as (${cancelRoot}),
         -- union (not union all) stops at a cycle of parent links instead of looping.
         descendants(id) as (
           select e.id from ${this.q}.executions e join root on e.parent_execution_id = root.id
           union
           select e.id from ${this.q}.executions e join descendants d on e.parent_execution_id = d.id
         ),
         children as (
           update ${this.q}.executions e
           set status = 'cancelled', version = e.version + 1, updated_at = now(), completed_at = now()
           from descendants d
           where e.id = d.id and e.id <> $1 and e.status not in ${TERMINAL_SQL}
           returning e.id
         ),
         tasks as (
           update ${this.q}.tasks t set status = 'cancelled', version = t.version + 1, updated_at = now()
           where t.execution_id in (select id from root union all select id from children)
             and t.status not in ${TERMINAL_SQL}
           returning 1
         )
         select * from root`
      : cancelRoot;
    const { rows } = await this.context.db.query<Execution>(sql, [id, expected]);
    return rows[0] ?? explainMiss(this.context, id, expected, "cancelled");
  }

  async list(filter: ExecutionFilter & ExecutionListOptions = {}): Promise<Page<Execution>> {
    const limit = checkLimit(filter.limit, 100);
    const order = checkOneOf(filter.order ?? "asc", ["asc", "desc"], "order");
    const values: unknown[] = [];
    const conditions = this.conditions(filter, values);
    if (filter.cursor !== undefined && filter.cursor !== null) {
      const { at, id } = decodeCursor(filter.cursor);
      values.push(at, id);
      const op = order === "asc" ? ">" : "<";
      conditions.push(`(created_at, id) ${op} ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
    }
    values.push(limit + 1);
    const { rows } = await this.context.db.query<Execution & { cursor_at?: string }>(
      `select ${COLUMNS}, ${CURSOR_AT} as cursor_at from ${this.q}.executions
       ${conditions.length ? `where ${conditions.join(" and ")}` : ""}
       order by created_at ${order}, id ${order}
       limit $${values.length}`,
      values,
    );
    return toPage(rows, limit, (row) => row.id);
  }

  /** Every matching execution, fetched a page at a time. */
  async *iterate(
    filter: ExecutionFilter & { pageSize?: number; order?: "asc" | "desc" } = {},
  ): AsyncGenerator<Execution> {
    const { pageSize, ...rest } = filter;
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...rest, limit: pageSize ?? 500, cursor });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /** How many executions match, per status (every status present, zero when none). */
  async countByStatus(
    filter: Omit<ExecutionFilter, "status"> = {},
  ): Promise<Record<ExecutionStatus, number>> {
    const values: unknown[] = [];
    const conditions = this.conditions(filter, values);
    const { rows } = await this.context.db.query<{ status: string; count: number }>(
      `select status, count(*)::int as count from ${this.q}.executions
       ${conditions.length ? `where ${conditions.join(" and ")}` : ""}
       group by status`,
      values,
    );
    return countsByStatus(rows);
  }

  /** Each filter is one fixed condition with its value as a parameter. */
  private conditions(filter: ExecutionFilter, values: unknown[]): string[] {
    const conditions: string[] = [];
    const add = (condition: (n: string) => string, value: unknown) => {
      values.push(value);
      conditions.push(condition(`$${values.length}`));
    };
    if (filter.status !== undefined) {
      add((n) => `status = any(${n}::text[])`, checkOneOrMany(filter.status, RUN_STATUSES, "status"));
    }
    if (filter.definitionId !== undefined) {
      add((n) => `definition_id = ${n}`, checkId(filter.definitionId, "definitionId"));
    }
    if (filter.definitionName !== undefined) {
      add((n) => `name = ${n}`, checkText(filter.definitionName, "definitionName"));
    }
    if (filter.parentExecutionId !== undefined) {
      add((n) => `parent_execution_id = ${n}`, checkId(filter.parentExecutionId, "parentExecutionId"));
    }
    const ranges = [
      ["createdAfter", "created_at >"],
      ["createdBefore", "created_at <"],
      ["updatedAfter", "updated_at >"],
      ["updatedBefore", "updated_at <"],
    ] as const;
    for (const [field, test] of ranges) {
      const date = optionalDate(filter[field], field);
      if (date) add((n) => `${test} ${n}::timestamptz`, date);
    }
    if (filter.metadata !== undefined) add((n) => `metadata @> ${n}::jsonb`, this.metadata(filter.metadata));
    return conditions;
  }
}
