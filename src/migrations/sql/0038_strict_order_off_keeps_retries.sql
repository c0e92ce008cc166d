-- 0038_strict_order_off_keeps_retries
-- The job a group is held for in strict order (0032): a job that failed and will be retried, or was
-- snoozed, keeps its place ready with its run time unchanged while its group waits out held_until.
-- Turning strict order off ends the hold; the job then takes held_until as its run time and waits
-- for it as scheduled, or it would run at once, its backoff or snooze lost. held_for is set with
-- held_until, and read only while held_until is ahead.
alter table :SCHEMA.job_groups add column held_for uuid;
