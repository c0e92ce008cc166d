-- 0005_retention
-- What retention (store.prune) needs: blobs that belong to an execution, and finished executions found
-- by the time they finished.

-- A blob put with { executionId } is removed with its execution. No foreign key: blobs that belong to
-- no execution stay where they are, and on Citus blobs are not co-located with executions.
alter table :SCHEMA.blobs add column execution_id uuid;
create index blobs_execution on :SCHEMA.blobs (execution_id) where execution_id is not null;

-- prune() walks finished executions oldest first; completed_at is set only on a terminal status.
create index executions_finished on :SCHEMA.executions (completed_at) where completed_at is not null;
