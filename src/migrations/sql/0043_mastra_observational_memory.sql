-- 0043_mastra_observational_memory
-- Mastra's observational memory (flowstore/mastra FlowstoreMastraStorage): what an agent has observed of
-- a thread, or of all a resource's threads, as generations. A reflection condenses a generation into a
-- new one and the old stays as history; the newest generation of a key is the record Mastra works on.

create table :SCHEMA.mastra_observational_memory (
  id text collate "C" primary key,
  -- 'thread:<thread id>' for a thread's record, 'resource:<resource id>' for a resource's: a thread's
  -- record is found by its thread alone, whichever resource the caller names.
  lookup_key text collate "C" not null,
  scope text not null check (scope in ('thread', 'resource')),
  thread_id text collate "C",
  resource_id text collate "C" not null,
  generation_count integer not null,
  origin_type text not null check (origin_type in ('initial', 'reflection')),
  active_observations text not null,
  observation_token_count bigint not null default 0,
  total_tokens_observed bigint not null default 0,
  pending_message_tokens bigint not null default 0,
  last_observed_at timestamptz,
  observed_message_ids jsonb,
  observed_timezone text,
  -- Observations made ahead of need, waiting to be activated: a JSON array of Mastra's chunks.
  buffered_chunks jsonb,
  last_buffered_at_tokens bigint not null default 0,
  last_buffered_at_time timestamptz,
  buffered_reflection text,
  buffered_reflection_tokens bigint,
  buffered_reflection_input_tokens bigint,
  reflected_observation_line_count integer,
  is_observing boolean not null default false,
  is_reflecting boolean not null default false,
  is_buffering_observation boolean not null default false,
  is_buffering_reflection boolean not null default false,
  config jsonb not null,
  metadata jsonb,
  -- Set when a newer generation took over: a write that still names this record (another process read
  -- it before the reflection) is carried to the newest one rather than stranded here.
  retired_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
-- One record per generation of a key: of two reflections of one record, one applies. It also serves
-- the newest generation of a key, its history, and deleting a thread's or a resource's records.
create unique index mastra_observational_memory_generation
  on :SCHEMA.mastra_observational_memory (lookup_key, generation_count);
