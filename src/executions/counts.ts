/**
 * Counts by status that stay cheap at tens of millions of runs, for overviews (the dashboard, the
 * command): each status is counted exactly up to a bound, through the status index, and above it
 * estimated from the planner's statistics (each partition's row count times the status's share of
 * it, as ANALYZE last saw them). A status with few runs (those still going, mostly) is exact; one with
 * many (the finished ones) costs the bound, not a scan.
 */

import type { StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { integerOption, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { RUN_STATUSES } from "../core/run-status.js";
import type { Queryable } from "../db/driver.js";
import type { ExecutionStatus } from "./types.js";

export interface StatusCount {
  count: number;
  /** False when the count is an estimate: more than `exactUpTo` runs have the status. */
  exact: boolean;
}

export interface StatusCountOptions {
  /** Count exactly up to this many runs per status (default 10,000, at most 1,000,000). */
  exactUpTo?: number;
}

const STATUS_COUNT_KEYS = optionKeys<StatusCountOptions>({ exactUpTo: true });

export async function statusCounts(
  { db, q, schema }: Pick<StoreContext, "db" | "q" | "schema">,
  options: StatusCountOptions = {},
): Promise<Record<ExecutionStatus, StatusCount>> {
  refuseUnknownKeys(options, STATUS_COUNT_KEYS);
  const bound = integerOption(options.exactUpTo, "exactUpTo", { min: 0, max: 1_000_000, fallback: 10_000 });
  // A branch per status, each counting its runs up to the bound: not a subquery correlated with an
  // unnest of the statuses, which Citus cannot plan.
  const branches = RUN_STATUSES.map(
    (_, i) => `select $${i + 2}::text as status,
       (select count(*) from (select 1 from ${q}.executions e where e.status = $${i + 2} limit $1 + 1) x)::int
         as counted`,
  );
  const { rows } = await db.query<{ status: ExecutionStatus; counted: number }>(
    branches.join("\n     union all "),
    [bound, ...RUN_STATUSES],
  );
  // Estimates only for statuses past the bound, from the catalog, in a statement of their own (on
  // Citus, a statement that joins the catalog to a distributed table fails).
  const estimates = rows.some((row) => row.counted > bound)
    ? await estimatedByStatus(db, q, schema)
    : new Map();
  const counts = {} as Record<ExecutionStatus, StatusCount>;
  for (const row of rows) {
    counts[row.status] =
      row.counted <= bound
        ? { count: row.counted, exact: true }
        : { count: Math.max(bound + 1, Math.round(estimates.get(row.status) ?? 0)), exact: false };
  }
  return counts;
}

/** The planner's estimate of the runs of each status: the rows of the partitions times its share. */
async function estimatedByStatus(db: Queryable, q: string, schema: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ status: string; estimate: number }>(
    `select v.status, sum(greatest(c.reltuples, 0) * v.share)::float8 as estimate
       from pg_inherits i
       join pg_class c on c.oid = i.inhrelid
       join pg_stats st on st.schemaname = $1 and st.tablename = c.relname and st.attname = 'status'
       cross join lateral unnest(st.most_common_vals::text::text[], st.most_common_freqs) as v(status, share)
      where i.inhparent = $2::regclass
      group by v.status`,
    [schema, `${q}.executions`],
  );
  return new Map(rows.map((row) => [row.status, row.estimate]));
}

/**
 * How many executions finished (reached a terminal status) at or after `since`: a range of the index
 * on completion time, as long as the runs that finished in it, however many finished before.
 */
export async function finishedSince({ db, q }: Pick<StoreContext, "db" | "q">, since: Date): Promise<number> {
  if (!(since instanceof Date) || Number.isNaN(since.getTime())) {
    throw new ValidationError("since must be a valid Date", { field: "since" });
  }
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from ${q}.executions where completed_at >= $1`,
    [since],
  );
  return rows[0]?.n ?? 0;
}
