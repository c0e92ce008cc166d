-- 0029_mastra
-- Mastra's memory (flowstore/mastra FlowstoreMastraStorage): conversation threads, their messages, and
-- resources (a user's working memory). Ids are Mastra's own text and compare in byte order. Mastra's
-- workflow runs need no table of their own: they are executions of a definition per workflow (see
-- src/adapters/mastra/runs.ts).

create table :SCHEMA.mastra_threads (
  id text collate "C" primary key,
  resource_id text collate "C" not null,
  title text,
  metadata jsonb,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
-- A resource's threads, newest first or oldest first; retention finds idle threads by updated_at.
create index mastra_threads_resource on :SCHEMA.mastra_threads (resource_id, created_at, id);
create index mastra_threads_updated on :SCHEMA.mastra_threads (updated_at);

-- A message's content (Mastra's format 2) is kept as the JSON text it was given: JSON text holds any
-- string (a NUL too, escaped), and no read needs PostgreSQL to look inside it but for its metadata,
-- which has a column of its own for filters.
create table :SCHEMA.mastra_messages (
  id text collate "C" primary key,
  thread_id text collate "C" not null,
  resource_id text collate "C",
  role text not null,
  type text,
  content text not null,
  metadata jsonb,
  created_at timestamptz not null
);
-- A thread's messages in time order, and a resource's across its threads.
create index mastra_messages_thread on :SCHEMA.mastra_messages (thread_id, created_at, id);
create index mastra_messages_resource on :SCHEMA.mastra_messages (resource_id, created_at, id);
-- Mastra's retention deletes messages by age.
create index mastra_messages_created on :SCHEMA.mastra_messages (created_at);

create table :SCHEMA.mastra_resources (
  id text collate "C" primary key,
  working_memory text,
  metadata jsonb,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
-- Mastra's retention deletes resources by their last update.
create index mastra_resources_updated on :SCHEMA.mastra_resources (updated_at);
