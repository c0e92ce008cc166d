/**
 * Retention by partition: a range of the history tables whose time ended before the cut goes whole
 * (src/partitions), which costs the same however many rows it holds, writes next to no WAL and leaves
 * no dead rows behind. What its runs own outside the partitioned tables (blobs, jobs, timers, owned
 * key-value entries, correlations, signals, idempotency keys, task ids) is deleted first, in the same
 * transaction; the runs that may not go yet (the rule is prune's: still going, finished after the cut,
 * of a status not pruned, or with a parent or child still going) move to the default partitions with
 * all they own, and are pruned row by row when their time comes.
 *
 * Completed-job records in the range stay if they completed after the cut, if their execution stays,
 * or if they belong to no (or a gone) execution and the prune does not include completed work.
 */

import { deleteBlobsOf } from "../blobs/index.js";
import type { SqlContext } from "../core/context.js";
import { sqlStateOf } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { LIVE_SQL, TERMINAL_STATUSES } from "../core/run-status.js";
import { deleteCorrelationsOf } from "../correlations/index.js";
import { deleteKvOf } from "../kv/index.js";
import {
  dropEmptyRange,
  dropRange,
  EXECUTIONS,
  type HistoryRange,
  JOBS_HISTORY,
  listRanges,
  partitionOf,
  RangeChangedError,
  TASKS,
  uuidFloor,
} from "../partitions/index.js";
import { deleteJobsOf } from "../queue/index.js";
import { deleteSignalsOf } from "../signals/index.js";
import { freeTaskIdsOf } from "../tasks/index.js";
import { deleteTimersOf } from "../timers/index.js";
import { freeKeysOf, prunableWhere } from "./executions.js";

export interface RangesDropped {
  /** Ranges dropped. */
  partitions: number;
  executions: number;
  /** Runs of dropped ranges that stayed, moved to the default partitions. */
  movedExecutions: number;
  blobs: number;
  /** Blobs whose content lives elsewhere (S3), left for garbage collection. */
  external: number;
  jobs: number;
  timers: number;
  kv: number;
  correlations: number;
  signals: number;
}

/** Drops tried, when a run changed meanwhile or the tables' locks could not be had. */
const ATTEMPTS = 3;

/** Drops every range that ended before `before`, oldest first, each in a transaction of its own. */
export async function dropAgedRanges(
  context: SqlContext & { logger: Logger },
  filter: { before: Date; statuses: string[]; signal?: AbortSignal },
): Promise<RangesDropped> {
  const total: RangesDropped = {
    partitions: 0,
    executions: 0,
    movedExecutions: 0,
    blobs: 0,
    external: 0,
    jobs: 0,
    timers: 0,
    kv: 0,
    correlations: 0,
    signals: 0,
  };
  const aged = (await listRanges(context)).filter((range) => range.endsAt <= filter.before);
  for (const range of aged) {
    if (filter.signal?.aborted) break;
    for (let attempt = 1; ; attempt++) {
      try {
        await dropOne(context, range, filter, total);
        break;
      } catch (error) {
        // Another session held the tables too long, or a run changed meanwhile: tried again; at the
        // last attempt the range stays, and its runs are pruned by rows.
        const again = sqlStateOf(error) === "55P03" || error instanceof RangeChangedError;
        if (!again || attempt === ATTEMPTS) {
          if (!again) throw error;
          context.logger.warn(
            { range: range.name, error: String(error) },
            "flowstore prune: a range could not be dropped (its tables stayed locked, or its runs kept changing); its runs are pruned row by row",
          );
          return total;
        }
      }
    }
  }
  return total;
}

/**
 * On Citus, after the runs were pruned row by row: drops every range that ended before `before` and
 * holds no row any more, oldest first, each in a transaction of its own; returns how many. A range
 * whose runs may not go yet stays until they have gone.
 */
export async function dropEmptyAgedRanges(
  context: SqlContext,
  filter: { before: Date; signal?: AbortSignal },
): Promise<number> {
  let dropped = 0;
  for (const range of await listRanges(context)) {
    if (filter.signal?.aborted || range.endsAt > filter.before) break;
    if (await dropEmptyRange(context.db, context.q, range.name)) dropped++;
  }
  return dropped;
}

/**
 * The runs of the range that may not go, found through the indexes of its executions partition `r`:
 * still going (by status), finished after the cut $1 (by completion), of a finished status the prune
 * keeps ($2, the finished statuses it was not given: an index probe finds them, where "finished and not
 * among those pruned" read every finished run of the range's status index to keep none), the parent of
 * a run still going or the child of one. The runs still going are read once, by status, wherever they
 * are. (A run of a finished status with no completion time, which only SQL of one's own can write, is
 * not among them: prune would never delete it row by row, but its range takes it.)
 */
