-- 0014_langgraph
-- LangGraph's checkpoints (flowstore/langgraph FlowstoreSaver) and its long-term memory (FlowstoreStore).
-- Every row has a `scope`: the saver or store instance it belongs to, so several graphs (or tenants,
-- or test cases) share the tables without seeing each other's threads. Text keys compare in byte
-- order ("C"), as LangGraph compares checkpoint ids and write keys.

-- One row per thread: when a checkpoint was last written to it (touched at most once a minute), so
-- retention finds idle threads through an index, and keeps to the threads written since its last run.
create table :SCHEMA.langgraph_threads (
  scope text collate "C" not null,
  thread_id text collate "C" not null,
  updated_at timestamptz not null default now(),
  primary key (scope, thread_id)
);
create index langgraph_threads_updated on :SCHEMA.langgraph_threads (scope, updated_at);

-- A checkpoint without its channel values: those are in langgraph_blobs under the versions its
-- `channel_versions` names, so a value is stored once however many checkpoints carry it. Metadata is
-- JSON for filters (`@>`); `metadata_bytes` holds the serializer's exact output when that JSON is not it
-- (a NUL in a string, or a serializer that does not write JSON), with `metadata_type` its type.
create table :SCHEMA.langgraph_checkpoints (
  scope text collate "C" not null,
  thread_id text collate "C" not null,
  checkpoint_ns text collate "C" not null,
  checkpoint_id text collate "C" not null,
  parent_id text collate "C",
  checkpoint jsonb not null,
  metadata jsonb not null,
  metadata_type text,
  metadata_bytes bytea,
  primary key (scope, thread_id, checkpoint_ns, checkpoint_id)
);

-- A channel's value at one version; type "empty" (no blob) marks a channel that has no value there.
create table :SCHEMA.langgraph_blobs (
  scope text collate "C" not null,
  thread_id text collate "C" not null,
  checkpoint_ns text collate "C" not null,
  channel text collate "C" not null,
  version text collate "C" not null,
  type text not null,
  blob bytea,
  primary key (scope, thread_id, checkpoint_ns, channel, version)
);

-- Writes of the tasks run from a checkpoint, read back in (task_path, task_id, idx) order.
create table :SCHEMA.langgraph_writes (
  scope text collate "C" not null,
  thread_id text collate "C" not null,
  checkpoint_ns text collate "C" not null,
  checkpoint_id text collate "C" not null,
  task_id text collate "C" not null,
  idx integer not null,
  task_path text collate "C" not null default '',
  channel text not null,
  type text not null,
  blob bytea not null,
  primary key (scope, thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);

-- Long-term memory: JSON values under a namespace (its labels joined by '.', which no label may
-- contain) and a key. Searches by namespace prefix are a range of the primary key.
create table :SCHEMA.langgraph_store (
  scope text collate "C" not null,
  namespace text collate "C" not null,
  key text collate "C" not null,
  value jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (scope, namespace, key)
);

-- A decimal number in text as a float8, as JavaScript reads it: beyond the range of float8 it is
-- +/-Infinity, below it 0 (PostgreSQL's own cast fails on both).
create function :SCHEMA.langgraph_float(t text) returns float8
language sql immutable parallel safe as $$
  select case
    when abs(n) > 1.7976931348623157e308 then sign(n) * 'infinity'::float8
    when abs(n) < 2.2250738585072014e-308 then 0
    else n::float8
  end
  from (select t::numeric as n) as parsed
$$;

-- A JSON value as JavaScript's Number() reads it, for the $gt/$gte/$lt/$lte filters of store searches:
-- numbers as they are; true 1, false 0, null 0; a string holding a decimal number (or nothing but
-- white space: 0, or Infinity); an array of no element 0, of one its element's reading as text.
-- Anything else is not a number: null here, so that every comparison with it is false, as with NaN.
-- (Number() also reads 0x, 0o and 0b literals, which are not numbers here.) It calls itself for the
-- element of a one-element array, hence the body is checked when called, not when created.
set local check_function_bodies = off;
create function :SCHEMA.langgraph_number(v jsonb, in_array boolean default false) returns float8
language sql immutable parallel safe as $$
  select case jsonb_typeof(v)
    when 'number' then :SCHEMA.langgraph_float(v #>> '{}')
    when 'boolean' then case when in_array then null when v = 'true'::jsonb then 1 else 0 end
    when 'null' then 0
    when 'string' then (
      select case
        when t = '' then 0
        -- (at most 1,000 characters and a 5-digit exponent: numeric's own range)
        when length(t) <= 1000 and t ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,5})?$'
          then :SCHEMA.langgraph_float(t)
        when t ~ '^[+-]?Infinity$' then replace(t, 'Infinity', 'inf')::float8
        else null
      end
      from regexp_replace(v #>> '{}',
        '^[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+|[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$',
        '', 'g') as trimmed(t)
    )
    when 'array' then case jsonb_array_length(v)
      when 0 then 0
      when 1 then case jsonb_typeof(v -> 0)
        when 'object' then null
        when 'null' then 0
        else :SCHEMA.langgraph_number(v -> 0, true)
      end
      else null
    end
    else null
  end
$$;
