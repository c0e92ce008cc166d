-- Workflow state: definitions, executions, their task trees, per-component state and correlation keys.
--
-- Citus: definitions would be a reference table; every other table carries execution_id, the
-- distribution column, and its foreign key to executions stays inside one execution (co-located).
-- No foreign key points from one execution to another (parent_execution_id, parent_task_id and
-- tasks.parent_id are plain columns). Two unique keys do not include execution_id and would move to
-- their own tables on Citus: executions.idempotency_key and the tasks primary key.
--
-- Foreign keys kept: executions -> definitions (a reference table), and tasks, component_state and
-- correlations -> executions with on delete cascade, so deleting a finished run (retention) removes
-- everything it owns, and a row can never name a run that does not exist.

create table :SCHEMA.definitions (
  id uuid primary key,
  name text not null,
  version integer not null check (version > 0),
  definition jsonb not null,
  status text not null default 'draft' check (status in ('draft', 'active', 'deprecated', 'archived')),
  deployed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint definitions_name_version unique (name, version)
);
-- find(name) with no version: the newest active version, one index probe.
create index definitions_active on :SCHEMA.definitions (name, version desc) where status = 'active';
create index definitions_body on :SCHEMA.definitions using gin (definition jsonb_path_ops);

-- fillfactor leaves room on each page so an update that changes no indexed column stays HOT.
create table :SCHEMA.executions (
  id uuid primary key,
  definition_id uuid not null references :SCHEMA.definitions (id),
  status text not null check (
    status in ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled', 'timed_out')
  ),
  input jsonb,
  output jsonb,
  error jsonb,
  state jsonb,
  metadata jsonb not null default '{}',
  idempotency_key text,
  parent_execution_id uuid,
  parent_task_id uuid,
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz
) with (fillfactor = 90);
create unique index executions_idempotency_key on :SCHEMA.executions (idempotency_key)
  where idempotency_key is not null;
-- Lists are ordered by (created_at, id) for keyset pagination; each filter gets that order as its tail.
create index executions_created on :SCHEMA.executions (created_at, id);
create index executions_status on :SCHEMA.executions (status, created_at, id);
create index executions_definition on :SCHEMA.executions (definition_id, created_at, id);
create index executions_parent on :SCHEMA.executions (parent_execution_id, created_at, id)
  where parent_execution_id is not null;
create index executions_metadata on :SCHEMA.executions using gin (metadata jsonb_path_ops);
-- No index on updated_at: it changes on every write and would make every update non-HOT; an
-- updated range is applied on top of another filter.

create table :SCHEMA.tasks (
  task_exec_id uuid primary key,
  task_id text not null,
  execution_id uuid not null references :SCHEMA.executions (id) on delete cascade,
  workflow_id text,
  status text not null check (
    status in ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled', 'timed_out')
  ),
  execution_type text not null default 'basic',
  parent_id uuid,
  agent_id text,
  tool_id text,
  input jsonb,
  output jsonb,
  error jsonb,
  attempt integer not null default 1,
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
) with (fillfactor = 90);
create index tasks_execution_status on :SCHEMA.tasks (execution_id, status);
-- Serves listChildren, getChild, childOutputs, progress and each step of tree().
create index tasks_parent on :SCHEMA.tasks (parent_id, task_id) where parent_id is not null;
create index tasks_agent on :SCHEMA.tasks (agent_id) where agent_id is not null;
create index tasks_tool on :SCHEMA.tasks (tool_id) where tool_id is not null;

create table :SCHEMA.component_state (
  execution_id uuid not null references :SCHEMA.executions (id) on delete cascade,
  component_id text not null,
  state jsonb not null,
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (execution_id, component_id)
);

create table :SCHEMA.correlations (
  key text not null,
  execution_id uuid not null references :SCHEMA.executions (id) on delete cascade,
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (key, execution_id)
);
create index correlations_execution on :SCHEMA.correlations (execution_id);
