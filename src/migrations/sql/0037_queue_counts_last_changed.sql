-- 0037_queue_counts_last_changed
-- A queue exists from its first count (an enqueue), its limits or its pause until retention removes its
-- counts, or an operator forgets it (jobs.forget): jobs.stats() lists it meanwhile, idle or not. Each
-- count's row now says when it last grew, folded in from queue_total_additions; a prune removes the
-- counts of a queue whose every count is older than its cut and that holds no job, no limits and no
-- pause, so a queue used once long ago leaves /metrics. The counts of a queue that stays never fall.
alter table :SCHEMA.queue_totals add column updated_at timestamptz not null default now();
