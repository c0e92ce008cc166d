/**
 * executions.fork: a new run that keeps what the source recorded before step N (cut.ts says what that
 * is) and runs again from N, the way DBOS's forkWorkflow and Hatchet's replay-as-new do. The source is
 * not changed.
 *
 * The new run starts as a fresh start does (pending, no output, error or state; its own id, no
 * idempotency key and no parent) with the source's workflow, input and metadata, and names its source
 * and N (forkOf, forkStep). Copied rows keep their times, so a fork of a fork is cut the same way.
 * Tasks get new ids (a task id is held by one run only), their tree kept through the new ids. Tokens
 * are not copied (a token has one holder, the source); the signals delivered before the cut are
 * events of the history, and come with it. Offloaded values are copied into the new run's own blobs,
 * so that pruning the source leaves the fork whole.
 */

import { inTransaction, type StoreContext } from "../core/context.js";
import { uuidv7 } from "../core/ids.js";
import { type CutPlan, cutSql, readCut } from "./cut.js";
import { copyOffloaded } from "./fork-offloaded.js";
import { COLUMNS } from "./records.js";
import type { Execution } from "./types.js";

/** The new run's rows, in one statement ($1 source, $2 N, $3 the new id, $4/$5 the tasks' old/new ids). */
function forkStatement(q: string): string {
  const cut = cutSql(q);
  return `with ${cut.step},
    run as (
      insert into ${q}.executions (id, definition_id, name, status, input, metadata, fork_of, fork_step)
      select $3, definition_id, name, 'pending', input, metadata, id, $2 from ${q}.executions where id = $1
      returning ${COLUMNS}),
    steps as (
      insert into ${q}.steps (execution_id, step_number, name, output, output_bytes, error, attempts, created_at,
        recorded)
      select $3, step_number, name, output, output_bytes, error, attempts, created_at, recorded from ${q}.steps
       where execution_id = $1 and step_number < $2
      returning 1),
    kept as (
      select * from ${q}.events e
       where e.execution_id = $1 and e.seq < coalesce(${cut.firstEventAfter}, 9223372036854775807)),
    events as (
      insert into ${q}.events (execution_id, seq, type, payload, payload_bytes, correlation_id, created_at, recorded)
      select $3, seq, type, payload, payload_bytes, correlation_id, created_at, recorded from kept
      returning 1),
    head as (
      insert into ${q}.event_heads (execution_id, last_seq)
      select $3, max(seq) from kept having count(*) > 0
      returning 1),
    ids as (select * from unnest($4::uuid[], $5::uuid[]) as m(old, new)),
    tasks as (
      insert into ${q}.tasks (task_exec_id, task_id, execution_id, workflow_id, status, execution_type,
        parent_id, agent_id, tool_id, input, output, error, attempt, version, created_at, updated_at,
        started_at, completed_at, retry_at, recorded)
      select m.new, t.task_id, $3, t.workflow_id, t.status, t.execution_type, p.new, t.agent_id, t.tool_id,
             t.input, t.output, t.error, t.attempt, t.version, t.created_at, t.updated_at, t.started_at,
             t.completed_at, t.retry_at, t.recorded
        from ${q}.tasks t join ids m on m.old = t.task_exec_id left join ids p on p.old = t.parent_id
       where t.execution_id = $1
      returning 1),
    task_ids as (insert into ${q}.task_ids (task_exec_id, execution_id) select new, $3 from ids returning 1),
    streams as (
      insert into ${q}.streams (execution_id, name, next_index, closed_at, closed_recorded, created_at, recorded)
      select $3, s.name, coalesce(${cut.firstChunkAfter("s.name")}, s.next_index),
             ${cut.closed("closed_at")}, ${cut.closed("closed_recorded")}, s.created_at, s.recorded
        from ${q}.streams s where s.execution_id = $1 and ${cut.before("s.recorded", "s.created_at")}
      returning 1),
    chunks as (
      insert into ${q}.stream_chunks (execution_id, stream, chunk_index, data, bytes, created_at, recorded)
      select $3, c.stream, c.chunk_index, c.data, c.bytes, c.created_at, c.recorded
        from ${q}.stream_chunks c join ${q}.streams s on s.execution_id = c.execution_id and s.name = c.stream
       where c.execution_id = $1 and ${cut.before("s.recorded", "s.created_at")}
         and c.chunk_index < coalesce(${cut.firstChunkAfter("c.stream")}, 2147483647)
      returning 1)
    select * from run`;
}

/** Forks the run in one transaction (a savepoint in the caller's); returns the new run. */
export async function fork(context: StoreContext, plan: CutPlan): Promise<Execution> {
  return context.db.transaction(async (tx) => {
    const c = inTransaction(context, tx);
    await readCut(c, plan, "fromStep", false);
    const cut = cutSql(c.q);
    const { rows: tasks } = await tx.query<{ id: string }>(
      `with ${cut.step}
       select task_exec_id as id from ${c.q}.tasks t
        where execution_id = $1 and ${cut.before("t.recorded", "t.created_at")}`,
      [plan.id, plan.step],
    );
    const id = uuidv7();
    const { rows } = await tx.query<Execution>(forkStatement(c.q), [
      plan.id,
      plan.step,
      id,
      tasks.map((task) => task.id),
      tasks.map(() => uuidv7()),
    ]);
    await copyOffloaded(c, id);
    return rows[0] as Execution;
  });
}
