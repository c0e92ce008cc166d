/**
 * Retention: `store.prune()` deletes finished executions with everything that belongs to them, a batch
 * at a time, each batch in a short transaction of its own, so no lock is held longer than one batch.
 *
 * Which executions may go is the executions' rule (retention/executions.ts); what each
 * owns, each area deletes. A running execution is never deleted and never loses its parent.
 *
 * Key-value entries owned by an execution go with it.
 *
 * Completed jobs kept in jobs_history whose execution is none or gone go by their own completion time,
 * when the prune includes completed executions; dead jobs of no (or a gone) execution go by the time
 * they went dead, when it includes failed executions; streams passed on before the cut (owned by no run,
 * see streams/streams.ts, deletePassedStreams) go next, then expired key-value entries, and last the
 * counts of queues idle since the cut (queue/known-queues.ts).
 */

import { deleteBlobsOf } from "../blobs/index.js";
import { deleteComponentStateOf } from "../component-state/index.js";
import type { SqlContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { checkOneOrMany, optionKeys, refuseUnknownKeys } from "../core/input.js";
import type { Logger } from "../core/logger.js";
import { type RunStatus, TERMINAL_STATUSES } from "../core/run-status.js";
import { deleteCorrelationsOf } from "../correlations/index.js";
import { deleteEventsOf } from "../history/index.js";
import { deleteKvOf } from "../kv/index.js";
import { uuidFloor } from "../partitions/index.js";
import {
  deleteJobsOf,
  deleteOldDeadJobs,
  deleteOrphanedJobHistory,
  forgetIdleQueues,
} from "../queue/index.js";
import { deleteSignalsOf } from "../signals/index.js";
import { deleteStepsOf } from "../steps/index.js";
import { deletePassedStreams, deleteStreamsOf } from "../streams/index.js";
import { deleteTasksOf } from "../tasks/index.js";
import { deleteTimersOf } from "../timers/index.js";
import { deleteIdleSessions } from "./agent-sessions.js";
import { OrphansOnCitus, PrunableOnCitus } from "./distributed.js";
import { countPrunableExecutions, deleteExecutions, lockPrunableExecutions } from "./executions.js";
import { deleteFinishedMastraRuns } from "./mastra-runs.js";
import { dropAgedRanges, dropEmptyAgedRanges } from "./partitions.js";

export interface PruneOptions {
  /** Executions that finished before this moment go. */
  finishedBefore: Date;
  /** Only these terminal statuses (default: completed, failed, cancelled, timed_out). */
  statuses?: RunStatus[];
  /** Executions per batch (default 500, at most 10,000). */
  batchSize?: number;
  /** Called after each committed batch with the totals so far. */
  onProgress?: (progress: PruneResult) => void | Promise<void>;
  /** Stops after the batch in progress. */
  signal?: AbortSignal;
  /**
   * Drop the ranges of the history tables that ended before the cut whole (default true), before the
   * row-by-row pass. False deletes every prunable run row by row (as on Citus, where an aged range is
   * dropped only once the rows have left it empty).
   */
  partitions?: boolean;
}

/** How many rows of each kind were deleted. */
export interface PruneResult {
  executions: number;
  tasks: number;
  componentState: number;
  correlations: number;
  timers: number;
  /** Jobs of the pruned executions, whatever their state (waiting, running or dead). */
  jobs: number;
  /** Completed-job records: the pruned executions', and those of no (or a gone) execution older than the cut. */
  jobsHistory: number;
  /**
   * Dead jobs of no (or a gone) execution whose last change was before the cut, swept from the jobs table
   * when the prune includes failed executions. Dead jobs of a pruned execution are counted in `jobs`.
   */
  deadJobs: number;
  blobs: number;
  /** Step checkpoints of the pruned executions. */
  steps: number;
  /** Streams of the pruned executions (their chunks go with them). */
  streams: number;
  /**
   * Streams passed on before the cut, with their chunks: those a run passed on under an owner of their
   * own (a UUIDv8 of their time), read by name alone, as the Workflow SDK 4.x World keeps a step's
   * ReadableStream. The streams of executions go with them (`streams`).
   */
  passedStreams: number;
  /** Key-value entries owned by the pruned executions (set with `{ owner: executionId }`). */
  kv: number;
  /** Events of the pruned executions' histories. */
  events: number;
  /** Signal tokens the pruned executions had claimed. */
  signals: number;
  /** Expired key-value entries swept (they were already invisible), after the executions. */
  expiredKv: number;
  /**
   * OpenAI Agents SDK sessions (flowstore/openai-agents) idle since before the cut, whole: none had an
   * item added or was cleared since. A session being written as the prune reaches it is kept.
   */
  agentSessions: number;
  /**
   * Mastra's workflow runs (flowstore/mastra) of a final status among those pruned, last written before
   * the cut, with their context rows and blobs.
   */
  mastraRuns: number;
  /**
   * Queues whose counts went: each idle since before the cut (its counts had not grown since) and
   * holding no job, no limits and no pause, so it no longer shows in jobs.stats() or /metrics.
   */
  queues: number;
  /**
   * Ranges of the history tables dropped whole (each a transaction, counted in `batches`). Their runs
   * are counted in `executions`, and what those owned outside the partitioned tables in its fields; the
   * rows of the partitioned tables (tasks, component state, events, steps, streams, completed jobs)
   * that went with them are not counted.
   */
  partitions: number;
  /** Runs of the dropped ranges that may not go yet, moved with all they own to the default partitions. */
  movedExecutions: number;
  /** Transactions committed. */
  batches: number;
}

/** Where retention runs: on Citus (`distributed`), runs are chosen as retention/distributed.ts does. */
export interface RetentionContext extends SqlContext {
  distributed?: boolean;
}

export interface PruneContext extends RetentionContext {
  /**
   * Removes blob content no blob points to: recorded as garbage (after each batch that made some), and
   * pending past its grace period (once per prune).
   */
  collectGarbage(): Promise<unknown>;
  /** Deletes expired key-value entries in batches of `batchSize`; returns how many. */
  sweepExpiredKv(batchSize: number): Promise<number>;
  /** Creates the ranges due (before any is dropped, so the days ahead always have theirs). */
  ensurePartitions(): Promise<unknown>;
  logger: Logger;
}

/** Checks prune options; throws ValidationError before anything is deleted. */
// A misspelt statuses would prune every finished run, a misspelt partitions skip the drop asked for.
const PRUNE_KEYS = optionKeys<PruneOptions>({
  finishedBefore: true,
  statuses: true,
  batchSize: true,
  onProgress: true,
  signal: true,
  partitions: true,
});

export function checkPruneOptions(options: PruneOptions): {
  before: Date;
  statuses: string[];
  batchSize: number;
} {
  if (typeof options === "object" && options !== null) refuseUnknownKeys(options, PRUNE_KEYS);
  const before = options?.finishedBefore;
  if (!(before instanceof Date) || Number.isNaN(before.getTime())) {
    throw new ValidationError("finishedBefore must be a valid Date", { field: "finishedBefore" });
  }
  const statuses = checkOneOrMany(
    options.statuses ?? [...TERMINAL_STATUSES],
    TERMINAL_STATUSES,
    "statuses",
  ) as string[];
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new ValidationError("batchSize must be an integer from 1 to 10000", { field: "batchSize" });
  }
  return { before, statuses, batchSize };
}

