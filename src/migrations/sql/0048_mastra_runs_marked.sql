-- 0048_mastra_runs_marked
-- A Mastra run's state says it may have context rows by one key, "$flowstore:rows"
-- (src/adapters/mastra/runs.ts, ROWS_MARK), which every write that makes a row sets. Runs stored before
-- that key existed kept every context entry a row and their state's context empty, and an empty context
-- said "may have rows" too: every write of a run tested the state it found both ways, and the second
-- test copied the stored context out of the row to compare it, at each step of every run. Those runs
-- are marked here, so the mark alone says it and the test is a lookup of one key. A run whose context
-- is empty and has no rows is marked as well: its reads look for rows and find none, as they did.
update :SCHEMA.mastra_runs set state = state || '{"$flowstore:rows": true}'::jsonb
 where state->'context' = '{}'::jsonb and not state ? '$flowstore:rows';
