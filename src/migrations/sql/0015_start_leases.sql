-- 0015_start_leases
-- A prefetched job is reserved for a few seconds, and its lease grows to the worker's leaseMs at the
-- worker's next heartbeat once the job has started. A handler that holds the event loop as it starts
-- delays that heartbeat, and the job could be taken back and run a second time while it still ran.
-- Each start mark now records the worker's leaseMs: a started job is not taken back while both its own
-- lease and its worker's latest mark are younger than that (see startLeaseHeld).
alter table :SCHEMA.job_starts add column lease_ms integer;
