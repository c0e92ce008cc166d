-- 0008_start_watermarks
-- A worker prefetches jobs under a reservation and counts a job's attempt only once its handler
-- starts. Counting each start on the job's row rewrote every row a second time (about a third of the
-- database's work in a drain). Instead each claim of a worker is a numbered batch, the worker starts
-- batches in order and each batch's jobs in claim order, and one row per worker records how far it
-- has got: whether a reserved job had started is answered by comparing the job with that row.

-- The worker (an id of its own per run) and claim batch a prefetched job is reserved under; null for a
-- job claimed by claim(), whose attempt is counted at once.
alter table :SCHEMA.jobs add column reserved_by uuid, add column reserved_batch bigint;

-- Per worker: the last job it started, as its batch and its place in the claim order (priority
-- descending, then run_at, then id). run_at is kept in microseconds since the epoch, exactly.
create table :SCHEMA.job_starts (
  worker uuid primary key,
  batch bigint not null,
  priority int not null,
  run_at_us bigint not null,
  job_id uuid not null,
  updated_at timestamptz not null default now()
);