/** How many executions a prune with these options would remove now. */
export async function countPrunable(context: RetentionContext, options: PruneOptions): Promise<number> {
  const { before, statuses } = checkPruneOptions(options);
  const filter = { finishedBefore: before, statuses };
  if (context.distributed) return new PrunableOnCitus(filter).count(context);
  return countPrunableExecutions(context, filter);
}

export async function prune(context: PruneContext, options: PruneOptions): Promise<PruneResult> {
  const { before, statuses, batchSize } = checkPruneOptions(options);
  const { q } = context;
  const total: PruneResult = {
    executions: 0,
    tasks: 0,
    componentState: 0,
    correlations: 0,
    timers: 0,
    jobs: 0,
    jobsHistory: 0,
    deadJobs: 0,
    blobs: 0,
    steps: 0,
    streams: 0,
    passedStreams: 0,
    kv: 0,
    events: 0,
    signals: 0,
    expiredKv: 0,
    agentSessions: 0,
    mastraRuns: 0,
    queues: 0,
    partitions: 0,
    movedExecutions: 0,
    batches: 0,
  };
  // On Citus a range with runs is not dropped whole (its drop joins temporary tables and the runs'
  // parents with the distributed partitions, which Citus does not run): its runs go row by row, as with
  // partitions false, and the range once it is empty (below).
  if (context.distributed && (options.partitions ?? true)) {
    context.logger.info(
      {},
      "flowstore prune: on a schema distributed with Citus, runs are pruned row by row, and a history range is dropped once empty",
    );
  }
  if ((options.partitions ?? true) && !context.distributed) {
    await context.ensurePartitions();
    const { external, partitions, ...counts } = await dropAgedRanges(context, {
      before,
      statuses,
      signal: options.signal,
    });
    for (const [name, n] of Object.entries(counts)) total[name as keyof PruneResult] += n;
    total.partitions = partitions;
    total.batches += partitions;
    if (external) await context.collectGarbage();
    if (partitions) await options.onProgress?.({ ...total });
  }
  const filter = { finishedBefore: before, statuses };
  const onCitus = context.distributed ? new PrunableOnCitus(filter) : undefined;
  for (;;) {
    if (options.signal?.aborted) break;
    const batch = await context.db.transaction(async (db) => {
      const tx = { db, q };
      const ids = onCitus
        ? await onCitus.lock(tx, batchSize)
        : await lockPrunableExecutions(tx, filter, batchSize);
      if (ids.length === 0) return undefined;
      const blobs = await deleteBlobsOf(tx, ids);
      return {
        blobs: blobs.deleted,
        external: blobs.external,
        ...(await deleteJobsOf(tx, ids)),
        timers: await deleteTimersOf(tx, ids),
        steps: await deleteStepsOf(tx, ids),
        streams: await deleteStreamsOf(tx, ids),
        kv: await deleteKvOf(tx, ids),
        // These would go by cascade; deleted first so they can be counted.
        tasks: await deleteTasksOf(tx, ids),
        componentState: await deleteComponentStateOf(tx, ids),
        correlations: await deleteCorrelationsOf(tx, ids),
        events: await deleteEventsOf(tx, ids),
        signals: await deleteSignalsOf(tx, ids),
        executions: await deleteExecutions(tx, ids),
      };
    });
    if (!batch) break;
    const { external, ...counts } = batch;
    for (const [name, n] of Object.entries(counts)) total[name as keyof PruneResult] += n;
    total.batches++;
    if (external) await context.collectGarbage();
    await options.onProgress?.({ ...total });
    if (batch.executions < batchSize) break;
  }
  // Blob content of puts that rolled back or never finished, past its grace period, whatever the
  // batches deleted.
  if (!options.signal?.aborted) await context.collectGarbage();
  if (!options.signal?.aborted && statuses.includes("completed")) {
    await sweep(context, "jobsHistory", before, batchSize, total, options);
  }
  // A dead job is a failed job: it goes with a prune of failed work (the default includes it), as
  // completed-job history goes with a prune of completed work. A prune narrowed to other statuses
  // (say, completed only, to keep failures for investigation) leaves dead jobs alone too.
  if (!options.signal?.aborted && statuses.includes("failed")) {
    await sweep(context, "deadJobs", before, batchSize, total, options);
  }
  await sweepPassedStreams(context, before, batchSize, total, options);
  if (context.distributed && (options.partitions ?? true) && !options.signal?.aborted) {
    const dropped = await dropEmptyAgedRanges(context, { before, signal: options.signal });
    total.partitions += dropped;
    total.batches += dropped;
    if (dropped) await options.onProgress?.({ ...total });
  }
  if (!options.signal?.aborted) total.expiredKv = await context.sweepExpiredKv(batchSize);
  await sweep(context, "agentSessions", before, batchSize, total, options);
  await sweep(context, "mastraRuns", before, batchSize, total, options, (c, b, size) =>
    deleteFinishedMastraRuns(c, b, statuses, size),
  );
  // Their blobs' content outside PostgreSQL, recorded as garbage, goes now rather than at the next prune.
  if (total.mastraRuns > 0 && !options.signal?.aborted) await context.collectGarbage();
  // Last: the jobs and history swept above may have been what a queue still held.
  if (!options.signal?.aborted) total.queues = await forgetIdleQueues(context, before);
  return total;
}

