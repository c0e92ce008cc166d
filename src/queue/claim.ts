/**
 * The claim: one statement (`FOR UPDATE SKIP LOCKED`) that takes back jobs whose lease expired, then
 * the queue's ready jobs. Jobs without a group come from the jobs_ready index in priority order; the
 * groups take turns (see migration 0025): the least recently served groups with ready jobs are locked,
 * each gives its first jobs up to its share of the claim and its concurrency limit, and goes to the
 * back of the line. A rate-limited queue's claim first takes what its window has left.
 */

import type { StoreContext } from "../core/context.js";
import { integerOption } from "../core/input.js";
import { checkText } from "../core/payload.js";
import { jobsChannel } from "../core/wake.js";
import { startedRun, startLeaseHeld } from "./job-starts.js";
import { notPaused } from "./pauses.js";
import {
  CLAIMED_COLUMNS,
  type ClaimedRow,
  liveRows,
  RELAXED_COMMIT,
  relaxedCommit,
  toLeasedJob,
} from "./sql.js";
import type { ClaimOptions, LeasedJob } from "./types.js";

/** How long a claim leases its jobs when not told. */
const DEFAULT_LEASE_MS = 30_000;

/** Due scheduled jobs a claim moves into the ready set at most. */
const PROMOTE_BATCH = 1000;