function keepExecutions(q: string, r: string): string {
  const live = `${q}.executions l where l.status in (${LIVE_SQL})`;
  return `select e.id from ${r} e where e.status in (${LIVE_SQL})
    union select e.id from ${r} e where e.completed_at >= $1
    union select e.id from ${r} e where e.status = any($2::text[])
    union select e.id from ${r} e where e.id in (select l.parent_execution_id from ${live} and l.parent_execution_id is not null)
    union select e.id from ${r} e where e.parent_execution_id in (select l.id from ${live})`;
}

/**
 * The completed-job records of the range (partition `r`) that stay: completed after the cut; of a run
 * that stays; of a run outside the range (by the run's id, $4 to $5, through the index on execution_id)
 * that may not go; and, unless the prune includes completed work ($3), those of no (or a gone) run.
 */
function keepJobsHistory(q: string, r: string): string {
  const prunable = prunableWhere(q, false, "x");
  return `select h.id from ${r} h where h.completed_at >= $1
    union select h.id from ${r} h where h.execution_id in (select id from flowstore_keep)
    union select h.id from ${r} h
     where (h.execution_id < $4::uuid or h.execution_id >= $5::uuid)
       and exists (select 1 from ${q}.executions x where x.id = h.execution_id and not coalesce((${prunable}), false))
    union select h.id from ${r} h
     where not $3 and (h.execution_id is null or not exists (select 1 from ${q}.executions x where x.id = h.execution_id))`;
}

/**
 * Tables outside the partitions that hold rows of runs, with the expression naming the run: what a range's
 * runs own there is deleted only when a probe of that expression's index finds a row in the range's ids.
 */
const OWNED_ELSEWHERE = [
  ["blobs", "execution_id", "uuid"],
  ["jobs", "execution_id", "uuid"],
  ["timers", "coalesce(execution_id, '00000000-0000-0000-0000-000000000000'::uuid)", "uuid"],
  ["kv", "owner", "text"],
  ["correlations", "execution_id", "uuid"],
  ["signals", "execution_id", "uuid"],
] as const;

async function dropOne(
  context: SqlContext,
  range: HistoryRange,
  filter: { before: Date; statuses: string[] },
  total: RangesDropped,
): Promise<void> {
  const { q } = context;
  const lo = range.startsAt ? uuidFloor(range.startsAt) : "00000000-0000-0000-0000-000000000000";
  const hi = uuidFloor(range.endsAt);
  const none = () => ({ blobs: 0, external: 0, jobs: 0, timers: 0, kv: 0, correlations: 0, signals: 0 });
  const counts = none();
  const dropped = await context.db.transaction(async (db) => {
    const tx = { db, q };
    // Counted afresh on each attempt: a rolled-back attempt deleted nothing.
    Object.assign(counts, none());
    const probes = OWNED_ELSEWHERE.map(
      ([table, expression, type]) =>
        `exists (select 1 from ${q}.${table} where ${expression} >= $1::${type} and ${expression} < $2::${type}) as ${table}`,
    );
    const { rows } = await db.query<Record<(typeof OWNED_ELSEWHERE)[number][0], boolean>>(
      `select ${probes.join(", ")}`,
      [lo, hi],
    );
    const holds = rows[0] as Record<(typeof OWNED_ELSEWHERE)[number][0], boolean>;
    return dropRange(db, q, range.name, {
      keepExecutions: keepExecutions(q, partitionOf(q, EXECUTIONS, range.name)),
      keepJobsHistory: keepJobsHistory(q, partitionOf(q, JOBS_HISTORY, range.name)),
      params: [filter.before, TERMINAL_STATUSES.filter((status) => !filter.statuses.includes(status))],
      historyParams: [filter.before, filter.statuses, filter.statuses.includes("completed"), lo, hi],
      onGone: async (ids) => {
        if (holds.blobs) {
          const blobs = await deleteBlobsOf(tx, ids);
          counts.blobs += blobs.deleted;
          counts.external += blobs.external;
        }
        if (holds.jobs) counts.jobs += (await deleteJobsOf(tx, ids, { history: false })).jobs;
        if (holds.timers) counts.timers += await deleteTimersOf(tx, ids);
        if (holds.kv) counts.kv += await deleteKvOf(tx, ids);
        if (holds.correlations) counts.correlations += await deleteCorrelationsOf(tx, ids);
        if (holds.signals) counts.signals += await deleteSignalsOf(tx, ids);
        await freeKeysOf(tx, ids, partitionOf(q, EXECUTIONS, range.name));
        await freeTaskIdsOf(tx, ids, partitionOf(q, TASKS, range.name));
      },
    });
  });
  total.partitions++;
  total.executions += dropped.executions;
  total.movedExecutions += dropped.keptExecutions;
  for (const [name, n] of Object.entries(counts)) total[name as keyof typeof counts] += n;
}
