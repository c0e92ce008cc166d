/**
 * The queue's totals since the store began (migration 0024): jobs enqueued, started, completed,
 * failed, dead and taken back after their lease expired, per queue, and a histogram of how long jobs
 * waited from their due time until a handler started them. Each count is written by the statement that
 * does what it counts, in its transaction, so what commits is counted and what rolls back is not, and a
 * process killed outright loses nothing it did: enqueues (addEnqueued), claims by hand (countClaimed),
 * completions, worker's and by hand alike, failures and releases that send a job dead (countRows). A
 * worker's starts, with how long each job waited, go with the start mark that makes them attempts
 * (worker/start-marks.ts), and what its claims see (leases expired, jobs gone dead) it adds as each
 * claim lands (addCounts). Counts are rows of queue_total_additions, inserts only, which folds move
 * into queue_totals (total-folds.ts); a read sums both.
 */

import type { StoreContext } from "../core/context.js";
import { forReads } from "../core/context.js";
import { checkText } from "../core/payload.js";
import type { QueueTotals } from "./types.js";

export type { QueueTotals } from "./types.js";

/** The histogram's upper bounds, in seconds: from a few milliseconds to an hour. */
export const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** A count's name in queue_totals for the histogram's bucket with upper bound `le` (not cumulative). */
export function waitBucketName(le: number): string {
  return `wait_le_${le}`;
}

/** The histogram's sum, kept in microseconds (a count cannot hold fractions). */
export const WAIT_SUM_US = "wait_sum_us";

/**
 * A CTE (named `counted`) for a statement that puts jobs in the queue: adds the jobs `source` (a
 * relation with a `queue` column, one row per new job) holds per queue to the additions.
 */
export function addEnqueued(context: StoreContext, source: string): string {
  return `counted as (
       insert into ${context.q}.queue_total_additions (queue, name, n)
       select queue, 'enqueued', count(*) from ${source} f group by queue)`;
}

/** The histogram's bounds in microseconds with their counts' names, as constant SQL rows (le_us, name). */
const WAIT_BUCKET_ROWS = `(values ${WAIT_BUCKETS.map((le) => `(${Math.round(le * 1e6)}::bigint, '${waitBucketName(le)}')`).join(", ")})`;

/**
 * A CTE (named `counted`) for a claim by hand, which starts the jobs it leases (a worker's claim
 * counts nothing here: the worker counts its runs as their handlers start). It adds, for queue $1,
 * what the claim's `claimed` rows (CLAIMED_COLUMNS) hold: jobs started, with how long each had waited
 * since it was due (by the claim's clock), jobs taken back after a lease expired, and jobs that went
 * dead for it. One row per count, not per job.
 */
export function countClaimed(context: Pick<StoreContext, "q">): string {
  return `counted as (
       insert into ${context.q}.queue_total_additions (queue, name, n)
       select $1, k.name, sum(k.n) from claimed c
        cross join lateral (select greatest((extract(epoch from now()) * 1000000)::bigint - c.run_at_us, 0) as us) w
        cross join lateral (
          select case when c.status = 'dead' then 'dead' else 'started' end as name, 1::bigint as n
          union all select 'lease_expired', 1 where c.taken_back
          union all select '${WAIT_SUM_US}', w.us where c.status <> 'dead'
          union all (select b.name, 1 from ${WAIT_BUCKET_ROWS} b(le_us, name)
                      where c.status <> 'dead' and w.us <= b.le_us order by b.le_us limit 1)) k
        group by k.name)`;
}

/**
 * A CTE (named `counted`) for a statement that ends runs or jobs: for each [name, condition] of
 * `counts`, adds the rows of `source` (a relation with `queue`, read as `e`) the condition keeps, per queue.
 */
export function countRows(
  context: Pick<StoreContext, "q">,
  source: string,
  counts: [string, string][],
): string {
  const each = counts.map(
    ([name, where]) => `select e.queue, '${name}', count(*) from ${source} e where ${where} group by e.queue`,
  );
  return `counted as (
       insert into ${context.q}.queue_total_additions (queue, name, n)
       ${each.join("\n       union all ")})`;
}

/** SQL: a CTE (named `counted`) that adds counts to queue $q: names in `names` (a text[]), counts in `ns`. */
export function addNamedCounts(
  context: Pick<StoreContext, "q">,
  queue: string,
  names: string,
  ns: string,
): string {
  return `counted as (
       insert into ${context.q}.queue_total_additions (queue, name, n)
       select ${queue}, c.name, c.n from unnest(${names}, ${ns}) as c(name, n) where c.n > 0)`;
}

/** Adds `counts` to queue `queue`'s totals, in a statement of its own (a worker's claims' counts). */
export async function addCounts(
  context: StoreContext,
  queue: string,
  counts: Map<string, number>,
): Promise<void> {
  await context.db.query(
    `insert into ${context.q}.queue_total_additions (queue, name, n)
     select $1, c.name, c.n from unnest($2::text[], $3::bigint[]) as c(name, n) where c.n > 0`,
    [queue, [...counts.keys()], [...counts.values()]],
  );
}

/**
 * Folds every addition made so far into the totals, with `counts` for `queue` besides (a worker's last
 * ones as it stops), in one statement; each row folded into says when it last grew. The totals' rows are
 * locked in one order, so two folds at once wait, never deadlock.
 */
export async function addTotals(
  context: StoreContext,
  queue: string,
  counts: Map<string, number>,
): Promise<void> {
  await context.db.query(
    `with moved as (delete from ${context.q}.queue_total_additions returning queue, name, n),
          added as (select queue, name, n from moved
                    union all
                    select $1, name, n from unnest($2::text[], $3::bigint[]) as c(name, n))
     insert into ${context.q}.queue_totals as t (queue, name, n)
     select queue, name, sum(n) from added group by queue, name order by queue, name
     on conflict (queue, name) do update set n = t.n + excluded.n, updated_at = now()`,
    // Not a prepared statement: it runs now and then, and it reads the additions whole, by design.
    [queue, [...counts.keys()], [...counts.values()]],
  );
}

/** Every queue's totals (or one queue's), summed from the totals and the additions not yet moved. */
export async function totals(context: StoreContext, queue?: string): Promise<QueueTotals[]> {
  const only = queue === undefined ? null : checkText(queue, "queue");
  const { rows } = await forReads(context).db.query<{ queue: string; name: string; n: string }>(
    `select queue, name, sum(n)::text as n
       from (select queue, name, n from ${context.q}.queue_totals
             union all
             select queue, name, n from ${context.q}.queue_total_additions) c
      where $1::text is null or queue = $1
      group by queue, name
      order by queue`,
    [only],
  );
  const byQueue = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const counts = byQueue.get(row.queue) ?? new Map<string, number>();
    counts.set(row.name, Number(row.n));
    byQueue.set(row.queue, counts);
  }
  return [...byQueue].map(([name, counts]) => toTotals(name, counts));
}

function toTotals(queue: string, counts: Map<string, number>): QueueTotals {
  const count = (name: string) => counts.get(name) ?? 0;
  let cumulative = 0;
  const buckets = WAIT_BUCKETS.map((le) => {
    cumulative += count(waitBucketName(le));
    return { le, count: cumulative };
  });
  buckets.push({ le: Number.POSITIVE_INFINITY, count: count("started") });
  return {
    queue,
    enqueued: count("enqueued"),
    started: count("started"),
    completed: count("completed"),
    failed: count("failed"),
    dead: count("dead"),
    leaseExpired: count("lease_expired"),
    scheduleToStart: { buckets, sumSeconds: count(WAIT_SUM_US) / 1e6, count: count("started") },
  };
}
