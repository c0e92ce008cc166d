/**
 * The claim's statements. A queue without groups or limits (most queues) is claimed by plainClaim
 * (a claim by hand) or workerClaim (a worker's): the jobs whose lease expired, then the first ready
 * jobs by priority, as the queue has always been claimed. A queue with groups or limits is claimed by
 * groupedClaim (see migration 0025), which takes turns between the groups within their limits and the
 * queue's rate: about a sixth more work for the server per claim, which a queue without them does not
 * pay. plainClaim and workerClaim look for groups and limits too, and finding any take nothing: the
 * caller claims again with groupedClaim, and from then on with it alone (claim.ts).
 *
 * Each takes $1 queue, $2 limit, $3 worker id, $4 lease ms, $5 reservation's worker, $6 its claim
 * number, $7 the jobs it let go. plainClaim and groupedClaim return CLAIMED_COLUMNS and `more` (see
 * ClaimedRows), and a claim that took nothing as one row of nulls carrying it; workerClaim returns
 * CLAIMED_COLUMNS alone. A claim by hand adds what it did to the queue's totals in the same statement
 * (`counted`, always for plainClaim); a worker's claim leaves that to the worker.
 */

import type { StoreContext } from "../core/context.js";
import { startedRun, startLeaseHeld } from "./job-starts.js";
import { notPaused } from "./pauses.js";
import { CLAIMED_COLUMNS, RELAXED_COMMIT } from "./sql.js";
import { countClaimed } from "./totals.js";

/** A group not held by the retry or snooze of its first job (strict order, migration 0032). */
const NOT_HELD = "(g.held_until is null or g.held_until <= now())";

/** Room in a group without a concurrency limit. */
const UNLIMITED = 2_147_483_647;

/** The claimed CTE's head: UPDATE of the jobs with their leases, up to its WHERE. */
function leaseUpdate(context: StoreContext): string {
  const t = `${context.q}.jobs`;
  const started = startedRun(context, "j", "$5::uuid", "$7::uuid[]");
  // A job taken back after its lease lapsed: the run it started, if it did, counts, and a job whose
  // attempts are then spent goes dead instead of running again.
  const dying = `j.status = 'running' and j.attempts + ${started} >= j.max_attempts`;
  // One lease token for the claim's jobs, drawn once (a sub-select without outer references runs once
  // per statement): a random UUID costs the server about a microsecond, a tenth of a short claim's work
  // per job. With the job's id it still names one lease: a claim leases a job once, and no other claim
  // draws the same token.
  return `     update ${t} j
        set status = case when ${dying} then 'dead' else 'running' end,
            last_error = case when ${dying}
                              then jsonb_build_object('message', 'lease expired on the last attempt') else j.last_error end,
            attempts = j.attempts + ${started} + case when ${dying} or $5::uuid is not null then 0 else 1 end,
            -- A job that goes dead here holds no lease: it is in no one's hands.
            lease_owner = case when ${dying} then null else $3 end,
            lease_token = case when ${dying} then null else (select gen_random_uuid()) end,
            lease_expires_at = case when ${dying} then null else now() + $4::int * interval '1 millisecond' end,
            reserved_by = case when ${dying} then null else $5::uuid end,
            reserved_batch = case when ${dying} then null else $6::bigint end,
            taken_back = j.status = 'running',
            updated_at = now()
`;
}

/** Jobs whose worker lost its lease, first: behind a steady backlog they would wait forever. */
function expiredJobs(context: StoreContext, paused: string): string {
  const t = `${context.q}.jobs`;
  return `         select id from (
           select id from ${t} x
            where queue = $1 and status = 'running' and lease_expires_at < now()
              and not ${startLeaseHeld(context, "x")} and ${paused}
            order by lease_expires_at
            limit $2 for update skip locked) expired
`;
}

/** The first ready jobs without a group, by priority, up to `limit` (an expression). */
function readyJobs(context: StoreContext, paused: string, limit: string): string {
  return `select id from (
           select id from ${context.q}.jobs
            where queue = $1 and status = 'waiting' and group_name is null and run_at <= now() and ${paused}
            order by priority desc, run_at, id
            limit ${limit} for update skip locked) ready`;
}

const ORDER = "order by c.priority desc, c.run_at_us, c.id";

/** The claim's counts when it is a claim by hand (`counted`): see countClaimed. */
function counts(context: StoreContext, counted: boolean): string {
  return counted ? `,\n     ${countClaimed(context)}` : "";
}

/**
 * True when queue $1 has groups or limits. The first group of the queue in its key's order, not EXISTS
 * (which drops the order, and on a fresh store's empty table was planned as a scan of it).
 */
function hasGroups(context: StoreContext): string {
  const { q } = context;
  return `(select g.name from ${q}.job_groups g where g.queue = $1 order by g.queue, g.name limit 1) is not null
              or exists (select 1 from ${q}.queue_limits l where l.queue = $1)`;
}

/** The plain claim's UPDATE, taking nothing from a queue with groups or limits. */
function plainUpdate(context: StoreContext, relaxed: boolean): string {
  const paused = notPaused(context, "$1");
  return `${leaseUpdate(context)}       ${relaxed ? "from relaxed_commit " : ""}where not (select yes from grouped) and j.id in (
         ${expiredJobs(context, paused)}         union all
         ${readyJobs(context, paused, "$2")}
         -- The branches run in order and a row is locked only when pulled, so ready jobs are locked
         -- only as far as the batch has room. (As IN, not as a join with a CTE of candidates: with
         -- four claimers at a time, that form managed about 70% of this one's throughput.)
         limit $2)
     returning ${CLAIMED_COLUMNS}`;
}

