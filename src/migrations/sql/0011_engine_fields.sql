-- 0011_engine_fields
-- What engines built on the store need from its existing tables.

-- An execution names its workflow. Engines that keep no definitions table start runs by name alone,
-- so definition_id may be null; a run of a registered definition carries the definition's name too,
-- which lets one index serve the list of a workflow's runs whether it is registered or not.
alter table :SCHEMA.executions alter column definition_id drop not null;
alter table :SCHEMA.executions add column name text;
update :SCHEMA.executions e set name = d.name from :SCHEMA.definitions d where d.id = e.definition_id;
alter table :SCHEMA.executions alter column name set not null;
create index executions_name on :SCHEMA.executions (name, created_at, id);

-- When a task started, finished and is to be tried again, as the engine says. Not indexed: an update
-- that sets them stays HOT.
alter table :SCHEMA.tasks
  add column started_at timestamptz,
  add column completed_at timestamptz,
  add column retry_at timestamptz;

-- A kv entry may belong to an owner (an execution's id, or any key of the caller's): retention deletes
-- an execution's entries with it, and deleteByOwner those of any owner, through this index.
alter table :SCHEMA.kv add column owner text collate "C";
create index kv_owner on :SCHEMA.kv (owner) where owner is not null;
