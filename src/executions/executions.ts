/**
 * Executions: one row per workflow run. Writes are compare-and-set on `version` when asked, and a
 * terminal execution (completed, failed, cancelled, timed_out) never changes status again.
 *
 * This file is the public facade, `store.executions` (and `tx.executions`): it checks what callers
 * pass and decides whether a write shares a batch's statement or goes alone. Reads are in
 * executions/read.ts, the statements of writes that go alone in executions/write.ts.
 */

import { batchesWrites, forReads, type StoreContext } from "../core/context.js";
import { StoreError } from "../core/errors.js";
import {
  checkId,
  checkOneOf,
  checkOneOrMany,
  idOrNew,
  optionalId,
  optionalText,
  optionalVersion,
  refuseUnknownKeys,
} from "../core/input.js";
import type { Page } from "../core/keyset.js";
import { checkText, toJsonOrNull } from "../core/payload.js";
import { RUN_STATUSES } from "../core/run-status.js";
import type { WriteBatcher } from "../core/write-batch.js";
import { APPEND_KEYS, type AppendOption, type HistoryEvent, type WithHistory } from "../history/index.js";
import { refuseReserved, rereadMoved } from "../offload/index.js";
import { type FinishInput, finishBatcher, type StartInput, startBatcher } from "./batch.js";
import { finishedSince, type StatusCount, type StatusCountOptions, statusCounts } from "./counts.js";
import { checkCut } from "./cut.js";
import { fork } from "./fork.js";
import { type ChangeInput, ExecutionHistoryBatches } from "./history-batch.js";
import { mergeState, resolveStates, resolveWritten, withOffloadedStates } from "./offloaded-state.js";
import { countByStatus, findByIdempotencyKey, get, getForUpdate, list } from "./read.js";
import { metadataJson, resolveWorkflow } from "./records.js";
import { rewind } from "./rewind.js";
import { startOnCitus } from "./start-distributed.js";
import {
  CANCEL_KEYS,
  type CancelExecutionOptions,
  COUNT_KEYS,
  type Execution,
  type ExecutionFilter,
  type ExecutionListOptions,
  type ExecutionPatch,
  type ExecutionRecord,
  type ExecutionStatus,
  type ExecutionWriteOptions,
  FORK_KEYS,
  type ForkExecutionOptions,
  ITERATE_KEYS,
  LIST_KEYS,
  MERGE_KEYS,
  PATCH_KEYS,
  RECORD_KEYS,
  REWIND_KEYS,
  type RewindExecutionOptions,
  START_KEYS,
  type StartExecution,
  WRITE_KEYS,
} from "./types.js";
import { cancel, finishAlone, startAlone, updateAlone, upsert, upsertMany } from "./write.js";

export class Executions {
  // Made when first used: a transaction's repositories never batch.
  private starts?: WriteBatcher<StartInput, Execution>;
  private finishes?: WriteBatcher<FinishInput, Execution>;

  constructor(protected readonly context: StoreContext) {}

  private history?: ExecutionHistoryBatches;

  /** Outside a transaction, a plain write shares a statement and a commit with those made at the same time. */
  private batches(options: AppendOption): boolean {
    return options.append === undefined && batchesWrites(this.context);
  }