/** The claim by hand of a queue without groups or limits: it counts what it did (see countClaimed). */
export function plainClaim(context: StoreContext, relaxed: boolean): string {
  return `with ${relaxed ? `${RELAXED_COMMIT}, ` : ""}grouped as materialized (select ${hasGroups(context)} as yes),
     claimed as (
     ${plainUpdate(context, relaxed)})${counts(context, true)}
     -- UPDATE ... RETURNING keeps no order: the jobs go out in the order they were chosen. Jobs that
     -- went dead come too, for the claiming worker's counts; they are no one's to run.
     select c.*, g.yes as grouped, false as more from grouped g left join claimed c on true ${ORDER}`;
}

/**
 * plainClaim for a worker (which counts its own runs): the UPDATE's rows as they come, in no order, and
 * none at all from a queue with groups or limits, which the caller then asks hasGroupsQuery about.
 * Without the CTE that plainClaim's answer is built from (its rows kept, joined, sorted), the claim
 * costs the server about a third less per job; the worker puts the rows in claim order itself.
 */
export function workerClaim(context: StoreContext, relaxed: boolean): string {
  return `with ${relaxed ? `${RELAXED_COMMIT}, ` : ""}grouped as materialized (select ${hasGroups(context)} as yes)
     ${plainUpdate(context, relaxed)}`;
}

/** Whether queue $1 has groups or limits (after a workerClaim that took nothing). */
export function hasGroupsQuery(context: StoreContext): string {
  return `select ${hasGroups(context)} as yes`;
}

export function groupedClaim(context: StoreContext, relaxed: boolean, counted: boolean): string {
  const { q } = context;
  const t = `${q}.jobs`;
  const paused = notPaused(context, "$1");
  return `with ${relaxed ? `${RELAXED_COMMIT}, ` : ""}rate as materialized (
       -- A rate-limited queue's window, locked: claims at once take from it one after the other.
       select l.rate_limit, l.window_taken,
              l.window_started_at is null
                or l.window_started_at <= now() - l.rate_period_ms * interval '1 millisecond' as new_window
         from ${q}.queue_limits l where l.queue = $1 and l.rate_limit is not null for update),
     allowed as materialized (
       select least($2::int, coalesce((select case when new_window then rate_limit
                                                   else greatest(rate_limit - window_taken, 0) end from rate),
                                      $2::int)) as n),
     queue_limit as materialized (
       -- The queue's own limits, read once for all its groups.
       select l.group_concurrency, l.strict_order from ${q}.queue_limits l where l.queue = $1),
     locked as materialized (
       -- The groups whose turn it is: ready ones, least recently served first, and ones woken since a
       -- claim found them empty. Locked: two claims never serve one group at once. (No key update:
       -- an enqueue holding the group's row for key share, see groupsOf, does not keep it from a claim.)
       -- A group held by its first job's retry or snooze (strict order, migration 0032) waits it out.
       select * from (
         select g.name, g.concurrency, g.turn from ${q}.job_groups g
          where g.queue = $1 and g.ready and (select n from allowed) > 0 and ${paused} and ${NOT_HELD}
          order by g.served_at, g.name limit $2 for no key update skip locked) ready
       union all
       select * from (
         -- From the wake-ups, each a probe of job_groups: the groups that are not ready are most of
         -- them (each that ever ran dry).
         -- The names as an array: as a join, the planner read every group of the queue for them.
         -- In strict order a held group's wake-up waits out the hold, and the others are taken past it.
         select g.name, g.concurrency, g.turn from ${q}.job_groups g
          where g.queue = $1
            and g.name = any(array(
              select distinct w.name from ${q}.job_group_wakeups w
               where w.queue = $1
                 and case when (select strict_order from queue_limit)
                          then coalesce((select h.held_until <= now() from ${q}.job_groups h
                                          where h.queue = $1 and h.name = w.name), true)
                          else true end
               limit $2))
            and not g.ready and (select n from allowed) > 0 and ${paused} and ${NOT_HELD}
          for no key update skip locked) woken),
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
         -- In strict order a group runs one job at a time.
         cross join lateral (
           select case when (select strict_order from queue_limit) then 1
                       else coalesce(t.concurrency, (select group_concurrency from queue_limit)) end as n) lim
         cross join lateral (
           select case when lim.n is null then ${UNLIMITED}
                       else greatest(lim.n - (select count(*)::int from ${t} r
                                               where r.queue = $1 and r.group_name = t.name and r.status = 'running'), 0)
                  end as n) room),
     claimed as (
     ${leaseUpdate(context)}       ${relaxed ? "from relaxed_commit " : ""}where j.id in (
         ${expiredJobs(context, paused)}         union all
         ${readyJobs(context, paused, "(select n from share)")}
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
              ) as more)${counts(context, counted)}
     -- UPDATE ... RETURNING keeps no order: the jobs go out in the order they were chosen. Jobs that
     -- went dead come too, for the claiming worker's counts; they are no one's to run. A claim that took
     -- nothing is one row of nulls, which carries \`more\`.
     select c.*, true as grouped, m.more from summary m left join claimed c on true ${ORDER}`;
}
