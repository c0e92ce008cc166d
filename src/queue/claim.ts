/**
 * The claim: one statement (`FOR UPDATE SKIP LOCKED`) that takes back jobs whose lease expired, then
 * the queue's ready jobs, groups taking turns where the queue has groups (see claim-sql.ts for the two
 * statements, and migration 0025); and the promotion of scheduled jobs that came due.
 */

import type { StoreContext } from "../core/context.js";
import { integerOption, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText } from "../core/payload.js";
import { jobsChannel } from "../core/wake.js";
import { groupedClaim, hasGroupsQuery, plainClaim, workerClaim } from "./claim-sql.js";
import { type ClaimedRow, inClaimOrder, liveRows, relaxedCommit, toLeasedJob } from "./sql.js";
import { noteAdditions } from "./total-folds.js";
import type { ClaimOptions, LeasedJob } from "./types.js";

/** How long a claim leases its jobs when not told. */
const DEFAULT_LEASE_MS = 30_000;

/** Due scheduled jobs a claim moves into the ready set at most. */
const PROMOTE_BATCH = 1000;

/**
 * A worker's prefetch claim: its run's id, the number of this claim among its claims, and the jobs whose
 * run it let go of unrecorded (StartMarks.letGo), which taking back counts.
 */
export interface Reservation {
  worker: string;
  batch: number;
  letGo?: readonly string[];
}

/**
 * A claim's rows, and whether the queue may have more for a claim right away though this one came back
 * short: a group gave its share of the claim and has more, or more groups wait their turn. (A claim
 * short for any other reason found the queue drained, rate limited, or its groups at their limits.)
 */
export interface ClaimedRows {
  rows: ClaimedRow[];
  more: boolean;
}

/**
 * Leases up to `limit` jobs of a queue: jobs whose lease expired first, then due waiting jobs by
 * priority then runAt, groups taking turns. A job whose lease expired on its last attempt goes dead.
 *
 * Scheduled jobs that came due join the ready set first (`promote`, default true); a worker, which
 * claims all the time, promotes on its own schedule instead and skips that statement.
 *
 * A claim counts an attempt for each job, unless it is a worker's `reservation`: a worker reserves the
 * jobs it prefetches and their attempts count from the moment each starts (see job-starts.ts), so a
 * worker that dies with jobs in its buffer burns none of their attempts.
 */
const CLAIM_KEYS = optionKeys<ClaimOptions>({ queue: true, workerId: true, limit: true, leaseMs: true });

export async function claim(
  context: StoreContext,
  options: ClaimOptions,
  settings: { promote?: boolean; reservation?: Reservation } = {},
): Promise<LeasedJob[]> {
  refuseUnknownKeys(options, CLAIM_KEYS);
  const rows = liveRows((await claimRows(context, options, settings)).rows);
  return rows.map((row) =>
    toLeasedJob(row, options.queue, options.workerId, options.leaseMs ?? DEFAULT_LEASE_MS),
  );
}

/**
 * A claim's rows in claim order (priority descending, run_at, id), which a worker starts them in, and
 * its start marks count on; with the jobs that went dead, leased to no one (see liveRows).
 */
export async function claimRows(
  context: StoreContext,
  options: ClaimOptions,
  { promote = true, reservation }: { promote?: boolean; reservation?: Reservation } = {},
): Promise<ClaimedRows> {
  const queue = checkText(options.queue, "queue");
  const workerId = checkText(options.workerId, "workerId");
  const limit = integerOption(options.limit, "limit", { min: 1, fallback: 1 });
  const leaseMs = integerOption(options.leaseMs, "leaseMs", { min: 1, fallback: DEFAULT_LEASE_MS });
  if (promote) await promoteDue(context, queue);
  const relaxed = relaxedCommit(context);
  const values = [
    queue,
    limit,
    workerId,
    leaseMs,
    reservation?.worker ?? null,
    reservation?.batch ?? null,
    reservation?.letGo ?? null,
  ];
  const known = groupedQueues(context);
  const key = `${context.schema}\u0000${queue}`;
  const run = async (sql: string) => {
    const { rows } = await context.db.query<ClaimedRow & { grouped: boolean; more: boolean }>(sql, values, {
      prepare: true,
    });
    return rows;
  };
  // A claim by hand counts what it did (see countClaimed); a worker's counts its own runs in memory.
  const counted = reservation === undefined;
  let rows: Array<ClaimedRow & { grouped?: boolean; more?: boolean }> = [];
  let grouped = known.has(key);
  if (!grouped && counted) {
    rows = await run(plainClaim(context, relaxed));
    grouped = rows[0]?.grouped === true;
  } else if (!grouped) {
    rows = inClaimOrder(await run(workerClaim(context, relaxed)));
    if (rows.length === 0) grouped = await hasGroups(context, queue);
  }
  if (grouped) {
    // Groups or limits in the queue (found now, or before): the claim that heeds them, from now on.
    known.add(key);
    rows = await run(groupedClaim(context, relaxed, counted));
  }
  const more = rows[0]?.more === true;
  if (rows[0]?.id == null) return { rows: [], more };
  // Its counts: started, the wait's sum and a bucket, and perhaps leases expired and dead.
  if (counted) noteAdditions(context, 3);
  return { rows, more };
}

/** Whether the queue has groups or limits (a worker's plain claim that took nothing asks). */
async function hasGroups(context: StoreContext, queue: string): Promise<boolean> {
  const { rows } = await context.db.query<{ yes: boolean }>(hasGroupsQuery(context), [queue], {
    prepare: true,
  });
  return rows[0]?.yes === true;
}

/**
 * The queues known to have groups or limits, per database driver (a store and its transactions share
 * one): claimed with groupedClaim without asking plainClaim or workerClaim first. A queue stays known: groups and
 * limits are rarely taken away, and groupedClaim claims a queue without them all the same.
 */
const grouped = new WeakMap<object, Set<string>>();

function groupedQueues(context: StoreContext): Set<string> {
  let queues = grouped.get(context.driver);
  if (!queues) {
    queues = new Set();
    grouped.set(context.driver, queues);
  }
  return queues;
}

/**
 * Moves scheduled jobs of a queue that came due into the ready set (up to PROMOTE_BATCH, soonest
 * first), where they take their turn by priority, and wakes the queue's workers if it moved any.
 * Returns how many it moved.
 */
export async function promoteDue(context: StoreContext, queue: string): Promise<number> {
  const t = `${context.q}.jobs`;
  const { rows } = await context.db.query<{ n: number }>(
    `with due as materialized (
       select id from ${t}
        where queue = $1 and status = 'scheduled' and run_at <= now()
        order by run_at limit ${PROMOTE_BATCH} for update skip locked),
     promoted as (
       update ${t} s set status = 'waiting', updated_at = now() from due where s.id = due.id
       -- One notification per queue: identical notifications in a transaction are sent once.
       returning pg_notify($2, json_build_array(s.queue)::text))
     select count(*)::int as n from promoted`,
    [queue, jobsChannel(context.schema)],
    { prepare: true },
  );
  return rows[0]?.n ?? 0;
}