/**
 * The rows of no (or a gone) execution each sweep deletes: in one statement a batch, or on Citus a page
 * at a time, their runs read by id (retention/distributed.ts).
 */
const ORPHANS = {
  jobsHistory: {
    table: "jobs_history",
    where: "completed_at < $1",
    time: "completed_at",
    deleteBatch: deleteOrphanedJobHistory,
  },
  deadJobs: {
    table: "jobs",
    where: "status = 'dead' and updated_at < $1",
    time: "updated_at",
    deleteBatch: deleteOldDeadJobs,
  },
} as const;

/**
 * Rows that belong to no (or a gone) execution and are older than the cut (completed-job history, dead
 * jobs, idle agent sessions, finished Mastra runs), a batch at a time, each counted in `batches` and
 * reported to onProgress.
 */
async function sweep(
  context: PruneContext,
  field: keyof typeof ORPHANS | "agentSessions" | "mastraRuns",
  before: Date,
  batchSize: number,
  total: PruneResult,
  options: PruneOptions,
  deleteOwn: (context: PruneContext, before: Date, batchSize: number) => Promise<number> = deleteIdleSessions,
): Promise<void> {
  const kind = field === "agentSessions" || field === "mastraRuns" ? undefined : ORPHANS[field];
  // The sessions' and Mastra's tables stay local on Citus: deleted there as anywhere.
  const onCitus =
    kind && context.distributed ? new OrphansOnCitus(kind.table, kind.where, kind.time) : undefined;
  const deleteBatch = kind ? kind.deleteBatch : deleteOwn;
  for (;;) {
    if (options.signal?.aborted) break;
    const deleted = onCitus
      ? await onCitus.delete(context, before, batchSize)
      : await deleteBatch(context, before, batchSize);
    if (deleted === 0) break;
    total[field] += deleted;
    total.batches++;
    await options.onProgress?.({ ...total });
    if (deleted < batchSize) break;
  }
}

/** Streams passed on before the cut, a page at a time (deletePassedStreams). */
async function sweepPassedStreams(
  context: PruneContext,
  before: Date,
  batchSize: number,
  total: PruneResult,
  options: PruneOptions,
): Promise<void> {
  const floor = uuidFloor(before);
  for (let after: string | undefined; !options.signal?.aborted; ) {
    const { deleted, next } = await deletePassedStreams(context, floor, batchSize, after);
    if (deleted) {
      total.passedStreams += deleted;
      total.batches++;
      await options.onProgress?.({ ...total });
    }
    if (next === undefined) break;
    after = next;
  }
}
