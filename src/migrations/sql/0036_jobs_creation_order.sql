-- 0036_jobs_creation_order
-- jobs.list (flowstore jobs list, the dashboard's queue pages) lists jobs in creation order: by
-- created_at, then id, a page going on after the last job of the page before. Ids are UUIDv7 only when
-- flowstore makes them; a caller's own (random UUIDs, as jobs that others run after are named) are in
-- no order, so the primary key no longer serves the list. This index does: a page reads its own rows
-- from it, with no sort of every job and no walk past the pages before. Its entries are added at its
-- right end, as jobs are made, and go as the queue's rows do.
create index jobs_created on :SCHEMA.jobs (created_at, id);
