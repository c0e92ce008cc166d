-- 0032_strict_group_order
-- Strict order per group (jobs.setLimits(queue, { strictOrder: true }), pg-boss's key_strict_fifo):
-- each group of the queue runs one job at a time, in its order, and a job that failed and will be
-- retried, or was snoozed, holds the group's later jobs until it completes or goes dead.
--
-- Such a job keeps its place: it waits again ready ('waiting') with its run time unchanged, so it
-- stays first in its group's order, and the time it may run again goes on its group's row as
-- held_until, which claims respect (a group held is not served until then). Its group's wake-up stays
-- until a claim serves it. Other queues never set held_until: their claims test a null.
alter table :SCHEMA.queue_limits add column strict_order boolean not null default false;
alter table :SCHEMA.job_groups add column held_until timestamptz;
