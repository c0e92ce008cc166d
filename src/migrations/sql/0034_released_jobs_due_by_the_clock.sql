-- 0034_released_jobs_due_by_the_clock
-- A job released by the job it waited for (a dependent whose last dependency completes, 0031; a keyed
-- job's successor whose holder leaves, 0013) joins the queue as scheduled only if its run time is still
-- ahead of the clock, not of the releasing transaction's start (now()). That transaction may have begun
-- before the released job was enqueued: a transactional handler's, or a completion that waited for the
-- enqueue's lock on the job it completes. The released job's run time, its enqueue's now(), is then
-- later than the release's now() though it has come. Counted as ahead, the job went scheduled, no
-- worker was woken, and it waited for a worker's next poll. The functions are 0031's and 0013's
-- otherwise.

create or replace function :SCHEMA.jobs_settle_dependents() returns trigger language plpgsql as $settle$
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
                           when j.run_at > clock_timestamp() then 'scheduled' else 'waiting' end
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

create or replace function :SCHEMA.jobs_release_successor() returns trigger language plpgsql as $release$
declare
  released text;
begin
  update :SCHEMA.jobs s
     set status = case when s.run_at > clock_timestamp() then 'scheduled' else 'waiting' end, updated_at = now()
   where s.queue = old.queue and s.key = old.key and s.status = 'blocked'
  returning s.status into released;
  -- Wakes the queue's workers at commit, as an enqueue does (the channel is the schema's, see wake.ts).
  if released = 'waiting' then
    perform pg_notify('flowstore_jobs_' || left(encode(sha256(convert_to(tg_table_schema, 'UTF8')), 'hex'), 16),
                      json_build_array(old.queue)::text);
  end if;
  return null;
end
$release$;
