/**
 * Enqueueing jobs that run after others (`after`, migration 0031). In one transaction (the caller's, if
 * any): the batch's jobs without dependencies go in as any enqueue's do, then its jobs with
 * dependencies, layer by layer (a job after one of the batch comes in a layer after that one's), each
 * layer in one statement that:
 * - marks its dependencies `has_dependents`, which locks each until the transaction ends (a read
 *   committed one: in a snapshot, a dependency committed since it began would go unseen): a dependency
 *   completing meanwhile waits, then finds the mark and the edges, and settles this job as any other;
 *   a claim meanwhile skips it, so the commit wakes the queues of the dependencies that are ready;
 *   one gone already (completed, cancelled or pruned) is not found, and counts as completed;
 * - inserts the jobs: 'pending' with the count of dependencies still in the queue, 'dead' when one
 *   is dead (its error naming it), or ready (waiting or scheduled) when none is left;
 * - inserts the edges the triggers of migration 0031 follow.
 * A job names only jobs already in the table or earlier in its batch, so no cycle can form.
 */

import { inTransaction, type StoreContext } from "../../core/context.js";
import { ValidationError } from "../../core/errors.js";
import { jobsChannel, wakeStatement } from "../../core/wake.js";
import { groupsOf } from "../groups.js";
import { addEnqueued } from "../totals.js";
import { type CheckedJob, RUN_AT_SQL } from "./enqueue-input.js";

type InsertChecked = (
  context: StoreContext,
  checked: CheckedJob[],
  trace: string | null,
) => Promise<string[]>;

/**
 * Enqueues `checked`, some of which have dependencies; returns each job's id, in order. `independent`
 * enqueues the others (enqueue.ts), passed in so that this file need not import it.
 */
export async function insertWithDependencies(
  context: StoreContext,
  checked: readonly CheckedJob[],
  trace: string | null,
  independent: InsertChecked,
): Promise<string[]> {
  const layers = layersOf(checked);
  return context.db.transaction(async (tx) => {
    const c = inTransaction(context, tx);
    await refuseSnapshotIsolation(c);
    const ids = new Array<string>(checked.length);
    // Each job of the batch by the id it was given, to find it when a later one names it.
    const idOfGiven = new Map<string, string>();
    const place = (slots: readonly number[], made: readonly string[]) => {
      slots.forEach((slot, n) => {
        ids[slot] = made[n] as string;
        idOfGiven.set((checked[slot] as CheckedJob).row.id, made[n] as string);
      });
    };
    const first = layers[0] ?? [];
    if (first.length > 0) {
      place(
        first,
        await independent(
          c,
          first.map((slot) => checked[slot] as CheckedJob),
          trace,
        ),
      );
    }
    for (const layer of layers.slice(1)) {
      const jobs = layer.map((slot) => {
        const job = checked[slot] as CheckedJob;
        const after = (job.dependsOn ?? []).map((id) => idOfGiven.get(id) ?? id);
        return { job, after };
      });
      place(layer, await insertLayer(c, jobs, trace));
    }
    return ids;
  });
}

/**
 * A transaction that reads one snapshot throughout (repeatable read, serializable) cannot see a
 * dependency committed after it began: it would count it as gone, that is completed, and run the job
 * before it. Such a transaction is refused before anything is written.
 */
async function refuseSnapshotIsolation(context: StoreContext): Promise<void> {
  const { rows } = await context.db.query<{ level: string }>(
    "select current_setting('transaction_isolation') as level",
  );
  const level = rows[0]?.level ?? "read committed";
  if (level !== "read committed") {
    throw new ValidationError(
      `after needs a read committed transaction: in a ${level} one, a job it names that was enqueued after the transaction began would count as completed`,
      { field: "after" },
    );
  }
}

/**
 * The batch's slots by layer: layer 0 the jobs without dependencies, then each job one layer after
 * the latest of the batch's jobs it names. A job may name only jobs earlier in the batch, and not itself.
 */
