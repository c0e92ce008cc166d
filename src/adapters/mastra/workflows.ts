/**
 * Mastra's workflows domain (WorkflowsStorage) on flowstore's executions: a run is an execution, its
 * snapshot's context a row per entry (runs.ts). Writes are single statements under the run's row lock,
 * so concurrent updates of one run never lose each other's changes (supportsConcurrentUpdates), and
 * the compare-and-set of updateWorkflowState lets exactly one of several concurrent resumes claim a run.
 */

import {
  mergeWorkflowStepResult,
  normalizePerPage,
  type PruneOptions,
  type PruneResult,
  type StorageListWorkflowRunsInput,
  type TableRetentionPolicy,
  type UpdateWorkflowStateOptions,
  type WorkflowRun,
  type WorkflowRuns,
  WorkflowsStorage,
} from "@mastra/core/storage";
import type { StepResult, WorkflowRunState } from "@mastra/core/workflows";
import { ConflictError, ValidationError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import { toJson } from "../../core/payload.js";
import type { Store, StoreScope } from "../../index.js";
import { pruneDomain, WORKFLOW_RETENTION } from "./retention.js";
import {
  CONTEXT_PART,
  checkName,
  contextOf,
  DEFINITION_BODY,
  definitionIdOf,
  executionStatus,
  groupRuns,
  joinSnapshot,
  MASTRA_KEYS_FROM,
  MASTRA_KEYS_TO,
  pendingSnapshot,
  type RunRow,
  runIdRange,
  runKey,
  type SplitSnapshot,
  splitSnapshot,
} from "./runs.js";
import { type PartVersion, SentParts } from "./sent-parts.js";
import { MastraTables } from "./tables.js";
import {
  countSql,
  definitionSql,
  deleteSql,
  listSql,
  listWhere,
  loadSql,
  lockedPartSql,
  lockRunSql,
  newestInRangeSql,
  partsSql,
  partVersionsSql,
  persistSql,
  stateSql,
  stepResultSql,
} from "./workflow-sql.js";

/** Statements of fixed text, run often: planned once per connection. */
const PREPARED = { prepare: true } as const;

/** How many times a write retries when a run it found gone was made again meanwhile, or the reverse. */
const WRITE_ATTEMPTS = 5;

export class FlowstoreMastraWorkflows extends WorkflowsStorage {
  private readonly tables: MastraTables;
  /** The definitions of the workflows this process has written runs of, by name. */
  private readonly definitions = new Map<string, Promise<string>>();
  /** The big context entries this process wrote last, not sent again unchanged (sent-parts.ts). */
  private readonly sent = new SentParts();

  constructor(store: Store | (() => Promise<Store>)) {
    super();
    this.tables = new MastraTables(store);
  }

  override async init(): Promise<void> {
    await this.tables.store();
  }

  /** Mastra's retention of runs (`workflowSnapshot`): by their last activity. See retention.ts. */
  static override readonly retentionTables = WORKFLOW_RETENTION;

  override async prune(
    policies: Record<string, TableRetentionPolicy>,
    options?: PruneOptions,
  ): Promise<PruneResult[]> {
    const sql = await this.tables.sql();
    return pruneDomain(sql, "workflows", WORKFLOW_RETENTION, ["workflowSnapshot"], policies, options);
  }

  /** Every write of a run holds the run's row lock: concurrent updates of one run are applied one by one. */
  supportsConcurrentUpdates(): boolean {
    return true;
  }

  async dangerouslyClearAll(): Promise<void> {
    const { db, q } = await this.tables.sql();
    await db.query(deleteSql(q, true), [MASTRA_KEYS_FROM, MASTRA_KEYS_TO]);
  }

  async persistWorkflowSnapshot(args: {
    workflowName: string;
    runId: string;
    resourceId?: string;
    snapshot: WorkflowRunState;
    createdAt?: Date;
    updatedAt?: Date;
  }): Promise<void> {
    const workflowName = checkName(args.workflowName, "workflowName");
    const runId = checkName(args.runId, "runId");
    const resourceId = args.resourceId ? checkName(args.resourceId, "resourceId") : null;
    const { limits } = await this.tables.sql();
    const split = splitSnapshot(args.snapshot, limits);
    await this.write(
      { workflowName, runId, resourceId, createdAt: args.createdAt, updatedAt: args.updatedAt },
      split,
    );
  }

  /**
   * The id of the workflow's definition, made the first time this process writes a run of it. A
   * definition of flowstore's own that has the name (version 1) is a ConflictError: the runs would mix.
   */
  private definitionOf(workflowName: string): Promise<string> {
    let made = this.definitions.get(workflowName);
    if (!made) {
      made = (async () => {
        const { db, q } = await this.tables.sql();
        const id = definitionIdOf(workflowName);
        const { rows } = await db.query<{ id: string }>(definitionSql(q), [
          id,
          workflowName,
          DEFINITION_BODY,
        ]);
        if (rows[0]?.id !== id) {
          throw new ConflictError(
            `the workflow name ${JSON.stringify(workflowName)} is that of a flowstore definition (version 1) of its own; a Mastra workflow needs a name of its own in this store`,
          );
        }
        return id;
      })();
      made.catch(() => this.definitions.delete(workflowName));
      this.definitions.set(workflowName, made);
    }
    return made;
  }

  /** Writes a run's split snapshot (see persistSql); `onlyNew` leaves a run that exists alone. */
  private async write(
    run: {
      workflowName: string;
      runId: string;
      resourceId: string | null;
      createdAt?: Date;
      updatedAt?: Date;
    },
    split: SplitSnapshot,
    onlyNew = false,
  ): Promise<void> {
    const { db, q } = await this.tables.sql();
    const { workflowName, runId, resourceId } = run;
    const metadata = JSON.stringify({
      mastra: { workflowName, runId, ...(resourceId ? { resourceId } : {}) },
    });
    const definitionId = await this.definitionOf(workflowName);
    const key = runKey(workflowName, runId);
    const big = SentParts.big(split.partIds, split.parts);
    const candidates = big.size > 0 ? this.sent.unchanged(key, big) : undefined;
    /** The statement, with the parts in `kept` left unsent (kept as stored). */
    const persist = (on: Pick<StoreScope, "query">, kept: ReadonlySet<string>) => {
      const sent = split.partIds.flatMap((id, i) =>
        kept.has(id) ? [] : [[id, split.parts[i] as string] as const],
      );
      return on.query<{ id: string } & PartVersion>(
        persistSql(q, big.size > 0),
        [
          key,
          uuidv7(),
          workflowName,
          split.status,
          split.state,
          metadata,
          resourceId,
          run.createdAt ?? null,
          run.updatedAt ?? null,
          split.partIds,
          sent.map(([, json]) => json),
          onlyNew,
          definitionId,
          sent.map(([id]) => id),
          [...big.keys()],
        ],
        PREPARED,
      );
    };
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const { rows } =
        candidates && candidates.parts.size > 0
          ? await db.transaction(async (tx) => {
              // Under the run's lock, the rows this process wrote are checked as they are now.
              const locked = (await tx.query<{ id: string }>(lockRunSql(q), [key], PREPARED)).rows[0];
              let kept = new Set<string>();
              if (locked?.id === candidates.executionId) {
                const stored = await tx.query<PartVersion>(
                  partVersionsSql(q),
                  [locked.id, [...candidates.parts.keys()]],
                  PREPARED,
                );
                kept = SentParts.stillAsWritten(candidates.parts, stored.rows);
              }
              return persist(tx, kept);
            })
          : await persist(db, new Set());
      const written = rows[0];
      if (written) {
        if (big.size > 0) this.sent.remember(key, written.id, big, rows);
        return;
      }
      if (onlyNew) return;
    }
    throw new Error(`run ${runId} of ${workflowName} kept being made and deleted while it was written`);
  }

  async loadWorkflowSnapshot(args: {
    workflowName: string;
    runId: string;
  }): Promise<WorkflowRunState | null> {
    const { db, q } = await this.tables.sql();
    const key = runKey(checkName(args.workflowName, "workflowName"), checkName(args.runId, "runId"));
    const runs = groupRuns((await db.query<RunRow>(loadSql(q), [key], PREPARED)).rows);
    return (runs[0]?.snapshot as WorkflowRunState | undefined) ?? null;
  }

  async getWorkflowRunById(args: { runId: string; workflowName?: string }): Promise<WorkflowRun | null> {
    const { db, q } = await this.tables.sql();
    const runId = checkName(args.runId, "runId");
    const { rows } = args.workflowName
      ? await db.query<RunRow>(
          loadSql(q),
          [runKey(checkName(args.workflowName, "workflowName"), runId)],
          PREPARED,
        )
      : await db.query<RunRow>(newestInRangeSql(q), runIdRange(runId), PREPARED);
    return groupRuns(rows)[0] ?? null;
  }

  async listWorkflowRuns(args: StorageListWorkflowRunsInput = {}): Promise<WorkflowRuns> {
    const { reads, q } = await this.tables.sql();
    const { where, params } = listWhere(q, args);
    const paged = typeof args.perPage === "number" && typeof args.page === "number";
    if (!paged) {
      const runs = groupRuns((await reads.query<RunRow>(listSql(q, where, null), params)).rows);
      return { runs, total: runs.length };
    }
    const page = args.page as number;
    if (!Number.isSafeInteger(page) || page < 0) {
      throw new ValidationError("page must be a whole number, 0 or more", { field: "page" });
    }
    const perPage = normalizePerPage(args.perPage, Number.MAX_SAFE_INTEGER);
    const [counted, listed] = await Promise.all([
      reads.query<{ total: number }>(countSql(q, where), params),
      reads.query<RunRow>(listSql(q, where, params.length + 1), [...params, perPage, page * perPage]),
    ]);
    return { runs: groupRuns(listed.rows), total: counted.rows[0]?.total ?? 0 };
  }

  async deleteWorkflowRunById(args: { runId: string; workflowName: string }): Promise<void> {
    const { db, q } = await this.tables.sql();
    const key = runKey(checkName(args.workflowName, "workflowName"), checkName(args.runId, "runId"));
    await db.query(deleteSql(q), [key], PREPARED);
  }

  /**
   * Writes one step's result (and merges the request context) without touching the rest of the
   * snapshot; returns the run's whole context. A run not stored yet is made, pending, as @mastra/pg does.
   */
  async updateWorkflowResults(args: {
    workflowName: string;
    runId: string;
    stepId: string;
    result: StepResult<unknown, unknown, unknown, unknown>;
    requestContext: Record<string, unknown>;
  }): Promise<Record<string, StepResult<unknown, unknown, unknown, unknown>>> {
    const workflowName = checkName(args.workflowName, "workflowName");
    const runId = checkName(args.runId, "runId");
    const stepId = checkName(args.stepId, "stepId");
    const { db, q, limits } = await this.tables.sql();
    const key = runKey(workflowName, runId);
    const requestContext = toJson(args.requestContext ?? {}, "requestContext", limits);
    const partId = CONTEXT_PART + stepId;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const id = Array.isArray((args.result as { output?: unknown })?.output)
        ? await this.mergeArrayResult(key, partId, stepId, args.result, requestContext)
        : (
            await db.query<{ id: string }>(
              stepResultSql(q),
              [key, partId, toJson(args.result, "result", limits), requestContext],
              PREPARED,
            )
          ).rows[0]?.id;
      if (id) {
        const { rows } = await db.query<{ componentId: string; value: unknown }>(partsSql(q), [id], PREPARED);
        return contextOf(rows) as Record<string, StepResult<unknown, unknown, unknown, unknown>>;
      }
      await this.makePending(workflowName, runId);
    }
    throw new Error(
      `run ${runId} of ${workflowName} kept being deleted while its step ${stepId} was written`,
    );
  }

  /**
   * A foreach step's results are merged element by element with those stored (Mastra's own merge), so
   * the stored row is read and written under its run's lock, in a transaction.
   */
  private async mergeArrayResult(
    key: string,
    partId: string,
    stepId: string,
    result: StepResult<unknown, unknown, unknown, unknown>,
    requestContext: string,
  ): Promise<string | undefined> {
    const { db, q, limits } = await this.tables.sql();
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(lockRunSql(q), [key], PREPARED);
      const id = rows[0]?.id;
      if (!id) return undefined;
      const stored = (await tx.query<{ value: unknown }>(lockedPartSql(q), [id, partId])).rows[0];
      const snapshot = { context: stored ? { [stepId]: stored.value } : {} } as unknown as WorkflowRunState;
      mergeWorkflowStepResult({ snapshot, stepId, result, requestContext: {} });
      const merged = toJson((snapshot.context as Record<string, unknown>)[stepId], "result", limits);
      await tx.query(stepResultSql(q), [key, partId, merged, requestContext], PREPARED);
      return id;
    });
  }

  /** A run as @mastra/pg makes one for a step result that comes before any snapshot. */
  private async makePending(workflowName: string, runId: string): Promise<void> {
    const { limits } = await this.tables.sql();
    const split = splitSnapshot(pendingSnapshot(runId), limits);
    await this.write({ workflowName, runId, resourceId: null }, split, true);
  }

  /**
   * Sets the snapshot's top-level fields given (a field given as undefined is removed), only when the
   * run's status is one of `expectedStatus` when that is given. Undefined when there is no such run or
   * the status did not match; the whole snapshot after the change otherwise.
   */
  async updateWorkflowState(args: {
    workflowName: string;
    runId: string;
    opts: UpdateWorkflowStateOptions;
  }): Promise<WorkflowRunState | undefined> {
    const key = runKey(checkName(args.workflowName, "workflowName"), checkName(args.runId, "runId"));
    const { db, q, limits } = await this.tables.sql();
    const { expectedStatus, ...fields } = args.opts;
    const removed = Object.keys(fields).filter(
      (name) => (fields as Record<string, unknown>)[name] === undefined,
    );
    // The context is kept in rows of its own: this call does not change it.
    removed.push(...((fields as Record<string, unknown>).context !== undefined ? [] : []));
    const { context: _context, ...set } = fields as Record<string, unknown>;
    const expected = expectedStatus === undefined ? null : [expectedStatus].flat();
    const { rows } = await db.query<{ id: string; state: Record<string, unknown> }>(
      stateSql(q),
      [
        key,
        removed.filter((name) => name !== "context"),
        toJson(set, "opts", limits),
        executionStatus(fields.status),
        expected,
      ],
      PREPARED,
    );
    const run = rows[0];
    if (!run) return undefined;
    const parts = await db.query<{ componentId: string; value: unknown }>(partsSql(q), [run.id], PREPARED);
    return joinSnapshot(run.state, parts.rows) as unknown as WorkflowRunState;
  }
}
