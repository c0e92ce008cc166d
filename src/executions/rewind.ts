/**
 * executions.rewind: the same run taken back to step N (DBOS's rewind): its steps numbered N and above
 * are deleted, and every other record written after the cut (cut.ts); the run is pending again, with
 * no output, error or state, and its version bumped, so that a writer that read it before gets a
 * ConflictError from its next compare-and-set. The run keeps the last rewind's step, the version it gave
 * the run and its time (rewoundToStep, rewoundVersion, rewoundAt), for those who look at it later.
 *
 * What was written concurrently is either seen and deleted or waits until the rewind commits, and so
 * is written after it. The run's row is locked first (for update): appends, task writes and claims of
 * tokens lock it too (for key share), so those in flight are waited for and the next wait. Steps and
 * stream chunks do not touch the run's row (a step is one insert, on no key to it), so their tables
 * are locked against writes for the rewind's transaction (share row exclusive: step and chunk writes
 * of every run wait that long; a rewind is rare, and short). Each statement after those locks sees
 * what they waited for, which holds only in read committed: in a transaction that reads one snapshot
 * (repeatable read, serializable) a step committed after it began would survive, so a rewind is
 * refused there.
 */

import { inTransaction, type StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { snapshotIsolation } from "../db/driver.js";
import { type CutPlan, cutSql, readCut } from "./cut.js";
import { COLUMNS } from "./records.js";
import type { Execution } from "./types.js";

/** Deletes what comes after the cut and sets the run going again, in one statement ($1 run, $2 N). */
function rewindStatement(q: string): string {
  const cut = cutSql(q);
  return `with ${cut.step},
    steps as (delete from ${q}.steps where execution_id = $1 and step_number >= $2 returning 1),
    events as (
      delete from ${q}.events where execution_id = $1 and seq >= ${cut.firstEventAfter}
      returning seq),
    head as (
      update ${q}.event_heads set last_seq = (select min(seq) - 1 from events)
       where execution_id = $1 and exists (select 1 from events)
      returning 1),
    tasks as (
      delete from ${q}.tasks t where t.execution_id = $1 and not ${cut.before("t.recorded", "t.created_at")}
      returning task_exec_id),
    task_ids as (
      delete from ${q}.task_ids where task_exec_id in (select task_exec_id from tasks)
      returning 1),
    chunks as (
      delete from ${q}.stream_chunks c
       where c.execution_id = $1 and c.chunk_index >= ${cut.firstChunkAfter("c.stream")}
      returning 1),
    gone as (
      delete from ${q}.streams s where s.execution_id = $1 and not ${cut.before("s.recorded", "s.created_at")}
      returning 1),
    streams as (
      update ${q}.streams s
         set next_index = coalesce(${cut.firstChunkAfter("s.name")}, s.next_index),
             closed_at = ${cut.closed("closed_at")},
             closed_recorded = ${cut.closed("closed_recorded")},
             updated_at = now()
       where s.execution_id = $1 and ${cut.before("s.recorded", "s.created_at")}
         and (${cut.firstChunkAfter("s.name")} is not null
              or s.closed_at is not null and not ${cut.before("s.closed_recorded", "s.closed_at")})
      returning 1),
    signals as (
      delete from ${q}.signals g where g.execution_id = $1 and not ${cut.before("g.recorded", "g.created_at")}
      returning 1)
    update ${q}.executions
       set status = 'pending', output = null, error = null, state = null, completed_at = null,
           version = version + 1, updated_at = now(),
           rewound_to_step = $2, rewound_version = version + 1, rewound_at = now()
     where id = $1
    returning ${COLUMNS}`;
}

/** Rewinds the run in one transaction (a savepoint in the caller's); returns it as it now is. */
export async function rewind(context: StoreContext, plan: CutPlan): Promise<Execution> {
  if (await snapshotIsolation(context.db)) {
    throw new ValidationError(
      "rewind needs a read committed transaction: in a repeatable read or serializable one, a step committed after the transaction began would survive the rewind",
      { field: "transaction" },
    );
  }
  return context.db.transaction(
    async (tx) => {
      const c = inTransaction(context, tx);
      await tx.query(`lock table ${c.q}.steps, ${c.q}.stream_chunks in share row exclusive mode`);
      await readCut(c, plan, "toStep", true);
      const { rows } = await tx.query<Execution>(rewindStatement(c.q), [plan.id, plan.step]);
      return rows[0] as Execution;
    },
    { isolation: "read committed" },
  );
}
