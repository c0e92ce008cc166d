-- The job queue. Only waiting, running and dead jobs live here: a completed job is deleted (or moved to
-- jobs_history), so the table a claim scans stays the size of the work in hand, not of all history.
create table :SCHEMA.jobs (
  id uuid primary key,
  queue text not null,
  name text not null,
  payload jsonb not null default 'null',
  status text not null default 'waiting' check (status in ('waiting', 'running', 'dead')),
  priority integer not null default 0,
  run_at timestamptz not null default now(),
  attempts integer not null default 0,
  max_attempts integer not null default 25 check (max_attempts >= 1),
  backoff_base_ms integer not null default 1000,
  backoff_max_ms integer not null default 3600000,
  key text,
  execution_id uuid,
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  last_error jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
) with (fillfactor = 80);

-- The claim: filter (queue, waiting) and order (priority desc, run_at, id) from one partial index.
create index jobs_ready on :SCHEMA.jobs (queue, priority desc, run_at, id) where status = 'waiting';
-- Rescue of expired leases, in the same claim statement.
create index jobs_leased on :SCHEMA.jobs (queue, lease_expires_at) where status = 'running';
-- A dedupe key holds while its job is waiting or running; a dead or finished job frees it.
create unique index jobs_key on :SCHEMA.jobs (queue, key) where key is not null and status in ('waiting', 'running');
create index jobs_execution on :SCHEMA.jobs (execution_id) where execution_id is not null;
create index jobs_dead on :SCHEMA.jobs (queue, updated_at) where status = 'dead';

-- Completed jobs, kept only when a worker asks (keepCompleted); pruned by retention.
create table :SCHEMA.jobs_history (
  id uuid primary key,
  queue text not null,
  name text not null,
  payload jsonb not null,
  priority integer not null,
  attempts integer not null,
  key text,
  execution_id uuid,
  created_at timestamptz not null,
  completed_at timestamptz not null default now()
);
create index jobs_history_completed on :SCHEMA.jobs_history (completed_at);
create index jobs_history_execution on :SCHEMA.jobs_history (execution_id) where execution_id is not null;

-- Durable timers, apart from the queue: thousands of future timers cost the ready set nothing.
-- (execution, name) is unique, so scheduling again reschedules; a timer with no execution is keyed by
-- name alone.
create table :SCHEMA.timers (
  id uuid primary key,
  execution_id uuid,
  name text not null,
  fire_at timestamptz not null,
  payload jsonb not null default 'null',
  queue text not null default 'timers',
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index timers_execution_name on :SCHEMA.timers
  (coalesce(execution_id, '00000000-0000-0000-0000-000000000000'::uuid), name);
create index timers_due on :SCHEMA.timers (fire_at);