function layersOf(checked: readonly CheckedJob[]): number[][] {
  const slotOfId = new Map<string, number>();
  checked.forEach(({ row }, slot) => {
    if (!slotOfId.has(row.id)) slotOfId.set(row.id, slot);
  });
  const layerOf: number[] = [];
  const layers: number[][] = [];
  checked.forEach(({ dependsOn }, slot) => {
    let layer = 0;
    for (const id of dependsOn ?? []) {
      const named = slotOfId.get(id);
      if (named === undefined) continue;
      if (named >= slot) {
        const field = checked.length > 1 ? `jobs[${slot}].after` : "job.after";
        throw new ValidationError(
          named === slot
            ? `${field} names the job itself`
            : `${field} names jobs[${named}], which comes later in the batch: list a job after those it runs after`,
          { field },
        );
      }
      layer = Math.max(layer, (layerOf[named] as number) + 1);
    }
    if (dependsOn !== null) layer = Math.max(layer, 1);
    layerOf.push(layer);
    const members = layers[layer] ?? [];
    members.push(slot);
    layers[layer] = members;
  });
  return layers;
}

/** One layer's jobs in one statement (see the file's comment); returns their ids, in order. */
async function insertLayer(
  context: StoreContext,
  jobs: readonly { job: CheckedJob; after: string[] }[],
  trace: string | null,
): Promise<string[]> {
  const t = `${context.q}.jobs`;
  const records = jobs.map(({ job: { row }, after }, slot) => ({
    slot,
    id: row.id,
    queue: row.queue,
    name: row.name,
    payload: row.payload,
    priority: row.priority,
    run_at: row.runAt,
    delay_ms: row.delayMs,
    max_attempts: row.maxAttempts,
    backoff_base_ms: row.backoffBase,
    backoff_max_ms: row.backoffMax,
    execution_id: row.executionId,
    group_name: row.group,
    after,
  }));
  const grouped = records.some((record) => record.group_name !== null);
  const { rows } = await context.db.query<{ slot: number; id: string }>(
    `with deps as (
       update ${t} set has_dependents = true where id = any($2::uuid[]) returning id, queue, status, lease_expires_at
     ),
     input as (
       select i.*, ${RUN_AT_SQL} as due,
              (select count(*) from deps d where d.id = any(i.after) and d.status <> 'dead')::int as unmet,
              (select min(d.id::text) from deps d where d.id = any(i.after) and d.status = 'dead')::uuid as dead_dep
         from jsonb_to_recordset($4::jsonb)
           as i(slot int, id uuid, queue text, name text, payload text, priority int, run_at timestamptz,
                delay_ms float8, max_attempts int, backoff_base_ms int, backoff_max_ms int, execution_id uuid,
                group_name text, after uuid[])
     ),
     inserted as (
       insert into ${t} (id, queue, name, payload, status, priority, run_at, max_attempts, backoff_base_ms,
                         backoff_max_ms, execution_id, trace_context, group_name, waiting_for, last_error)
       select id, queue, name, payload::jsonb,
              case when dead_dep is not null then 'dead' when unmet > 0 then 'pending'
                   when due > now() then 'scheduled' else 'waiting' end,
              priority, due, max_attempts, backoff_base_ms, backoff_max_ms, execution_id, $3::text, group_name,
              case when dead_dep is null then unmet else 0 end,
              case when dead_dep is not null then jsonb_build_object(
                'message', format('job %s, which it runs after, went dead', dead_dep), 'dependency', dead_dep) end
         from input order by slot
       returning id, queue, status, group_name, true as fresh
     ),
     edges as (
       insert into ${context.q}.job_dependencies (after_id, job_id)
       select d.id, i.id from input i join deps d on d.id = any(i.after) and d.status <> 'dead'
        where i.dead_dep is null
     ),
     ${grouped ? `${groupsOf(context, "inserted")},` : ""}
     ${addEnqueued(context, "inserted")},
     born_dead as (
       insert into ${context.q}.queue_total_additions (queue, name, n)
       select queue, 'dead', count(*) from inserted where status = 'dead' group by queue
     ),
     -- The new jobs that are ready, and the dependencies a claim can take (ready, or their lease lapsed):
     -- marking one locked it, and a claim skips a locked job, so a worker that claimed meanwhile found
     -- its queue empty and waits for a wake-up.
     woken as (
       ${wakeStatement(
         "$1",
         `(select queue from inserted where status = 'waiting'
           union all select queue from deps
            where status = 'waiting' or (status = 'running' and lease_expires_at < now())) due`,
       )}
     )
     select i.slot, i.id from input i left join woken on true order by i.slot`,
    [
      jobsChannel(context.schema),
      [...new Set(jobs.flatMap(({ after }) => after))],
      trace,
      JSON.stringify(records),
    ],
  );
  return rows.map((row) => row.id);
}
