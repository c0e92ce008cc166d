-- 0013_jobs_unique_states
-- A keyed job may have one successor. Enqueued with whileRunning: 'after' while the job holding the key
-- runs, it waits as 'blocked': outside the ready, scheduled and lease indexes, so no claim ever reads
-- it. It joins the queue (waiting, or scheduled when its run_at is ahead) in the very statement that
-- makes its holder leave for good: completed, cancelled or pruned (deleted), or dead. A failure that
-- will be retried keeps the holder, so its retry runs first and the successor still waits. jobs_key
-- keeps at most one holder per key waiting, scheduled or running, so a key never has two jobs running.
--
-- Triggers do the release, so every way out of the queue releases, whichever statement takes it. They
-- fire only for a holder marked has_successor (by the enqueue that made its successor): any other job
-- pays the trigger's WHEN test and nothing more.

alter table :SCHEMA.jobs drop constraint jobs_status_check;
alter table :SCHEMA.jobs add constraint jobs_status_check
  check (status in ('waiting', 'scheduled', 'running', 'dead', 'blocked'));

-- Set on the holder when a successor is enqueued behind it, and never cleared: a mark whose successor
-- was cancelled costs one index lookup when the holder ends.
alter table :SCHEMA.jobs add column has_successor boolean not null default false;

-- At most one successor per key.
create unique index jobs_key_successor on :SCHEMA.jobs (queue, key)
  where key is not null and status = 'blocked';

create function :SCHEMA.jobs_release_successor() returns trigger language plpgsql as $release$
declare
  released text;
begin
  update :SCHEMA.jobs s
     set status = case when s.run_at > now() then 'scheduled' else 'waiting' end, updated_at = now()
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

create trigger jobs_successor_after_delete after delete on :SCHEMA.jobs for each row
  when (old.has_successor and old.status in ('waiting', 'scheduled', 'running'))
  execute function :SCHEMA.jobs_release_successor();

create trigger jobs_successor_after_dead after update of status on :SCHEMA.jobs for each row
  when (old.has_successor and old.status in ('waiting', 'scheduled', 'running') and new.status = 'dead')
  execute function :SCHEMA.jobs_release_successor();
