/**
 * Mastra's workflows domain (WorkflowsStorage) on Mastra's own tables (migration 0046): a run is a row
 * by its key, its snapshot's big context entries a row each (runs.ts). Writes are single statements
 * under the run's row lock, so concurrent updates of one run never lose each other's changes
 * (supportsConcurrentUpdates), and the compare-and-set of updateWorkflowState lets exactly one of
 * several concurrent resumes claim a run.
 */

import {
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
import { ValidationError } from "../../core/errors.js";
import { toJson } from "../../core/payload.js";
import type { Store, StoreScope } from "../../index.js";
import { refuseReserved } from "../../offload/index.js";
import { readEntries } from "./offloaded.js";
import { deleteRuns, pruneDomain, WORKFLOW_RETENTION } from "./retention.js";
import { countedSql, countSql, listSql, listWhere } from "./run-lists.js";
import { RunLoads } from "./run-loads.js";
import { RunWrites, WRITE_ATTEMPTS } from "./run-writes.js";
import {
  CONTEXT_PART,
  checkName,
  contextOf,
  groupRuns,
  joinSnapshot,
  pendingSnapshot,
  type RunRow,
  runIdRange,
  runKey,
  SharedReads,
  splitSnapshot,
  stateMayHaveRows,
  withEntries,
} from "./runs.js";
import { SharedClaims } from "./shared-claims.js";
import { MastraTables } from "./tables.js";
import { loadSql, loadStateSql, newestInRangeSql, PREPARED, partsSql, stateSql } from "./workflow-sql.js";

/** A run's state after updateWorkflowState (stateSql's row). */
interface StateRow {
  id: string;
  state: Record<string, unknown>;
  mayHaveRows: boolean;
}

export class FlowstoreMastraWorkflows extends WorkflowsStorage {
  private readonly tables: MastraTables;
  private readonly writes: RunWrites;
  /** Loads and reads by id of one run at once share a statement (see SharedReads). */
  private readonly loads = new SharedReads<WorkflowRunState | null>();
  private readonly runsById = new SharedReads<WorkflowRun | null>();
  private readonly claims = new SharedClaims<WorkflowRunState>();
  /** The first reads of loads, those made at once read together (made on first use). */
  private runLoads: RunLoads | undefined;

  constructor(store: Store | (() => Promise<Store>)) {
    super();
    this.tables = new MastraTables(store);
    this.writes = new RunWrites(this.tables);
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
    await deleteRuns(db, q, "true", []);
  }

  persistWorkflowSnapshot(args: {
    workflowName: string;
    runId: string;
    resourceId?: string;
    snapshot: WorkflowRunState;
    createdAt?: Date;
    updatedAt?: Date;
  }): Promise<void> {
    // The write's promise itself once the store is open, what is refused its rejection: not async,
    // whose promise around it would cost each persist two more turns of the promise queue.
    try {
      const workflowName = checkName(args.workflowName, "workflowName");
      const runId = checkName(args.runId, "runId");
      const resourceId = args.resourceId ? checkName(args.resourceId, "resourceId") : null;
      const ready = this.tables.ready;
      if (!ready) return this.tables.sql().then(() => this.persistWorkflowSnapshot(args));
      const split = splitSnapshot(args.snapshot, ready.limits);
      return this.writes.write(
        { workflowName, runId, resourceId, createdAt: args.createdAt, updatedAt: args.updatedAt },
        split,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  loadWorkflowSnapshot(args: { workflowName: string; runId: string }): Promise<WorkflowRunState | null> {
    // The shared read's promise itself, a refused name its rejection: not async, whose promise around
    // it would cost each load two more turns of the promise queue.
    let key: string;
    try {
      key = runKey(checkName(args.workflowName, "workflowName"), checkName(args.runId, "runId"));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.loads.read(key, () => this.loadSnapshot(key));
  }

  /** A run's snapshot by its key (loadWorkflowSnapshot). */
  private async loadSnapshot(key: string): Promise<WorkflowRunState | null> {
    const { db, q } = this.tables.ready ?? (await this.tables.sql());
    // The run's state alone first, with the loads made beside it: its context rows are read (with the
    // state again, as one read) only when the state says it may have some, which a run of small
    // entries never does.
    this.runLoads ??= new RunLoads(db, q);
    const row = await this.runLoads.load(key);
    if (!row) return null;
    if (!stateMayHaveRows(row.state)) return joinSnapshot(row.state, []) as unknown as WorkflowRunState;
    const read = async (on: Pick<StoreScope, "query">) =>
      withEntries((await on.query<RunRow>(loadStateSql(q, true), [key], PREPARED)).rows);
    const [run] = await readEntries(db, read, (runs) => runs.flatMap((r) => r.entries));
    if (!run) return null;
    return joinSnapshot(run.row.state, run.entries) as unknown as WorkflowRunState;
  }

  async getWorkflowRunById(args: { runId: string; workflowName?: string }): Promise<WorkflowRun | null> {
    const runId = checkName(args.runId, "runId");
    const key = args.workflowName ? runKey(checkName(args.workflowName, "workflowName"), runId) : null;
    return this.runsById.read(key ?? `any workflow\u0000${runId}`, async () => {
      const { q } = await this.tables.sql();
      const runs = await this.readRuns((on) =>
        key
          ? on.query<RunRow>(loadSql(q), [key], PREPARED)
          : on.query<RunRow>(newestInRangeSql(q), runIdRange(runId), PREPARED),
      );
      return runs[0] ?? null;
    });
  }

  async listWorkflowRuns(args: StorageListWorkflowRunsInput = {}): Promise<WorkflowRuns> {
    const { reads, q } = await this.tables.sql();
    const { where, params, filtered } = listWhere(q, args);
    const paged = typeof args.perPage === "number" && typeof args.page === "number";
    if (!paged) {
      const runs = await this.readRuns((on) => on.query<RunRow>(listSql(q, where, null), params), reads);
      return { runs, total: runs.length };
    }
    const page = args.page as number;
    if (!Number.isSafeInteger(page) || page < 0) {
      throw new ValidationError("page must be a whole number, 0 or more", { field: "page" });
    }
    const perPage = normalizePerPage(args.perPage, Number.MAX_SAFE_INTEGER);
    // A workflow's runs, or all, unfiltered (what the studio polls): their counts (0046), not a count.
    const count = filtered
      ? reads.query<{ total: number }>(countSql(q, where), params)
      : reads.query<{ total: number }>(countedSql(q, Boolean(args.workflowName)), params, PREPARED);
    const [counted, runs] = await Promise.all([
      count,
      this.readRuns(
        (on) => on.query<RunRow>(listSql(q, where, params.length + 1), [...params, perPage, page * perPage]),
        reads,
      ),
    ]);
    return { runs, total: counted.rows[0]?.total ?? 0 };
  }

  /** Runs read with their context rows, entries in the blob store read back (see readEntries). */
  private async readRuns(
    read: (on: Pick<StoreScope, "query">) => Promise<{ rows: RunRow[] }>,
    first?: Pick<StoreScope, "query">,
  ): Promise<WorkflowRun[]> {
    const { db } = await this.tables.sql();
    const runs = await readEntries(
      db,
      async (on) => withEntries((await read(on)).rows),
      (read) => read.flatMap((run) => run.entries),
      first,
    );
    return groupRuns(runs);
  }

  async deleteWorkflowRunById(args: { runId: string; workflowName: string }): Promise<void> {
    const { db, q } = await this.tables.sql();
    const key = runKey(checkName(args.workflowName, "workflowName"), checkName(args.runId, "runId"));
    await deleteRuns(db, q, "e.key = $1", [key]);
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
    const { limits } = await this.tables.sql();
    const key = runKey(workflowName, runId);
    const requestContext = toJson(args.requestContext ?? {}, "requestContext", limits);
    const partId = CONTEXT_PART + stepId;
    refuseReserved(args.result, "result");
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const written = await this.writes.stepResult(key, partId, stepId, args.result, requestContext);
      if (written) {
        // A run of small entries is whole in its state: no second round trip for rows it has none of.
        const rows = written.mayHaveRows ? await this.contextRows(written.id) : [];
        return contextOf(rows, written.inline ?? {}) as Record<
          string,
          StepResult<unknown, unknown, unknown, unknown>
        >;
      }
      await this.makePending(workflowName, runId);
    }
    throw new Error(
      `run ${runId} of ${workflowName} kept being deleted while its step ${stepId} was written`,
    );
  }

  /** A run's context rows, entries in the blob store read back. */
  private async contextRows(id: string): Promise<{ componentId: string; value: unknown }[]> {
    const { db, q } = await this.tables.sql();
    return readEntries(
      db,
      async (on) =>
        (await on.query<{ componentId: string; value: unknown }>(partsSql(q), [id], PREPARED)).rows,
      (rows) => rows,
    );
  }

  /** A run as @mastra/pg makes one for a step result that comes before any snapshot. */
  private async makePending(workflowName: string, runId: string): Promise<void> {
    const { limits } = await this.tables.sql();
    const split = splitSnapshot(pendingSnapshot(runId), limits);
    await this.writes.write({ workflowName, runId, resourceId: null }, split, true);
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
    const { context: _context, ...set } = fields as Record<string, unknown>;
    const expected = expectedStatus === undefined ? null : [expectedStatus].flat();
    const params = [key, removed.filter((name) => name !== "context"), toJson(set, "opts", limits), expected];
    const write = async () => {
      const run = (await db.query<StateRow>(stateSql(q), params, PREPARED)).rows[0];
      if (!run) return undefined;
      // A run of small entries is whole in its state: no second round trip for rows it has none of.
      const rowsOf = run.mayHaveRows ? await this.contextRows(run.id) : [];
      return joinSnapshot(run.state, rowsOf) as unknown as WorkflowRunState;
    };
    // A claim (a change out of the status expected), as several resumes of one run make at once: one
    // statement for the same claims asked together (shared-claims.ts).
    const status = fields.status;
    const claim = expected !== null && status !== undefined && !expected.includes(status);
    return claim ? this.claims.claim(`${key}\u0000${JSON.stringify(params.slice(1))}`, write) : write();
  }
}
