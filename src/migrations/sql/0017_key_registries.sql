-- 0017_key_registries
-- The two keys of the execution group that were unique across executions no longer live in a table
-- keyed by execution, so that on Citus every such table can be distributed by execution_id (see
-- docs/scale-out.md, Keys that span executions). On one server each guarantee still costs one index, checked
-- by the statement that writes.
--
-- Idempotency keys move to a registry of their own: a row per key naming the run that holds it, its
-- primary key what makes a key unique. A start with a key inserts the key's row in the statement that
-- inserts the run (and inserts no run when the key is taken), an upsert that sets or changes a run's
-- key writes the registry in the statement that writes the run, and retention deletes a run's key with
-- the run. executions.idempotency_key stays as the run's own copy, which reads return; no read looks a
-- run up by it, so it has no index. No foreign key: on Citus the registry is distributed by the key, a
-- group of its own, and a key that crosses to the run's group can only be checked by these statements.
create table :SCHEMA.execution_keys (
  idempotency_key text collate "C" primary key,
  execution_id uuid not null
);
insert into :SCHEMA.execution_keys (idempotency_key, execution_id)
  select idempotency_key, id from :SCHEMA.executions where idempotency_key is not null;
drop index :SCHEMA.executions_idempotency_key;

-- signals is a registry by nature, a row per token, and is distributed by the token on Citus: its
-- foreign key to executions would cross groups, so it goes. What it gave is kept by the statements:
-- a claim inserts a row only for a live execution it locks as the key did, retention deletes a run's
-- signals before the run, and a token whose holder row is gone counts as free, as one whose holder
-- finished does (every read joins the holder; a claim takes such a token over).
alter table :SCHEMA.signals drop constraint signals_execution_id_fkey;
