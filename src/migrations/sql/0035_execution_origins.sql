-- 0035_execution_origins
-- Where a run came from, for those who look at it (the dashboard's run page, `flowstore executions
-- show`): a fork names its source and step since 0033; a rewind left no trace but a bumped version.
--
-- The last rewind of a run: the step it was taken back to, the version the rewind gave it and when,
-- written by the rewind's own statement (src/executions/rewind.ts), so they commit or roll back with
-- it. Null for a run never rewound. Plain columns of the run's row: nothing to distribute or prune.
alter table :SCHEMA.executions
  add column rewound_to_step integer,
  add column rewound_version bigint,
  add column rewound_at timestamptz;

-- The forks of a run, listed on its page (executions.list({ forkOf })): only forks are in the index.
create index executions_fork_of on :SCHEMA.executions (fork_of, created_at, id) where fork_of is not null;
