-- 0022_queue_pauses
-- A paused queue is not claimed: its jobs wait (and can still be enqueued, cancelled or retried) until
-- it is resumed. A row per paused queue; every claim tests it once, as a one-time filter of its plan,
-- on a table that holds a handful of rows.
create table :SCHEMA.queue_pauses (
  queue text primary key,
  paused_at timestamptz not null default now(),
  -- Who paused it, as the caller said (the dashboard, the command, an operator's name).
  paused_by text
);
