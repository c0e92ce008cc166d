-- 0046_mastra_runs
-- Mastra's workflow runs in a table of their own (flowstore/mastra), no longer executions. A run's
-- snapshot is written after every step of every run: as an execution, each run made wrote its key
-- registry row, an entry in each of executions' indexes, its definition's reference check and its
-- count, and each status change an entry in every index again. Here a run made writes three index
-- entries and its count, and every later write of it (its status included, which no index holds) is
-- written in place (HOT), its page kept 30% free for that.
--
-- A run is its key (src/adapters/mastra/runs.ts, runKey: mastra:[runId, workflowName], so that every
-- run of an id shares a prefix), the id it was made with (the owner of its context rows and of its
-- entries in the blob store, under flowstore:offloaded/<id>/mastra/; a run made again under its key
-- gets a new one), its workflow, its resource, its state (the snapshot, big context entries aside), its
-- version (one more at each write) and its times. Lists page a workflow's runs, or all, newest first. The context's big entries are rows of
-- mastra_run_parts. Their counts (for listWorkflowRuns' total) are kept by triggers, per workflow and
-- slot as before.
create table :SCHEMA.mastra_runs (
  key text collate "C" primary key,
  id uuid not null,
  workflow_name text collate "C" not null,
  resource_id text collate "C",
  state jsonb not null,
  version bigint not null default 1,
  created_at timestamptz not null,
  updated_at timestamptz not null
) with (fillfactor = 70);
create index mastra_runs_workflow on :SCHEMA.mastra_runs (workflow_name, created_at, key);
create index mastra_runs_created on :SCHEMA.mastra_runs (created_at, key);

create table :SCHEMA.mastra_run_parts (
  run_id uuid not null,
  part_id text collate "C" not null,
  state jsonb not null,
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (run_id, part_id)
);

-- The counts of runs as executions (0044) go with their triggers (none on Citus); the runs' counts are
-- made again below.
do $$
begin
  if exists (select 1 from pg_trigger where tgrelid = ':SCHEMA.executions'::regclass and tgname = 'mastra_run_made') then
    drop trigger mastra_run_made on :SCHEMA.executions;
    drop trigger mastra_run_gone on :SCHEMA.executions;
  end if;
end
$$;
drop table :SCHEMA.mastra_run_counts;
drop function :SCHEMA.mastra_count_run();

-- The runs stored as executions move here, with their context rows; their blobs stay where they are
-- (their keys name the run's id, which the run keeps) but no longer name an execution, so that the
-- store's retention of executions, which takes the blobs of the executions it removes, never takes
-- them. Then the executions go (their rows of other tables with them), their keys and the definitions
-- that only named Mastra's workflows, each looked at alone (on Citus, a reference table's rows are
-- not deleted by a statement that reads the distributed executions). Mastra's runs are found by their
-- keys' range in the key registry: executions' own copy of the key has no index. Processes of an
-- earlier flowstore must be stopped first: they write Mastra's runs as executions.
do $$
declare
  mastra uuid;
begin
  if exists (select 1 from :SCHEMA.execution_keys
              where idempotency_key >= 'mastra:[' and idempotency_key < 'mastra:\') then
    insert into :SCHEMA.mastra_runs (key, id, workflow_name, resource_id, state, version, created_at, updated_at)
    select e.idempotency_key, e.id, e.name, e.metadata #>> '{mastra,resourceId}', coalesce(e.state, '{}'),
           e.version, e.created_at, e.updated_at
      from :SCHEMA.executions e
     where e.id in (select execution_id from :SCHEMA.execution_keys
                     where idempotency_key >= 'mastra:[' and idempotency_key < 'mastra:\')
       and left(e.idempotency_key, 8) = 'mastra:['
       and e.definition_id in (select id from :SCHEMA.definitions where definition @> '{"engine":"mastra"}');
    insert into :SCHEMA.mastra_run_parts (run_id, part_id, state, version, created_at, updated_at)
    select c.execution_id, c.component_id, c.state, c.version, c.created_at, c.updated_at
      from :SCHEMA.component_state c
     where c.execution_id in (select id from :SCHEMA.mastra_runs);
    update :SCHEMA.blobs set execution_id = null
     where execution_id in (select id from :SCHEMA.mastra_runs);
    delete from :SCHEMA.execution_keys where idempotency_key in (select key from :SCHEMA.mastra_runs);
    delete from :SCHEMA.executions where id in (select id from :SCHEMA.mastra_runs);
  end if;
  for mastra in select id from :SCHEMA.definitions where definition @> '{"engine":"mastra"}' loop
    if not exists (select 1 from :SCHEMA.executions where definition_id = mastra) then
      delete from :SCHEMA.definitions where id = mastra;
    end if;
  end loop;
end
$$;

-- A run made or deleted adds +1 or -1 to its workflow's row of the slot its session's backend falls
-- in, so sessions writing runs at once seldom wait on one row; a workflow's total is the sum of its
-- slots.
create table :SCHEMA.mastra_run_counts (
  workflow_name text collate "C" not null,
  slot integer not null,
  runs bigint not null,
  primary key (workflow_name, slot)
);

create function :SCHEMA.mastra_count_run() returns trigger language plpgsql as $count$
begin
  insert into :SCHEMA.mastra_run_counts as c (workflow_name, slot, runs)
  values (case when tg_op = 'INSERT' then new.workflow_name else old.workflow_name end,
          pg_backend_pid() % 64, case when tg_op = 'INSERT' then 1 else -1 end)
  on conflict (workflow_name, slot) do update set runs = c.runs + excluded.runs;
  return null;
end
$count$;

create trigger mastra_run_made after insert on :SCHEMA.mastra_runs
  for each row execute function :SCHEMA.mastra_count_run();
create trigger mastra_run_gone after delete on :SCHEMA.mastra_runs
  for each row execute function :SCHEMA.mastra_count_run();

insert into :SCHEMA.mastra_run_counts (workflow_name, slot, runs)
select workflow_name, 0, count(*) from :SCHEMA.mastra_runs group by workflow_name;
