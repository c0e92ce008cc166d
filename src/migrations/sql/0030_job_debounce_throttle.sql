-- 0030_job_debounce_throttle
-- Debounce and throttle (queue/enqueue/throttle.ts, enqueue options `debounce` and `throttle`).
--
-- absorbed: how many enqueues a job took in after its own, each changing it (a debounced job's payload
-- and run time move with each) or merged into it (a throttled job keeps its first payload).
alter table :SCHEMA.jobs add column absorbed integer not null default 0;

-- run_by: the latest a debounced job may be moved to (its first enqueue plus the debounce's maxMs),
-- null when it has no such bound. Read only by the enqueue that moves the job.
alter table :SCHEMA.jobs add column run_by timestamptz;

-- A throttle's window per queue and key: the job the window's first enqueue made, and when the
-- window ends. An enqueue in the window returns that job; the first after it takes the row over for a
-- window of its own, so a key keeps one row. Rows of keys not used again are deleted by the workers'
-- vacuum once their window has ended.
create table :SCHEMA.job_throttles (
  queue text not null,
  key text not null,
  job_id uuid not null,
  until timestamptz not null,
  primary key (queue, key)
);

-- The ended windows, for the vacuum that deletes them.
create index job_throttles_until on :SCHEMA.job_throttles (until);
