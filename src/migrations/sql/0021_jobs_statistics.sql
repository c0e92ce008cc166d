-- 0021_jobs_statistics
-- jobs.stats() counts each queue's jobs of a status exactly up to a bound and estimates above it from
-- the planner's statistics. Queues and statuses are far from independent (one queue's backlog is
-- waiting, another's is dead), so ANALYZE keeps the most common (queue, status) pairs together.
create statistics :SCHEMA.jobs_queue_status (mcv) on queue, status from :SCHEMA.jobs;
