-- 0012_events_signals
-- What durable-execution engines are built on: an append-only history of events per execution, and
-- signals, tokens held by one live execution that a payload can be delivered to.
--
-- Each table carries execution_id and references executions with on delete cascade, so an event or a
-- signal never names a run that does not exist, and goes with it. Citus: events and event_heads are
-- co-located with executions by execution_id; signals.token is unique across executions (as
-- executions.idempotency_key is) and would move to a table of its own there.

-- The last sequence number of each execution's history. An append bumps it with
-- insert ... on conflict do update in the statement that inserts the events: the row lock serializes
-- the appenders of one execution until they commit, so numbers are gap-free and follow commit order.
create table :SCHEMA.event_heads (
  execution_id uuid primary key references :SCHEMA.executions (id) on delete cascade,
  last_seq bigint not null check (last_seq >= 0)
);

-- A payload is JSON (payload) or bytes (payload_bytes), never both. created_at is taken after the head
-- row is locked (clock_timestamp()), so within one execution it follows the sequence.
create table :SCHEMA.events (
  execution_id uuid not null references :SCHEMA.executions (id) on delete cascade,
  seq bigint not null check (seq > 0),
  type text not null,
  payload jsonb,
  payload_bytes bytea,
  correlation_id text,
  created_at timestamptz not null default clock_timestamp(),
  primary key (execution_id, seq),
  check (payload is null or payload_bytes is null)
);
-- Lookup by correlation id, across executions or within one, oldest first (keyset on the tail).
create index events_correlation on :SCHEMA.events (correlation_id, created_at, execution_id, seq)
  where correlation_id is not null;

-- A token is held while its execution is not finished; a row whose holder finished is stale and is
-- taken over by the next claim. Metadata is JSON or bytes, never both.
create table :SCHEMA.signals (
  token text collate "C" primary key,
  execution_id uuid not null references :SCHEMA.executions (id) on delete cascade,
  metadata jsonb,
  metadata_bytes bytea,
  created_at timestamptz not null default now(),
  check (metadata is null or metadata_bytes is null)
);
-- An execution's tokens in token order (keyset pagination), and retention.
create index signals_execution on :SCHEMA.signals (execution_id, token);
