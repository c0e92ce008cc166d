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
import { deleteCorrelationsOf } from "../correlations/index.js";
import { deleteKvOf } from "../kv/index.js";
import { dropRange, listRanges, RangeChangedError } from "../partitions/index.js";
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
  filter: { before: Date; statuses: string[]; batchSize: number; signal?: AbortSignal },
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
        await dropOne(context, range.name, filter, total);
        break;
      } catch (error) {
        // Another session held the tables too long, or a run changed meanwhile: tried again; at the
        // last attempt the range stays, and its runs are pruned by rows.
        const again = sqlStateOf(error) === "55P03" || error instanceof RangeChangedError;
        if (!again || attempt === ATTEMPTS) {
          if (!again) throw error;
          context.logger.warn(
            { range: range.name, error: String(error) },
            "flowstore prune: a range's partitions stayed locked; its runs are pruned row by row",
          );
          return total;
        }
      }
    }
  }
  return total;
}

async function dropOne(
  context: SqlContext,
  range: string,
  filter: { before: Date; statuses: string[]; batchSize: number },
  total: RangesDropped,
): Promise<void> {
  const { q } = context;
  const counts = { blobs: 0, external: 0, jobs: 0, timers: 0, kv: 0, correlations: 0, signals: 0 };
  const dropped = await context.db.transaction(async (db) => {
    const tx = { db, q };
    // Counted afresh on each attempt: a rolled-back attempt deleted nothing.
    Object.assign(counts, { blobs: 0, external: 0, jobs: 0, timers: 0, kv: 0, correlations: 0, signals: 0 });
    const sweepOrphans = filter.statuses.includes("completed");
    const prunable = (alias: string) => `coalesce((${prunableWhere(q, false, alias)}), false)`;
    return dropRange(db, q, range, {
      goneExecutions: prunable("e"),
      keepJobsHistory: `not (h.completed_at < $1 and (
          exists (select 1 from ${q}.executions x where x.id = h.execution_id and ${prunable("x")})
          or ($3 and (h.execution_id is null
                      or not exists (select 1 from ${q}.executions x where x.id = h.execution_id)))))`,
      params: [filter.before, filter.statuses],
      historyParams: [filter.before, filter.statuses, sweepOrphans],
      onGone: async (ids) => {
        const blobs = await deleteBlobsOf(tx, ids);
        counts.blobs += blobs.deleted;
        counts.external += blobs.external;
        counts.jobs += (await deleteJobsOf(tx, ids, { history: false })).jobs;
        counts.timers += await deleteTimersOf(tx, ids);
        counts.kv += await deleteKvOf(tx, ids);
        counts.correlations += await deleteCorrelationsOf(tx, ids);
        counts.signals += await deleteSignalsOf(tx, ids);
        await freeKeysOf(tx, ids);
        await freeTaskIdsOf(tx, ids);
      },
    });
  });
  total.partitions++;
  total.executions += dropped.executions;
  total.movedExecutions += dropped.keptExecutions;
  for (const [name, n] of Object.entries(counts)) total[name as keyof typeof counts] += n;
}