  /** Outside a transaction, a write that appends to the history shares one too (its batches). */
  private get historyBatches(): ExecutionHistoryBatches {
    this.history ??= new ExecutionHistoryBatches(this.context);
    return this.history;
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
    refuseUnknownKeys(input, START_KEYS);
    refuseUnknownKeys(options, APPEND_KEYS);
    // What every way of starting writes, whatever names the definition.
    const run = {
      id: idOrNew(input.id, "id"),
      status: checkOneOf(input.status ?? "pending", ["pending", "running"], "status"),
      // Checked in this order, so that the first bad field is the one named.
      idempotencyKey: optionalText(input.idempotencyKey, "idempotencyKey", 1024),
      input: this.json(input.input, "input"),
      metadata: this.metadata(input.metadata) ?? "{}",
      parentExecutionId: optionalId(input.parentExecutionId, "parentExecutionId"),
      parentTaskId: optionalId(input.parentTaskId, "parentTaskId"),
    };
    // Started by a name alone, the definition is looked up in the insert itself (one round trip).
    const byName =
      input.definitionId === undefined && input.version === undefined && input.name !== undefined;
    const { definitionId, name } = byName
      ? { definitionId: null, name: checkText(input.name, "name") }
      : await resolveWorkflow(this.context, input);
    // Outside a transaction a start by name goes in a batch; it is written alone only when the batch
    // wrote nothing for it (a taken key, a name with no active version).
    if (byName && name !== null) {
      const start: StartInput = { ...run, name };
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
    // On Citus a start that appends nothing goes as statements each sent whole to one node.
    const started =
      this.context.driver.capabilities.distributed && options.append === undefined
        ? await startOnCitus(this.context, input, { ...run, definitionId, name }, byName)
        : await startAlone(this.context, input, { ...run, definitionId, name }, byName, options);
    // A start that found the run of its idempotency key returns that run, whose state may be offloaded.
    await resolveWritten(this.context, started.execution);
    return started;
  }

  async get(id: string): Promise<Execution> {
    return rereadMoved(async () => this.resolved(await get(this.context, id)));
  }

  /** Reads and locks the row until the transaction ends; other writers (and lockers) wait. */
  async getForUpdate(id: string): Promise<Execution> {
    return this.resolved(await getForUpdate(this.context, id));
  }

  async findByIdempotencyKey(key: string): Promise<Execution | null> {
    return rereadMoved(async () => this.resolved(await findByIdempotencyKey(this.context, key)));
  }

  /** A run read from its row, its state read back from the blob store when it was offloaded. */
  private async resolved<T extends Execution | null>(execution: T): Promise<T> {
    return (await resolveStates(this.context, [execution]))[0] as T;
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
    refuseUnknownKeys(patch, PATCH_KEYS);
    refuseUnknownKeys(options, WRITE_KEYS);
    const expected = optionalVersion(options.expectedVersion);
    const status = patch.status === undefined ? null : checkOneOf(patch.status, RUN_STATUSES, "status");
    const statuses =
      options.expectedStatus === undefined
        ? null
        : checkOneOrMany(options.expectedStatus, RUN_STATUSES, "expectedStatus");
    const has = (field: keyof ExecutionPatch) => Object.hasOwn(patch, field) && patch[field] !== undefined;
    // A field given is a key of the change (its value may be null, which clears it); one not given is absent.
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
    refuseReserved(patch.state, "state");
    // A state over offloadAbove is written with its blob, in a transaction of its own.
    const states = [change.state ?? null];
    const written = await withOffloadedStates(
      this.context,
      [id],
      states,
      async (context) => {
        if (context === this.context) {
          const batched = await this.historyBatches.change(change, options);
          if (batched) return batched;
        }
        return updateAlone(context, { ...change, ...(has("state") ? { state: states[0] } : {}) }, options);
      },
      [has("state")],
    );
    return resolveWritten(this.context, written);
  }

  /**
   * Merges top-level keys into the run's state, `null` removing a key, in one statement that sends
   * only these keys: for a large state changed a little at each step, in place of `update` with the
   * whole state. The state must be an object (or none, merged into as {}). With `expectedVersion`, a
   * run at another version is a ConflictError and nothing is written. An offloaded state keeps its
   * blob: the keys are kept beside its reference until they outgrow `offloadAbove` themselves.
   */
  async mergeState(
    id: string,
    patch: Record<string, unknown>,
    options: Pick<ExecutionWriteOptions, "expectedVersion"> = {},
  ): Promise<Execution> {
    refuseUnknownKeys(options, MERGE_KEYS);
    return mergeState(this.context, id, patch, options);
  }

  /** Writes the whole object (inserting it if new); moving a terminal execution to another status is a conflict. */
  async upsert(execution: ExecutionRecord): Promise<Execution> {
    refuseUnknownKeys(execution, RECORD_KEYS);
    return resolveWritten(this.context, await upsert(this.context, execution));
  }

  /** Many `upsert`s in one statement, all or none. Returned in the order given. */
  async upsertMany(executions: readonly ExecutionRecord[]): Promise<Execution[]> {
    if (Array.isArray(executions)) {
      for (const [i, execution] of executions.entries())
        refuseUnknownKeys(execution, RECORD_KEYS, `executions[${i}]`);
    }
    const written = await upsertMany(this.context, executions);
    for (const execution of written) await resolveWritten(this.context, execution);
    return written;
  }

  /** Completes a run that is not finished (with `append`, recording those events in the same statement). */
  async complete(
    id: string,
    output?: unknown,
    options: ExecutionWriteOptions & AppendOption = {},
  ): Promise<WithHistory<Execution>> {
    return this.finish(id, "completed", this.json(output, "output"), options);
  }

  /** Fails a run that is not finished (with `append`, recording those events in the same statement). */
  async fail(
    id: string,
    error: unknown,
    options: ExecutionWriteOptions & AppendOption = {},
  ): Promise<WithHistory<Execution>> {
    return this.finish(id, "failed", this.json(error, "error"), options);
  }

  private async finish(
    id: string,
    status: FinishInput["status"],
    value: string | null,
    options: ExecutionWriteOptions & AppendOption,
  ): Promise<WithHistory<Execution>> {
    checkId(id, "id");
    refuseUnknownKeys(options, WRITE_KEYS);
    const finish: FinishInput = {
      id,
      expectedVersion: optionalVersion(options.expectedVersion),
      status,
      value,
    };
    if (this.batches(options)) {
      this.finishes ??= finishBatcher(this.context);
      const row = await this.finishes.write(finish);
      if (row) return resolveWritten(this.context, row);
    }
    const batched = await this.historyBatches.finish(finish, options);
    return resolveWritten(this.context, batched ?? (await finishAlone(this.context, finish, options)));
  }

  /**
   * Cancels a run that is not finished. With `cascade`, the same statement (so the same transaction)
   * walks the descendants through parent_execution_id, cancels every unfinished one, and cancels the
   * unfinished tasks of all the runs it cancelled.
   */
  async cancel(id: string, options: CancelExecutionOptions = {}): Promise<Execution> {
    refuseUnknownKeys(options, CANCEL_KEYS);
    return resolveWritten(this.context, await cancel(this.context, id, options));
  }

  /**
   * A new run that keeps what this one recorded before step `fromStep` (its steps below it, and the
   * events, tasks, streams and signals written up to the last of them) and runs again from there:
   * pending, with the workflow and input of this one, which is left as it is. One transaction.
   */
  async fork(id: string, options: ForkExecutionOptions): Promise<Execution> {
    const plan = checkCut(id, options, FORK_KEYS, "fromStep");
    this.refuseOnCitus("fork");
    return fork(this.context, plan);
  }

  /**
   * Takes the run back to step `toStep`: deletes its steps from there on and what else it wrote after
   * the last step it keeps; it is pending again, its version bumped. One transaction.
   */
  async rewind(id: string, options: RewindExecutionOptions): Promise<Execution> {
    const plan = checkCut(id, options, REWIND_KEYS, "toStep");
    this.refuseOnCitus("rewind");
    return rewind(this.context, plan);
  }

  /**
   * Fork and rewind write across a run's tables in statements that Citus would send to the
   * coordinator (a fork's two runs sit on different shards) and lock whole tables; not yet there.
   */
  private refuseOnCitus(call: string): void {
    if (!this.context.driver.capabilities.distributed) return;
    throw new StoreError(
      `executions.${call} is not available on a distributed (Citus) store yet; see docs/scale-out.md`,
    );
  }

  /** Reads from the store's readConnection, when it has one (outside a transaction). */
  async list(filter: ExecutionFilter & ExecutionListOptions = {}): Promise<Page<Execution>> {
    refuseUnknownKeys(filter, LIST_KEYS);
    const reads = forReads(this.context);
    return rereadMoved(async () => {
      const page = await list(reads, filter);
      await resolveStates(reads, page.items);
      return page;
    });
  }

  /** Every matching execution, fetched a page at a time. */
  async *iterate(
    filter: ExecutionFilter & { pageSize?: number; order?: "asc" | "desc" } = {},
  ): AsyncGenerator<Execution> {
    refuseUnknownKeys(filter, ITERATE_KEYS);
    const { pageSize, ...rest } = filter;
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...rest, limit: pageSize ?? 500, cursor });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /**
   * How many executions match, per status (every status present, zero when none). Reads from the
   * store's readConnection, when it has one (outside a transaction).
   */
  async countByStatus(
    filter: Omit<ExecutionFilter, "status"> = {},
  ): Promise<Record<ExecutionStatus, number>> {
    refuseUnknownKeys(filter, COUNT_KEYS);
    return countByStatus(forReads(this.context), filter);
  }

  /**
   * How many executions there are per status, cheaply at any size: exact up to `exactUpTo` (default
   * 10,000) per status, estimated from the planner's statistics above it (`exact: false`). What the
   * dashboard's overview shows; countByStatus counts every row, and filters. Reads from the store's
   * readConnection, when it has one (outside a transaction).
   */
  async statusCounts(options: StatusCountOptions = {}): Promise<Record<ExecutionStatus, StatusCount>> {
    return statusCounts(forReads(this.context), options);
  }

  /**
   * How many executions finished at or after `since` (through the completion time's index: cheap for
   * a recent moment whatever the history). Reads from the store's readConnection, when it has one.
   */
  async finishedSince(since: Date): Promise<number> {
    return finishedSince(forReads(this.context), since);
  }
}