/** Room in a group without a concurrency limit. */
const UNLIMITED = 2_147_483_647;

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
export async function claim(
  context: StoreContext,
  options: ClaimOptions,
  settings: { promote?: boolean; reservation?: Reservation } = {},
): Promise<LeasedJob[]> {
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
  const { q } = context;
  const t = `${q}.jobs`;
  const queue = checkText(options.queue, "queue");
  const workerId = checkText(options.workerId, "workerId");
  const limit = integerOption(options.limit, "limit", { min: 1, fallback: 1 });
  const leaseMs = integerOption(options.leaseMs, "leaseMs", { min: 1, fallback: DEFAULT_LEASE_MS });
  if (promote) await promoteDue(context, queue);
  const relaxed = relaxedCommit(context);
  const started = startedRun(context, "j", "$5::uuid", "$7::uuid[]");
  const paused = notPaused(context, "$1");
  // A job taken back after its lease lapsed: the run it started, if it did, counts, and a job whose
  // attempts are then spent goes dead instead of running again.
  const dying = `j.status = 'running' and j.attempts + ${started} >= j.max_attempts`;
  const { rows } = await context.db.query<ClaimedRow & { more: boolean }>(
    `with ${relaxed ? `${RELAXED_COMMIT}, ` : ""}rate as materialized (
       -- A rate-limited queue's window, locked: claims at once take from it one after the other.
       select l.rate_limit, l.window_taken,
              l.window_started_at is null
                or l.window_started_at <= now() - l.rate_period_ms * interval '1 millisecond' as new_window
         from ${q}.queue_limits l where l.queue = $1 and l.rate_limit is not null for update),
     allowed as materialized (
       select least($2::int, coalesce((select case when new_window then rate_limit
                                                   else greatest(rate_limit - window_taken, 0) end from rate),
                                      $2::int)) as n),
     locked as materialized (
       -- The groups whose turn it is: ready ones, least recently served first, and ones woken since a
       -- claim found them empty. Locked: two claims never serve one group at once.
       select * from (
         select g.name, g.concurrency, g.turn from ${q}.job_groups g
          where g.queue = $1 and g.ready and (select n from allowed) > 0 and ${paused}
          order by g.served_at, g.name limit $2 for update skip locked) ready
       union all
       select * from (
         -- From the wake-ups, each a probe of job_groups: the groups that are not ready are most of
         -- them (each that ever ran dry).
         select g.name, g.concurrency, g.turn
           from (select distinct w.name from ${q}.job_group_wakeups w where w.queue = $1 limit $2) w
           join ${q}.job_groups g on g.queue = $1 and g.name = w.name
          where not g.ready and (select n from allowed) > 0 and ${paused}
          for update of g skip locked) woken),
     turns as materialized (
       -- A locked row is the group as it stands now; the jobs counted below are as they stood when this
       -- statement began. A group served by another claim in between (its turn has moved on since) has
       -- more jobs running than this statement can see: it waits for the next claim.
       select l.name, l.concurrency from locked l
        where l.turn = (select g.turn from ${q}.job_groups g where g.queue = $1 and g.name = l.name)),
     share as materialized (
       -- Each group's share of the claim; jobs without a group, if any wait, share as one more group.
       select case when (select count(*) from turns) = 0 then a.n
                   else ceil(a.n::float8 / ((select count(*) from turns) +
                          case when exists (select 1 from ${t} u where u.queue = $1 and u.status = 'waiting'
                                               and u.group_name is null) then 1 else 0 end))::int end as n
         from allowed a),
     rooms as materialized (
       select t.name, least(s.n, room.n) as take, room.n as room
         from turns t cross join share s
         cross join lateral (select coalesce(t.concurrency,
                                             (select l.group_concurrency from ${q}.queue_limits l where l.queue = $1)) as n) lim
         cross join lateral (
           select case when lim.n is null then ${UNLIMITED}
                       else greatest(lim.n - (select count(*)::int from ${t} r
                                               where r.queue = $1 and r.group_name = t.name and r.status = 'running'), 0)
                  end as n) room),
     claimed as (
     update ${t} j
        set status = case when ${dying} then 'dead' else 'running' end,
            last_error = case when ${dying}
                              then jsonb_build_object('message', 'lease expired on the last attempt') else j.last_error end,
            attempts = j.attempts + ${started} + case when ${dying} or $5::uuid is not null then 0 else 1 end,
            -- A job that goes dead here holds no lease: it is in no one's hands.
            lease_owner = case when ${dying} then null else $3 end,
            lease_token = case when ${dying} then null else gen_random_uuid() end,
            lease_expires_at = case when ${dying} then null else now() + $4::int * interval '1 millisecond' end,
            reserved_by = case when ${dying} then null else $5::uuid end,
            reserved_batch = case when ${dying} then null else $6::bigint end,
            taken_back = j.status = 'running',
            updated_at = now()
       ${relaxed ? "from relaxed_commit " : ""}where j.id in (
         -- Jobs whose worker lost its lease come first: behind a steady backlog they would wait forever.
         select id from (
           select id from ${t} x
            where queue = $1 and status = 'running' and lease_expires_at < now()
              and not ${startLeaseHeld(context, "x")} and ${paused}
            order by lease_expires_at
            limit $2 for update skip locked) expired
         union all
         select id from (
           select id from ${t}
            where queue = $1 and status = 'waiting' and group_name is null and run_at <= now() and ${paused}
            order by priority desc, run_at, id
            limit (select n from share) for update skip locked) ready
         union all
         -- Each group's first jobs, as an array: the planner takes a group's LIMIT for a tenth of the
         -- group, and a large group's tenth for a batch it would sooner hash the table for.
         select g.id from rooms r cross join lateral unnest(array(
           select x.id from ${t} x
            where x.queue = $1 and x.group_name = r.name and x.status = 'waiting' and x.run_at <= now()
            order by x.priority desc, x.run_at, x.id
            limit r.take for update skip locked)) g(id)
         -- The branches run in order and a row is locked only when pulled, so ready jobs are locked
         -- only as far as the batch has room. (As IN, not as a join with a CTE of candidates: with
         -- four claimers at a time, that form managed about 70% of this one's throughput.)
         limit (select n from allowed))
     returning ${CLAIMED_COLUMNS}),
     served as (
       -- Each group served goes to the back of the line, ready while it has ready jobs left (the
       -- statement's snapshot still shows the jobs just claimed as waiting). A scalar subquery in the
       -- index's order, not EXISTS (which drops the order): the planner, which takes any one group for
       -- the whole table when one group holds most of it, read the table from the start for its row.
       update ${q}.job_groups g
          set served_at = now(), turn = g.turn + 1,
              ready = (select x.id from ${t} x
                        where x.queue = $1 and x.group_name = g.name and x.status = 'waiting'
                          and x.id not in (select id from claimed)
                        order by x.priority desc, x.run_at, x.id limit 1) is not null
         from turns t where g.queue = $1 and g.name = t.name
       returning g.name, g.ready),
     woken as (delete from ${q}.job_group_wakeups w using turns t where w.queue = $1 and w.name = t.name),
     rate_taken as (
       update ${q}.queue_limits l
          set window_started_at = case when r.new_window then now() else l.window_started_at end,
              window_taken = case when r.new_window then 0 else l.window_taken end + (select count(*) from claimed)
         from rate r where l.queue = $1),
     summary as (
       select (select count(*) from claimed) < (select n from allowed) and (
                (select count(*) from turns) >= $2
                or (select count(*) from locked) > (select count(*) from turns)
                or exists (select 1 from served s join rooms r on r.name = s.name
                            where s.ready and r.room > (select count(*) from claimed c where c.group_name = s.name))
                or ((select n from share) < (select n from allowed)
                    and (select count(*) from claimed c where c.group_name is null) >= (select n from share))
              ) as more)
     -- UPDATE ... RETURNING keeps no order: the jobs go out in the order they were chosen. Jobs that
     -- went dead come too, for the claiming worker's counts; they are no one's to run. A claim that took
     -- nothing is one row of nulls, which carries \`more\`.
     select c.*, m.more from summary m left join claimed c on true
      order by c.priority desc, c.run_at_us, c.id`,
    [
      queue,
      limit,
      workerId,
      leaseMs,
      reservation?.worker ?? null,
      reservation?.batch ?? null,
      reservation?.letGo ?? null,
    ],
    { prepare: true },
  );
  const more = rows[0]?.more === true;
  const claimed = rows[0]?.id == null ? [] : rows;
  return { rows: claimed, more };
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
