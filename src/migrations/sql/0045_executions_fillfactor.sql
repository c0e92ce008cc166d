-- 0045_executions_fillfactor
-- A run's execution row is written again at every step (its status, its state), and engines that keep
-- a run's whole state in it (Mastra's snapshot, a few kilobytes that grow with each step) rewrite more
-- than a page's tenth. With 10% of each page free (fillfactor 90), the new version of such a row seldom
-- fits beside the old one, so the update is not HOT: it writes an entry in each of the table's nine
-- indexes. With 30% free it fits: in bench/mastra.ts's persists, about 80% of the updates that change no
-- indexed column stayed HOT against 60%, and the update's execution time and WAL fell by a tenth.
--
-- The setting applies to pages filled from now on; every partition of executions takes it (those a
-- range makes later take it from src/partitions/tables.ts).
do $$
declare
  partition regclass;
begin
  for partition in
    select inhrelid::regclass from pg_inherits where inhparent = ':SCHEMA.executions'::regclass
  loop
    execute format('alter table %s set (fillfactor = 70)', partition);
  end loop;
end
$$;
