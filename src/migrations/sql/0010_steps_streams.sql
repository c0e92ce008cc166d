-- 0010_steps_streams
-- Step checkpoints and streams. Both belong to an execution and lead with its id, so one execution's
-- rows sit together in each primary key (and, on Citus, on the execution's node).
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

-- A stream's head: the index its next chunk gets, and whether it is closed. Every write updates this
-- row in the statement that inserts the chunks, so the writers of one stream queue on its row lock and
-- indexes are handed out without gaps (a write that rolls back takes its indexes back with it). No
-- indexed column changes, so with room left on the page the update stays HOT.
create table :SCHEMA.streams (
  execution_id uuid not null,
  name text not null,
  next_index integer not null default 0,
  closed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (execution_id, name)
) with (fillfactor = 70);

-- The chunks, in index order under their stream; each is JSON or bytes.
create table :SCHEMA.stream_chunks (
  execution_id uuid not null,
  stream text not null,
  chunk_index integer not null check (chunk_index >= 0),
  data jsonb,
  bytes bytea,
  created_at timestamptz not null default now(),
  primary key (execution_id, stream, chunk_index),
  check ((data is null) <> (bytes is null))
);
