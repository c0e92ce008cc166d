-- 0026_schedules
-- Cron schedules (schedules.set): each enqueues a job per tick of its cron expression in its time zone.
-- next_run_at is the schedule's next tick; a dispatcher locks the due rows (for update skip locked),
-- enqueues their jobs and moves next_run_at on in one transaction, so a tick is enqueued once
-- whichever processes dispatch. The job's options and payload are kept as given, checked.
create table :SCHEMA.schedules (
  name text primary key,
  cron text not null,
  time_zone text not null,
  queue text not null,
  job_name text not null,
  payload jsonb not null default '{}',
  -- priority, maxAttempts, backoff: what each job is enqueued with.
  job_options jsonb not null default '{}',
  missed text not null check (missed in ('skip', 'backfill')),
  backfill_limit integer not null check (backfill_limit >= 1),
  next_run_at timestamptz not null,
  -- The latest tick enqueued, and when.
  last_run_at timestamptz,
  last_dispatched_at timestamptz,
  paused_at timestamptz,
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- The due schedules, soonest first: the dispatcher's claim and its wait for the next tick.
create index schedules_due on :SCHEMA.schedules (next_run_at) where paused_at is null;
