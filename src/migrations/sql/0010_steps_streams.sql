-- 0010_steps_streams
-- Step checkpoints. They belong to an execution and lead with its id, so one execution's rows sit
-- together in the primary key (and, on Citus, on the execution's node).
--
-- No foreign key to executions: recording a step is one insert, and a key check would also lock the
-- execution's row (FOR KEY SHARE) on every step, against every writer of that row. An engine may
-- therefore checkpoint under an id that is not (or not yet) in executions. Retention deletes the rows
-- of pruned executions; rows of an id that never was an execution stay until deleted by hand.

-- One row per recorded step. The first writer of (execution, number) wins; the primary key decides.
-- The output is JSON or bytes (never both); a failed step records its error, with or without output.
create table :SCHEMA.steps (
  execution_id uuid not null,
  step_number integer not null check (step_number >= 0),
  name text not null,
  output jsonb,
  output_bytes bytea,
  error jsonb,
  created_at timestamptz not null default now(),
  primary key (execution_id, step_number),
  check (output is null or output_bytes is null)
);
