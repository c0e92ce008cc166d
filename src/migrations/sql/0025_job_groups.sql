-- 0025_job_groups
-- Groups share a queue fairly, each within its concurrency limit; a queue may be rate limited.
--
-- A job may belong to a group (a tenant, a customer, an account: whatever the caller names). Ready jobs
-- without a group stay in jobs_ready, as before; grouped ones go to jobs_group_ready, ordered within
-- their group. A claim takes the groups whose turn it is from job_groups (least recently served
-- first, locked so that two claims never serve one group at once), then each one's first jobs within
-- its limit. So one tenant's hundred thousand jobs never stand before another's one job for more than a
-- claim, and a claim reads as many groups as it takes jobs, however many groups wait.
alter table :SCHEMA.jobs add column group_name text;

drop index :SCHEMA.jobs_ready;
create index jobs_ready on :SCHEMA.jobs (queue, priority desc, run_at, id)
  where status = 'waiting' and group_name is null;
create index jobs_group_ready on :SCHEMA.jobs (queue, group_name, priority desc, run_at, id)
  where status = 'waiting' and group_name is not null;
-- A group's running jobs, counted against its concurrency limit.
create index jobs_group_running on :SCHEMA.jobs (queue, group_name)
  where status = 'running' and group_name is not null;

-- A row per group that ever had a job. `ready`: it may have ready jobs (claims look at these); a claim
-- that takes a group's last ready job clears it. `served_at`: when a claim last took the group's turn
-- (a new group has had none, and goes first).
create table :SCHEMA.job_groups (
  queue text not null,
  name text not null,
  ready boolean not null default true,
  served_at timestamptz not null default '-infinity',
  -- Counts the claims that served the group. A claim locks the group's row as it stands now, but counts
  -- its running jobs as of the claim's start: a claim that finds the count grown since then (another
  -- claim served the group in between) leaves the group to the next claim.
  turn bigint not null default 0,
  -- Jobs of the group running at once, at most (null: the queue's groupConcurrency, if any).
  concurrency int check (concurrency > 0),
  primary key (queue, name)
);
create index job_groups_turns on :SCHEMA.job_groups (queue, served_at, name) where ready;

-- A group that may have ready jobs again: written by whatever makes a grouped job ready (an enqueue,
-- a retry, a release, a promotion), read and deleted by the claim that next serves the group. Insert
-- only, so nothing that makes jobs ready waits on a claim or on another writer: the claim that clears
-- `ready` cannot miss a job whose writer had not committed yet, since that writer's wake-up is not
-- committed either, and stays for a later claim.
create table :SCHEMA.job_group_wakeups (
  queue text not null,
  name text not null
);
create index job_group_wakeups_group on :SCHEMA.job_group_wakeups (queue, name);

-- A queue's limits: the default concurrency of its groups, and a rate (at most rate_limit jobs claimed
-- per rate_period_ms, over fixed windows counted in window_started_at and window_taken).
create table :SCHEMA.queue_limits (
  queue text primary key,
  group_concurrency int check (group_concurrency > 0),
  rate_limit int check (rate_limit > 0),
  rate_period_ms int check (rate_period_ms > 0),
  window_started_at timestamptz,
  window_taken int not null default 0,
  check ((rate_limit is null) = (rate_period_ms is null))
);

-- A grouped job that becomes ready by an update (a retry, a release, a snooze, the promotion of a
-- scheduled job, a successor released) wakes its group. Other jobs pay the WHEN test only.
create function :SCHEMA.jobs_wake_group() returns trigger language plpgsql as $wake$
begin
  insert into :SCHEMA.job_group_wakeups (queue, name) values (new.queue, new.group_name);
  return null;
end
$wake$;

create trigger jobs_group_ready after update of status on :SCHEMA.jobs for each row
  when (new.group_name is not null and new.status = 'waiting' and old.status <> 'waiting')
  execute function :SCHEMA.jobs_wake_group();
