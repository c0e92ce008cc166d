/**
 * Groups and limits (migration 0025): the groups of a queue, each one's concurrency limit, and the
 * queue's own limits (its groups' default concurrency, its rate). Claims read them (claim.ts); an
 * enqueue registers the groups of its jobs and wakes them in its own statement (groupsOf).
 */

import type { StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { checkInteger, checkLimit, MAX_INT, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText } from "../core/payload.js";
import { wakeQueues } from "../core/wake.js";
import type { JobGroup, QueueLimits, QueueLimitsChange } from "./types.js";

/**
 * The enqueue's CTEs for the groups of `rows` (columns queue, group_name, status, fresh): each group
 * gets its row (a new one is ready, and first in line), and the groups of fresh ready jobs a wake-up,
 * which keeps a claim from leaving the group not ready before this statement's jobs are seen. Neither
 * insert waits on a claim that holds the group.
 *
 * The groups' rows that exist are held FOR KEY SHARE until the enqueue commits, and taken before the
 * insert looks for them: the deletion of idle groups (idle-groups.ts) skips a row held so, and an
 * enqueue that comes while it holds a row waits for it, then finds the row gone and adds it again.
 * A claim locks its groups FOR NO KEY UPDATE, which the share does not conflict with.
 */
export function groupsOf(context: Pick<StoreContext, "q">, rows: string): string {
  // A probe of the key per group (LIMIT keeps the planner from making it a join, which on a fresh
  // store's empty table it planned as a scan of job_groups), in key order, the order rows are locked in.
  return `group_held as (
       select h.name from (select distinct queue, group_name from ${rows} g
                            where group_name is not null order by queue, group_name) r
        cross join lateral (select x.name from ${context.q}.job_groups x
                             where x.queue = r.queue and x.name = r.group_name limit 1 for key share) h),
     grouped as (
       insert into ${context.q}.job_groups (queue, name)
       select distinct queue, group_name from ${rows} g
        -- Only once the rows are held (the subquery runs before the first row is inserted).
        where group_name is not null and (select count(*) from group_held) >= 0
       on conflict (queue, name) do nothing),
     groups_woken as (
       insert into ${context.q}.job_group_wakeups (queue, name)
       select distinct queue, group_name from ${rows} g
        where group_name is not null and fresh and status = 'waiting')`;
}

interface LimitsRow {
  group_concurrency: number | null;
  rate_limit: number | null;
  rate_period_ms: number | null;
  strict_order: boolean | null;
}

function toLimits(row: LimitsRow | undefined): QueueLimits {
  return {
    groupConcurrency: row?.group_concurrency ?? null,
    rate:
      row?.rate_limit == null || row.rate_period_ms == null
        ? null
        : { limit: row.rate_limit, periodMs: row.rate_period_ms },
    strictOrder: row?.strict_order === true,
  };
}

const LIMITS_KEYS = optionKeys<QueueLimitsChange>({ groupConcurrency: true, rate: true, strictOrder: true });
const RATE_KEYS = optionKeys<NonNullable<QueueLimitsChange["rate"]>>({ limit: true, periodMs: true });

function checkRate(rate: unknown): { limit: number; periodMs: number } | null {
  if (rate === null) return null;
  if (typeof rate !== "object") {
    throw new ValidationError("rate must be { limit, periodMs } or null", { field: "rate" });
  }
  refuseUnknownKeys(rate, RATE_KEYS, "rate");
  const { limit, periodMs } = rate as { limit?: unknown; periodMs?: unknown };
  return {
    limit: checkInteger(limit, "rate.limit", 1, MAX_INT),
    periodMs: checkInteger(periodMs, "rate.periodMs", 1, MAX_INT),
  };
}

/** Sets a queue's limits; returns them as they now stand. */
export async function setLimits(
  context: StoreContext,
  queue: string,
  change: QueueLimitsChange,
): Promise<QueueLimits> {
  checkText(queue, "queue");
  if (typeof change !== "object" || change === null) {
    throw new ValidationError("limits must be an object", { field: "limits" });
  }
  refuseUnknownKeys(change, LIMITS_KEYS);
  const setConcurrency = change.groupConcurrency !== undefined;
  const concurrency =
    change.groupConcurrency == null
      ? null
      : checkInteger(change.groupConcurrency, "groupConcurrency", 1, MAX_INT);
  const setRate = change.rate !== undefined;
  const rate = setRate ? checkRate(change.rate) : null;
  if (change.strictOrder !== undefined && typeof change.strictOrder !== "boolean") {
    throw new ValidationError("strictOrder must be true or false", { field: "strictOrder" });
  }
  const { rows } = await context.db.query<LimitsRow>(
    `insert into ${context.q}.queue_limits as l (queue, group_concurrency, rate_limit, rate_period_ms, strict_order)
     values ($1, $3, $5, $6, coalesce($7, false))
     on conflict (queue) do update
       set group_concurrency = case when $2 then excluded.group_concurrency else l.group_concurrency end,
           rate_limit = case when $4 then excluded.rate_limit else l.rate_limit end,
           rate_period_ms = case when $4 then excluded.rate_period_ms else l.rate_period_ms end,
           -- A new rate starts a new window.
           window_started_at = case when $4 then null else l.window_started_at end,
           window_taken = case when $4 then 0 else l.window_taken end,
           strict_order = coalesce($7, l.strict_order)
     returning group_concurrency, rate_limit, rate_period_ms, strict_order`,
    [
      queue,
      setConcurrency,
      concurrency,
      setRate,
      rate?.limit ?? null,
      rate?.periodMs ?? null,
      change.strictOrder ?? null,
    ],
  );
  // Out of strict order, no group is held for its first job any more; that job, which kept its place
  // ready, waits for its retry or snooze as scheduled instead (migration 0038).
  if (change.strictOrder === false) {
    await context.db.query(
      `with held as (
         select g.name, g.held_until, g.held_for from ${context.q}.job_groups g
          where g.queue = $1 and g.held_until is not null for no key update),
       unheld as (
         update ${context.q}.job_groups g set held_until = null, held_for = null
           from held h where g.queue = $1 and g.name = h.name)
       update ${context.q}.jobs j set run_at = h.held_until, status = 'scheduled', updated_at = now()
         from held h
        where j.id = h.held_for and j.queue = $1 and j.group_name = h.name and j.status = 'waiting'
          and h.held_until > now()`,
      [queue],
    );
  }
  // A limit raised or removed may let waiting jobs run now.
  await wakeQueues(context.db, context.schema, [queue]);
  return toLimits(rows[0]);
}

/** A queue's limits (none set: no limits). */
export async function limits(context: StoreContext, queue: string): Promise<QueueLimits> {
  checkText(queue, "queue");
  const { rows } = await context.db.query<LimitsRow>(
    `select group_concurrency, rate_limit, rate_period_ms, strict_order from ${context.q}.queue_limits where queue = $1`,
    [queue],
  );
  return toLimits(rows[0]);
}

/** Sets one group's concurrency limit (null: the queue's groupConcurrency applies). */
export async function setGroupLimit(
  context: StoreContext,
  queue: string,
  group: string,
  concurrency: number | null,
): Promise<void> {
  checkText(queue, "queue");
  checkText(group, "group");
  const limit = concurrency === null ? null : checkInteger(concurrency, "concurrency", 1, MAX_INT);
  await context.db.query(
    `insert into ${context.q}.job_groups as g (queue, name, concurrency, ready) values ($1, $2, $3, false)
     on conflict (queue, name) do update set concurrency = excluded.concurrency`,
    [queue, group, limit],
  );
  // The group may have had jobs held back by the old limit: it gets its turn again.
  await context.db.query(`insert into ${context.q}.job_group_wakeups (queue, name) values ($1, $2)`, [
    queue,
    group,
  ]);
  await wakeQueues(context.db, context.schema, [queue]);
}

/**
 * A queue's groups in name order, a page at a time (`after`: the last name of the previous page;
 * `limit`: default 100, at most 1,000), with their ready and running jobs counted.
 */
export async function groups(
  context: StoreContext,
  queue: string,
  options: { after?: string; limit?: number } = {},
): Promise<JobGroup[]> {
  checkText(queue, "queue");
  const after = options.after === undefined ? null : checkText(options.after, "after");
  const limit = checkLimit(options.limit, 100);
  const t = `${context.q}.jobs`;
  const { rows } = await context.db.query<{
    name: string;
    concurrency: number | null;
    ready: number;
    running: number;
    served_at: Date | null;
  }>(
    `select g.name, g.concurrency,
            (select count(*)::int from ${t} j
              where j.queue = g.queue and j.group_name = g.name and j.status = 'waiting') as ready,
            (select count(*)::int from ${t} j
              where j.queue = g.queue and j.group_name = g.name and j.status = 'running') as running,
            case when g.served_at = '-infinity' then null else g.served_at end as served_at
       from ${context.q}.job_groups g
      where g.queue = $1 and ($2::text is null or g.name > $2)
      order by g.name limit $3`,
    [queue, after, limit],
  );
  return rows.map((row) => ({
    queue,
    name: row.name,
    concurrency: row.concurrency,
    ready: row.ready,
    running: row.running,
    servedAt: row.served_at,
  }));
}
