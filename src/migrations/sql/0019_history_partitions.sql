-- 0019_history_partitions
-- The tables that grow with history are partitioned by time, so that retention drops a partition whole
-- instead of deleting its rows one by one (no dead tuples, no index bloat, next to no WAL).
--
-- The time is in the ids: a UUIDv7 starts with its Unix milliseconds, so a range of ids is a range of
-- time, and each table is partitioned by range of the id of the execution its rows belong to
-- (executions by id, jobs_history by the job's id). Everything a run owns sits in the partitions of one
-- range, its primary keys are unchanged (they all lead with or hold that id), and a read by execution id
-- is pruned to one partition.
--
-- Partitions: one per range of time listed in history_partitions, created ahead by the store (src/
-- partitions), plus a default partition per table for the ids no range covers: ids that are not
-- UUIDv7 (their first bits are not a time), ranges not created yet, and the runs that were still going
-- when their range was dropped (moved there first, so a long-running run is never lost).
--
-- The tables of a store migrated here become the first range's partitions (`_legacy`), from the
-- lowest id up to the start of the next day (UTC): attached where they are, not copied, so migrating a
-- large store reads its history once (to check the bounds and the foreign keys) and writes next to
-- nothing. Rows with ids above that bound (not UUIDv7, or from a clock ahead) move to the default.
--
-- Citus: each parent is distributed as the table was (the partition key need not be the distribution
-- column); history_partitions stays on the coordinator.

-- The lowest UUID of a millisecond: the bound of a range of UUIDv7 ids that starts then.
create function :SCHEMA.uuid_floor(at timestamptz) returns uuid
language sql immutable parallel safe as $$
  select (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-0000-0000-000000000000')::uuid
  from (
    select lpad(to_hex(least(greatest(floor(extract(epoch from at) * 1000), 0), 281474976710655)::bigint), 12, '0') as h
  ) as hex
$$;

-- The ranges of time with a partition in each partitioned table, named by the suffix of their
-- partitions' names. The first, legacy, starts at the lowest id (-infinity). `days` is the length the
-- store was set to make ranges of when it made the range (null for the first): the next range is as
-- long unless the store is opened with another length, so every process makes ranges alike.
create table :SCHEMA.history_partitions (
  name text collate "C" primary key,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  days integer check (days between 1 and 366),
  created_at timestamptz not null default now(),
  check (starts_at < ends_at)
);
create unique index history_partitions_starts on :SCHEMA.history_partitions (starts_at);
insert into :SCHEMA.history_partitions (name, starts_at, ends_at)
values ('legacy', '-infinity', date_trunc('day', now(), 'UTC') + interval '1 day');

-- The foreign keys to executions go first: they name the table that becomes a partition. Each comes
-- back on the partitioned tables below.
alter table :SCHEMA.tasks drop constraint tasks_execution_id_fkey;
alter table :SCHEMA.component_state drop constraint component_state_execution_id_fkey;
alter table :SCHEMA.correlations drop constraint correlations_execution_id_fkey;
alter table :SCHEMA.event_heads drop constraint event_heads_execution_id_fkey;
alter table :SCHEMA.events drop constraint events_execution_id_fkey;
alter table :SCHEMA.executions drop constraint executions_definition_id_fkey;

-- The tables as they were become <name>_legacy, their keys and indexes renamed out of the way of the
-- partitioned tables' (the names are the schema's, not the table's).
alter table :SCHEMA.executions rename to executions_legacy;
alter table :SCHEMA.executions_legacy rename constraint executions_pkey to executions_legacy_pkey;
alter index :SCHEMA.executions_created rename to executions_legacy_created;
alter index :SCHEMA.executions_status rename to executions_legacy_status;
alter index :SCHEMA.executions_definition rename to executions_legacy_definition;
alter index :SCHEMA.executions_parent rename to executions_legacy_parent;
alter index :SCHEMA.executions_metadata rename to executions_legacy_metadata;
alter index :SCHEMA.executions_finished rename to executions_legacy_finished;
alter index :SCHEMA.executions_name rename to executions_legacy_name;
alter table :SCHEMA.tasks rename to tasks_legacy;
alter table :SCHEMA.tasks_legacy rename constraint tasks_pkey to tasks_legacy_pkey;
alter index :SCHEMA.tasks_execution_status rename to tasks_legacy_execution_status;
alter index :SCHEMA.tasks_parent rename to tasks_legacy_parent;
alter index :SCHEMA.tasks_agent rename to tasks_legacy_agent;
alter index :SCHEMA.tasks_tool rename to tasks_legacy_tool;
alter table :SCHEMA.component_state rename to component_state_legacy;
alter table :SCHEMA.component_state_legacy rename constraint component_state_pkey to component_state_legacy_pkey;
alter table :SCHEMA.event_heads rename to event_heads_legacy;
alter table :SCHEMA.event_heads_legacy rename constraint event_heads_pkey to event_heads_legacy_pkey;
alter table :SCHEMA.events rename to events_legacy;
alter table :SCHEMA.events_legacy rename constraint events_pkey to events_legacy_pkey;
alter index :SCHEMA.events_correlation rename to events_legacy_correlation;
alter table :SCHEMA.steps rename to steps_legacy;
alter table :SCHEMA.steps_legacy rename constraint steps_pkey to steps_legacy_pkey;
alter table :SCHEMA.streams rename to streams_legacy;
alter table :SCHEMA.streams_legacy rename constraint streams_pkey to streams_legacy_pkey;
alter table :SCHEMA.stream_chunks rename to stream_chunks_legacy;
alter table :SCHEMA.stream_chunks_legacy rename constraint stream_chunks_pkey to stream_chunks_legacy_pkey;
alter table :SCHEMA.jobs_history rename to jobs_history_legacy;
alter table :SCHEMA.jobs_history_legacy rename constraint jobs_history_pkey to jobs_history_legacy_pkey;
alter index :SCHEMA.jobs_history_completed rename to jobs_history_legacy_completed;
alter index :SCHEMA.jobs_history_execution rename to jobs_history_legacy_execution;

-- The partitioned tables: the same columns in the same order, keys, checks and indexes. The checks are
-- named as the tables' were (a name is chosen unique in the schema), so the partitions attached below
-- keep theirs. A partitioned table has no storage of its own, so the fill factors are set on each
-- partition (src/partitions).
create table :SCHEMA.executions (
  id uuid not null,
  definition_id uuid,
  status text not null constraint executions_status_check check (
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
  completed_at timestamptz,
  name text not null,
  primary key (id)
) partition by range (id);
create index executions_created on :SCHEMA.executions (created_at, id);
create index executions_status on :SCHEMA.executions (status, created_at, id);
create index executions_definition on :SCHEMA.executions (definition_id, created_at, id);
create index executions_parent on :SCHEMA.executions (parent_execution_id, created_at, id)
  where parent_execution_id is not null;
create index executions_metadata on :SCHEMA.executions using gin (metadata jsonb_path_ops);
create index executions_finished on :SCHEMA.executions (completed_at) where completed_at is not null;
create index executions_name on :SCHEMA.executions (name, created_at, id);

create table :SCHEMA.tasks (
  task_exec_id uuid not null,
  task_id text not null,
  execution_id uuid not null,
  workflow_id text,
  status text not null constraint tasks_status_check check (
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
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  retry_at timestamptz,
  primary key (task_exec_id, execution_id)
) partition by range (execution_id);
create index tasks_execution_status on :SCHEMA.tasks (execution_id, status);
create index tasks_parent on :SCHEMA.tasks (parent_id, task_id) where parent_id is not null;
create index tasks_agent on :SCHEMA.tasks (agent_id) where agent_id is not null;
create index tasks_tool on :SCHEMA.tasks (tool_id) where tool_id is not null;

create table :SCHEMA.component_state (
  execution_id uuid not null,
  component_id text not null,
  state jsonb not null,
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (execution_id, component_id)
) partition by range (execution_id);

create table :SCHEMA.event_heads (
  execution_id uuid not null,
  last_seq bigint not null constraint event_heads_last_seq_check check (last_seq >= 0),
  primary key (execution_id)
) partition by range (execution_id);

create table :SCHEMA.events (
  execution_id uuid not null,
  seq bigint not null,
  type text not null,
  payload jsonb,
  payload_bytes bytea,
  correlation_id text,
  created_at timestamptz not null default clock_timestamp(),
  primary key (execution_id, seq),
  constraint events_check check (payload is null or payload_bytes is null),
  constraint events_seq_check check (seq > 0)
) partition by range (execution_id);
create index events_correlation on :SCHEMA.events (correlation_id, created_at, execution_id, seq)
  where correlation_id is not null;

create table :SCHEMA.steps (
  execution_id uuid not null,
  step_number integer not null,
  name text not null,
  output jsonb,
  output_bytes bytea,
  error jsonb,
  created_at timestamptz not null default now(),
  primary key (execution_id, step_number),
  constraint steps_check check (output is null or output_bytes is null),
  constraint steps_step_number_check check (step_number >= 0)
) partition by range (execution_id);

create table :SCHEMA.streams (
  execution_id uuid not null,
  name text not null,
  next_index integer not null default 0,
  closed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (execution_id, name)
) partition by range (execution_id);

create table :SCHEMA.stream_chunks (
  execution_id uuid not null,
  stream text not null,
  chunk_index integer not null,
  data jsonb,
  bytes bytea,
  created_at timestamptz not null default now(),
  primary key (execution_id, stream, chunk_index),
  constraint stream_chunks_check check ((data is null) <> (bytes is null)),
  constraint stream_chunks_chunk_index_check check (chunk_index >= 0)
) partition by range (execution_id);

create table :SCHEMA.jobs_history (
  id uuid not null,
  queue text not null,
  name text not null,
  payload jsonb not null,
  priority integer not null,
  attempts integer not null,
  key text,
  execution_id uuid,
  created_at timestamptz not null,
  completed_at timestamptz not null default now(),
  primary key (id)
) partition by range (id);
create index jobs_history_completed on :SCHEMA.jobs_history (completed_at);
create index jobs_history_execution on :SCHEMA.jobs_history (execution_id) where execution_id is not null;

create table :SCHEMA.executions_default partition of :SCHEMA.executions default with (fillfactor = 90);
create table :SCHEMA.tasks_default partition of :SCHEMA.tasks default with (fillfactor = 90);
create table :SCHEMA.component_state_default partition of :SCHEMA.component_state default;
create table :SCHEMA.event_heads_default partition of :SCHEMA.event_heads default;
create table :SCHEMA.events_default partition of :SCHEMA.events default;
create table :SCHEMA.steps_default partition of :SCHEMA.steps default;
create table :SCHEMA.streams_default partition of :SCHEMA.streams default with (fillfactor = 70);
create table :SCHEMA.stream_chunks_default partition of :SCHEMA.stream_chunks default;
create table :SCHEMA.jobs_history_default partition of :SCHEMA.jobs_history default;

-- Rows above the first range's bound go to the default partitions (through the parents, which have
-- only those yet); the rest stay where they are and become the first range. The bound is the same in
-- every statement, as now() is the transaction's start throughout.
insert into :SCHEMA.executions select * from :SCHEMA.executions_legacy where id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.tasks select * from :SCHEMA.tasks_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.component_state select * from :SCHEMA.component_state_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.event_heads select * from :SCHEMA.event_heads_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.events select * from :SCHEMA.events_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.steps select * from :SCHEMA.steps_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.streams select * from :SCHEMA.streams_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.stream_chunks select * from :SCHEMA.stream_chunks_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
insert into :SCHEMA.jobs_history select * from :SCHEMA.jobs_history_legacy where id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.executions_legacy where id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.tasks_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.component_state_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.event_heads_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.events_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.steps_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.streams_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.stream_chunks_legacy where execution_id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');
delete from :SCHEMA.jobs_history_legacy where id >= :SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day');

alter table :SCHEMA.executions attach partition :SCHEMA.executions_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.tasks attach partition :SCHEMA.tasks_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.component_state attach partition :SCHEMA.component_state_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.event_heads attach partition :SCHEMA.event_heads_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.events attach partition :SCHEMA.events_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.steps attach partition :SCHEMA.steps_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.streams attach partition :SCHEMA.streams_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.stream_chunks attach partition :SCHEMA.stream_chunks_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));
alter table :SCHEMA.jobs_history attach partition :SCHEMA.jobs_history_legacy
  for values from (minvalue) to (:SCHEMA.uuid_floor(date_trunc('day', now(), 'UTC') + interval '1 day'));

-- The foreign keys, now on the partitioned tables (each partition gets its own, checked as it is added).
alter table :SCHEMA.executions
  add constraint executions_definition_id_fkey foreign key (definition_id) references :SCHEMA.definitions (id);
alter table :SCHEMA.tasks add constraint tasks_execution_id_fkey
  foreign key (execution_id) references :SCHEMA.executions (id) on delete cascade;
alter table :SCHEMA.component_state add constraint component_state_execution_id_fkey
  foreign key (execution_id) references :SCHEMA.executions (id) on delete cascade;
alter table :SCHEMA.correlations add constraint correlations_execution_id_fkey
  foreign key (execution_id) references :SCHEMA.executions (id) on delete cascade;
alter table :SCHEMA.event_heads add constraint event_heads_execution_id_fkey
  foreign key (execution_id) references :SCHEMA.executions (id) on delete cascade;
alter table :SCHEMA.events add constraint events_execution_id_fkey
  foreign key (execution_id) references :SCHEMA.executions (id) on delete cascade;
