-- 0042_agent_paused_runs
-- The OpenAI Agents SDK's runs paused on tool approvals (flowstore/openai-agents FlowstorePausedRuns):
-- the run's state as the SDK serializes it, and each approval it waits on, decided once.

-- A paused run: its state (RunState.toString()), the SDK that wrote it, and whether it still waits
-- ('paused'), was taken to run on ('resumed', by whom), or waited past its expiry ('expired').
create table :SCHEMA.agent_paused_runs (
  id uuid primary key,
  session_id text collate "C",
  agent_name text not null,
  state text not null,
  state_schema text not null,
  sdk_version text not null,
  status text not null default 'paused' check (status in ('paused', 'resumed', 'expired')),
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  finished_at timestamptz,
  resumed_by text
);
-- The list of waiting runs, oldest first; maintenance's expiry and removal of finished runs.
create index agent_paused_runs_waiting on :SCHEMA.agent_paused_runs (created_at, id) where status = 'paused';
create index agent_paused_runs_finished on :SCHEMA.agent_paused_runs (finished_at) where status <> 'paused';

-- The tool calls a paused run waits on, in the run's order: undecided, or approved or rejected once,
-- by whom, when, for this call or for every call of the tool (always), with the rejection's message.
create table :SCHEMA.agent_run_approvals (
  run_id uuid not null references :SCHEMA.agent_paused_runs (id) on delete cascade,
  call_id text collate "C" not null,
  position integer not null,
  agent_name text not null,
  tool_name text not null,
  arguments text,
  decision text check (decision in ('approved', 'rejected')),
  always boolean not null default false,
  message text,
  decided_by text,
  decided_at timestamptz,
  primary key (run_id, call_id)
);
-- Waiting runs by tool, for a list of what one tool waits on.
create index agent_run_approvals_undecided on :SCHEMA.agent_run_approvals (tool_name) where decision is null;
