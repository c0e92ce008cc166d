-- 0016_signals_claimed
-- The tokens of every execution in the order they were claimed, either way, a page at a time (keyset
-- on (created_at, token)): what a console lists, such as the Workflow SDK's inspector listing the hooks
-- of all runs. One execution's tokens in that order come through signals_execution and a sort of its few.
create index signals_claimed on :SCHEMA.signals (created_at, token);
