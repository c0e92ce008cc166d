-- 0033_execution_forks
-- Fork and rewind a run at a step (src/executions/cut.ts, fork.ts, rewind.ts).
--
-- A run made by executions.fork names the run it was forked from and the step it runs again from; both
-- are null for every other run. Plain columns, no foreign key: on Citus the two runs sit on different
-- shards, and the source may be pruned before its fork.
alter table :SCHEMA.executions add column fork_of uuid, add column fork_step integer;

-- The order in which the database recorded a run's rows, across its tables: each row inserted into
-- one of them takes the next number of one sequence, so what came before step N's row and what came
-- after it is exact, where the clock ties (PGlite's counts whole milliseconds; a transaction's now()
-- is shared by all its rows). Within a run the numbers follow the order of the inserts, and a history's
-- events follow their sequence (taken after the head's lock). A default, so that no statement that
-- inserts changes; a number costs one nextval, which PostgreSQL hands out without a lock.
--
-- A token taken over by another run is a new holding: the claim gives it a new number (signals.ts).
--
-- Set as a default after the column is added, so existing rows keep a null (no table is rewritten):
-- cut.ts orders those before every numbered row, and among themselves by their times.
--
-- Not on Citus (its extension installed when this runs): there a default from a sequence makes Citus
-- refuse the statements that insert tasks while locking their run (`could not run distributed query
-- with FOR UPDATE/SHARE commands`). Fork and rewind are refused on Citus, and nothing else reads the
-- numbers, so its columns stay null (docs/scale-out.md).
create sequence :SCHEMA.record_order as bigint;
alter table :SCHEMA.steps add column recorded bigint;
alter table :SCHEMA.events add column recorded bigint;
alter table :SCHEMA.tasks add column recorded bigint;
alter table :SCHEMA.streams add column recorded bigint;
-- A stream is closed by an update of its row: when, in the same order, is kept beside closed_at.
alter table :SCHEMA.streams add column closed_recorded bigint;
alter table :SCHEMA.stream_chunks add column recorded bigint;
alter table :SCHEMA.signals add column recorded bigint;
do $$
begin
  if not exists (select 1 from pg_extension where extname = 'citus') then
    alter table :SCHEMA.steps alter column recorded set default nextval(':SCHEMA.record_order');
    alter table :SCHEMA.events alter column recorded set default nextval(':SCHEMA.record_order');
    alter table :SCHEMA.tasks alter column recorded set default nextval(':SCHEMA.record_order');
    alter table :SCHEMA.streams alter column recorded set default nextval(':SCHEMA.record_order');
    alter table :SCHEMA.stream_chunks alter column recorded set default nextval(':SCHEMA.record_order');
    alter table :SCHEMA.signals alter column recorded set default nextval(':SCHEMA.record_order');
  end if;
end
$$;
