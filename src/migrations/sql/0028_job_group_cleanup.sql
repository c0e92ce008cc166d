-- 0028_job_group_cleanup
-- Groups that have no jobs left and no limit of their own are deleted (queue/idle-groups.ts): a row per
-- group ever used stayed for good. Whether a group has jobs is a probe per status: its ready and its
-- running jobs have their indexes (0025), and this one holds the rest (scheduled, blocked behind a
-- key, dead). No job on the claim's path enters it: enqueued ready, claimed and completed, a job
-- never matches its condition.
create index jobs_group_idle on :SCHEMA.jobs (queue, group_name)
  where group_name is not null and status not in ('waiting', 'running');
