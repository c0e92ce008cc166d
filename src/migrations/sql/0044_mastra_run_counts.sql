-- 0044_mastra_run_counts
-- How many Mastra workflow runs each workflow has (flowstore/mastra), so that listWorkflowRuns' total
-- (the studio asks for it with every page it polls) is a sum of a few rows, not a count of every run:
-- at 100,000 runs, a count of the workflow's executions read them all.
--
-- A row per workflow (its definition) and slot: a run made or deleted adds +1 or -1 to the row of the
-- slot its session's backend falls in, so sessions writing runs at once seldom wait on one row; the
-- total is the sum of a workflow's slots. Kept by triggers on executions, whichever statement makes or
-- deletes a Mastra run (the adapter's persists and deletes, retention, executions.delete); a time range
-- of runs dropped whole (src/partitions) takes its runs off before it goes. Mastra's runs are the
-- executions whose idempotency key starts with 'mastra:[' (src/adapters/mastra/runs.ts, runKey).
--
-- Not on Citus (its extension installed when this runs): Citus refuses triggers on distributed tables,
-- so there the table stays empty and the total is counted (the adapter looks for the trigger).
create table :SCHEMA.mastra_run_counts (
  definition_id uuid not null,
  slot integer not null,
  runs bigint not null,
  primary key (definition_id, slot)
);

create function :SCHEMA.mastra_count_run() returns trigger language plpgsql as $count$
begin
  insert into :SCHEMA.mastra_run_counts as c (definition_id, slot, runs)
  values (case when tg_op = 'INSERT' then new.definition_id else old.definition_id end,
          pg_backend_pid() % 64, case when tg_op = 'INSERT' then 1 else -1 end)
  on conflict (definition_id, slot) do update set runs = c.runs + excluded.runs;
  return null;
end
$count$;

do $$
begin
  if not exists (select 1 from pg_extension where extname = 'citus') then
    create trigger mastra_run_made after insert on :SCHEMA.executions for each row
      when (left(new.idempotency_key, 8) = 'mastra:[' and new.definition_id is not null)
      execute function :SCHEMA.mastra_count_run();
    create trigger mastra_run_gone after delete on :SCHEMA.executions for each row
      when (left(old.idempotency_key, 8) = 'mastra:[' and old.definition_id is not null)
      execute function :SCHEMA.mastra_count_run();
    -- The runs stored before: counted once, under the triggers' lock on executions (no run is made or
    -- deleted between the count and the triggers).
    insert into :SCHEMA.mastra_run_counts (definition_id, slot, runs)
    select definition_id, 0, count(*) from :SCHEMA.executions
     where left(idempotency_key, 8) = 'mastra:[' and definition_id is not null
     group by definition_id;
  end if;
end
$$;
