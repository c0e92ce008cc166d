-- 0031_job_dependencies
-- Jobs that run after others (enqueue option `after`, queue/enqueue/dependents.ts).
--
-- A job enqueued after jobs still in the queue waits as 'pending': outside the ready, scheduled and
-- lease indexes, so however many wait, no claim reads one. waiting_for counts its dependencies still
-- in the queue. Each dependency's row is marked has_dependents, and job_dependencies holds the edges
-- (dependency, dependent). When a dependency leaves the queue, triggers act on its dependents, in the
-- statement that takes it out, whichever statement that is:
-- - completed (deleted while running): each dependent counts one less; at none it joins the queue
--   (waiting, or scheduled while its run time is ahead), and the workers of its queue are woken;
-- - dead: its pending dependents go dead too, their error naming it (and so on down the line);
-- - cancelled or removed (deleted while not running, or by a transaction that set flowstore.removing,
--   as cancel and retention do: see removeJobs in admin.ts): its pending dependents are cancelled too
--   (and so on down the line).
-- The edges of a dependency go with it. Jobs without dependents pay the triggers' WHEN tests only.
--
-- Two completions that settle the same dependents in opposite orders can deadlock; the worker's
-- completion is retried then, as after any deadlock.
--
-- No cycle can form: a job names only jobs enqueued before it (or earlier in its own batch), and its
-- dependencies are fixed when it is enqueued.

alter table :SCHEMA.jobs drop constraint jobs_status_check;
alter table :SCHEMA.jobs add constraint jobs_status_check
  check (status in ('waiting', 'scheduled', 'running', 'dead', 'blocked', 'pending'));

-- How many of the job's dependencies have not completed yet (0 once it may run).
alter table :SCHEMA.jobs add column waiting_for integer not null default 0;
-- Set on a job when a job is enqueued after it, and never cleared: a mark whose dependents were
-- cancelled costs one index probe when the job ends.
alter table :SCHEMA.jobs add column has_dependents boolean not null default false;

create table :SCHEMA.job_dependencies (
  after_id uuid not null,
  job_id uuid not null,
  primary key (after_id, job_id)
);
-- A dependent's own edges, deleted with it when it goes dead or is cancelled before its dependencies
-- end (so that none is left to count down a later job given its id).
create index job_dependencies_job on :SCHEMA.job_dependencies (job_id);

-- The queues with pending jobs and their counts, for jobs.stats() (as the other statuses have).
create index jobs_pending on :SCHEMA.jobs (queue, id) where status = 'pending';

create function :SCHEMA.jobs_settle_dependents() returns trigger language plpgsql as $settle$
declare
  channel text := 'flowstore_jobs_' || left(encode(sha256(convert_to(tg_table_schema, 'UTF8')), 'hex'), 16);
  woken text;
begin
  if tg_op = 'UPDATE' then
    -- Went dead: so do its pending dependents (whose own dependents this trigger reaches in turn).
    with edges as (delete from :SCHEMA.job_dependencies where after_id = old.id returning job_id),
    failed as (
      update :SCHEMA.jobs j
         set status = 'dead', waiting_for = 0, updated_at = now(),
             last_error = jsonb_build_object('message', format('job %s, which it runs after, went dead', old.id),
                                             'dependency', old.id)
        from edges e
       where j.id = e.job_id and j.status = 'pending'
      returning j.id, j.queue),
    -- Their edges to their other dependencies go with them.
    unlinked as (delete from :SCHEMA.job_dependencies d using failed f where d.job_id = f.id)
    insert into :SCHEMA.queue_total_additions (queue, name, n)
    select queue, 'dead', count(*) from failed group by queue;
  elsif old.status = 'running' and coalesce(current_setting('flowstore.removing', true), '') <> 'on' then
    -- Completed: its dependents count one less, and those with none left join the queue.
    with edges as (delete from :SCHEMA.job_dependencies where after_id = old.id returning job_id),
    settled as (
      update :SCHEMA.jobs j
         set waiting_for = j.waiting_for - 1, updated_at = now(),
             status = case when j.waiting_for > 1 then 'pending'
                           when j.run_at > now() then 'scheduled' else 'waiting' end
        from edges e
       where j.id = e.job_id and j.status = 'pending'
      returning j.queue, j.status)
    select json_agg(distinct queue)::text into woken from settled where status = 'waiting';
    if woken is not null then
      perform pg_notify(channel, case when octet_length(woken) < 7000 then woken else '' end);
    end if;
  else
    -- Cancelled or removed before it ran: so are its pending dependents.
    with edges as (delete from :SCHEMA.job_dependencies where after_id = old.id returning job_id),
    gone as (delete from :SCHEMA.jobs j using edges e where j.id = e.job_id and j.status = 'pending' returning j.id)
    -- Their edges to their other dependencies go with them.
    delete from :SCHEMA.job_dependencies d using gone g where d.job_id = g.id;
  end if;
  return null;
end
$settle$;

create trigger jobs_dependents_after_delete after delete on :SCHEMA.jobs for each row
  when (old.has_dependents and old.status <> 'dead')
  execute function :SCHEMA.jobs_settle_dependents();

create trigger jobs_dependents_after_dead after update of status on :SCHEMA.jobs for each row
  when (old.has_dependents and old.status <> 'dead' and new.status = 'dead')
  execute function :SCHEMA.jobs_settle_dependents();
