-- 0018_task_keys
-- Tasks keyed within their execution, as a table distributed by execution_id on Citus must be, with the
-- guarantee the old key gave kept: a task id is held by one execution at most, across all of them.
--
-- task_ids holds each task id once, with the execution whose task it is. Every statement that inserts
-- tasks inserts their ids here too, so an id another execution holds is refused by the same statement,
-- and retention deletes an execution's ids with its tasks. It has no foreign key: on Citus it is
-- distributed by task_exec_id, in a group of its own, and a key to executions would cross groups.
create table :SCHEMA.task_ids (
  task_exec_id uuid primary key,
  execution_id uuid not null
);
insert into :SCHEMA.task_ids (task_exec_id, execution_id)
select task_exec_id, execution_id from :SCHEMA.tasks;

-- task_exec_id leads the key: the calls that name a task by its id alone (get, update, getForUpdate,
-- tree, createChildren's parent) still find it by one probe of the primary key, and an insert writes
-- no index more than before besides task_ids'.
alter table :SCHEMA.tasks
  drop constraint tasks_pkey,
  add constraint tasks_pkey primary key (task_exec_id, execution_id);
