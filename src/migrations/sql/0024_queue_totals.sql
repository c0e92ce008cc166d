-- 0024_queue_totals
-- What the queue has done, by queue, since the store began: jobs enqueued, started, completed,
-- failed, dead and taken back after their lease expired, and a histogram of how long jobs waited
-- past their due time before a handler started them (jobs.totals(), and /metrics as counters).
-- Counts only ever grow: a statement adds to them, none subtracts.
create table :SCHEMA.queue_totals (
  queue text not null,
  name text not null,
  n bigint not null,
  primary key (queue, name)
);

-- Additions not yet summed into queue_totals. An enqueue adds its count here, in its own statement
-- and so in the caller's transaction: rows are only ever inserted, and no index is kept, so no two
-- enqueues wait on each other. A worker's periodic write of its own counts moves these into
-- queue_totals; a read sums both.
create table :SCHEMA.queue_total_additions (
  queue text not null,
  name text not null,
  n bigint not null
);

-- Set by each claim: true when it took the job back from a worker whose lease expired, which the
-- claiming worker counts.
alter table :SCHEMA.jobs add column taken_back boolean not null default false;
