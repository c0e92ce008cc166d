-- 0040_agent_sessions
-- The OpenAI Agents SDK's conversation sessions (flowstore/openai-agents FlowstoreSession). Ids are the
-- caller's own text and compare in byte order.

-- A session: the next position its items take (never reused, so an item added while the session is
-- cleared cannot take a position another still holds), and when it was last written.
create table :SCHEMA.agent_sessions (
  id text collate "C" primary key,
  next_position bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- Retention finds idle sessions by their last write.
create index agent_sessions_updated on :SCHEMA.agent_sessions (updated_at);

-- A session's items in order. An item is kept as the JSON text it was given: key order and any
-- string (a NUL too, escaped) come back as they went in, which the SDK compares item by item.
create table :SCHEMA.agent_session_items (
  session_id text collate "C" not null,
  position bigint not null,
  item text not null,
  primary key (session_id, position)
);

-- The history transactions applied to a session (applyHistoryTransaction), by their operation id: a
-- retry of the same one is a no-op, another under the same id is refused. Cleared with the session.
create table :SCHEMA.agent_session_operations (
  session_id text collate "C" not null,
  operation_id text collate "C" not null,
  transaction text not null,
  primary key (session_id, operation_id)
);
