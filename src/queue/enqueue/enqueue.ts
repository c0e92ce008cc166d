/**
 * Enqueueing: a batch of jobs goes in as one INSERT over unnest, with dedupe keys resolved in the same
 * statement and one NOTIFY for the batch (sent when the enclosing transaction, if any, commits).
 *
 * A key has at most one holder (a job waiting, scheduled or running with it: the jobs_key index) and
 * at most one successor (a job enqueued with whileRunning: "after" while the holder ran, kept as
 * 'blocked' until the holder has left the queue: see migration 0013). Enqueueing a key meets the
 * successor if there is one, else the holder: it returns it, or updates it with replace: true (a running
 * holder is never updated); with whileRunning: "after" a running holder without a successor gets one.
 * A batch with jobs that run after others (`after`) goes through dependents.ts, which enqueues its
 * other jobs here.
 */

import { inTransaction, type StoreContext } from "../../core/context.js";
import type { SentBatch } from "../../core/telemetry.js";
import { jobsChannel, wakeStatement } from "../../core/wake.js";
import { WriteBatcher } from "../../core/write-batch.js";
import { groupsOf } from "../groups.js";
import { noteAdditions, queueRuns } from "../total-folds.js";
import { addEnqueued } from "../totals.js";
import type { EnqueueJob } from "../types.js";
import { insertWithDependencies } from "./dependents.js";
import {
  type CheckedJob,
  type EnqueueColumns,
  jobRow,
  RUN_AT_SQL,
  type ThrottleWindow,
} from "./enqueue-input.js";
import { type ThrottledSlot, takeWindows } from "./throttle.js";

/**
 * How a batch reaches the statement. The server estimates the rows of unnest() over arrays at their
 * length, and of jsonb_to_recordset() at 100 whatever the batch. A prepared statement keeps a generic
 * plan (made for ten rows of unnest) only while the batches it runs are not much cheaper planned for
 * their own size: batches of a job or a few were planned again and again, at about 3 ms a plan for
 * this statement (eight callers enqueueing one job at a time: 770 jobs/s, 1.8 ms of server CPU a job;
 * now 2,000 and 0.43 ms). So small batches come as one JSON array of records, estimated alike whatever
 * they hold, and larger ones as arrays, which the server reads faster (4 us a job less).
 */
const ARRAYS_FROM = 10;

const FROM_ARRAYS = `unnest($5::uuid[], $6::text[], $7::text[], $8::text[], $9::int[], $10::timestamptz[],
                            $11::int[], $12::int[], $13::int[], $14::text[], $15::uuid[], $16::bool[],
                            $17::float8[], $18::bool[], $19::text[], $20::int[], $21::float8[], $22::text[])
           with ordinality as i(id, queue, name, payload, priority, run_at, max_attempts, backoff_base_ms,
                                backoff_max_ms, key, execution_id, replace, delay_ms, after, group_name,
                                absorbs, run_by_ms, trace_context, slot)`;

/** Payloads travel as JSON text: a JSON null in a record would read back as SQL NULL. */
const FROM_RECORDS = `jsonb_to_recordset($5::jsonb)
           as i(id uuid, queue text, name text, payload text, priority int, run_at timestamptz,
                max_attempts int, backoff_base_ms int, backoff_max_ms int, key text, execution_id uuid,
                replace bool, delay_ms float8, after bool, group_name text, absorbs int, run_by_ms float8,
                trace_context text, slot bigint)`;

/** Each column of the batch under its name in the statement, in the order of FROM_ARRAYS. */
const FIELDS = [
  ["id", "id"],
  ["queue", "queue"],
  ["name", "name"],
  ["payload", "payload"],
  ["priority", "priority"],
  ["run_at", "runAt"],
  ["max_attempts", "maxAttempts"],
  ["backoff_base_ms", "backoffBase"],
  ["backoff_max_ms", "backoffMax"],
  ["key", "key"],
  ["execution_id", "executionId"],
  ["replace", "replace"],
  ["delay_ms", "delayMs"],
  ["after", "after"],
  ["group_name", "group"],
  ["absorbs", "absorbs"],
  ["run_by_ms", "runByMs"],
  ["trace_context", "trace"],
] as const satisfies readonly (readonly [string, keyof EnqueueColumns])[];

function arraysOf(columns: EnqueueColumns): unknown[] {
  return FIELDS.map(([, field]) => columns[field]);
}

function recordsOf(columns: EnqueueColumns): string {
  const records = columns.id.map((_, slot) => {
    const record: Record<string, unknown> = { slot: slot + 1 };
    for (const [name, field] of FIELDS) record[name] = columns[field][slot];
    return record;
  });
  return JSON.stringify(records);
}

/** The columns of some slots of a batch, in the order given. */
function pickColumns(columns: EnqueueColumns, slots: readonly number[]): EnqueueColumns {
  const picked = {} as Record<string, unknown[]>;
  for (const [name, values] of Object.entries(columns))
    picked[name] = slots.map((slot) => (values as unknown[])[slot]);
  return picked as unknown as EnqueueColumns;
}

/**
 * Jobs enqueued one at a time outside a transaction share statements (core/write-batch.ts): one INSERT
 * and one commit for the jobs enqueued while the last one was on its way, each caller answered once
 * its job has committed. Two jobs of one key never share a statement, so a key's enqueues meet each
 * other in the table as they would one after the other. A job that runs after others or is throttled
 * takes its own path. Each job keeps its own trace context when the store has telemetry.
 */
export type EnqueueBatcher = WriteBatcher<CheckedJob, string>;

export function enqueueBatcher(context: StoreContext): EnqueueBatcher {
  return new WriteBatcher(
    async (jobs) => {
      const ids = await insertChecked(context, jobs, null);
      noteAdditions(context, queueRuns(jobs.map(({ row }) => row.queue)));
      return ids;
    },
    ({ row }) => (row.key === null ? `id\u0000${row.id}` : `key\u0000${row.queue}\u0000${row.key}`),
  );
}

/**
 * Enqueues `input`; a single job through `batcher` (given outside a transaction) unless it runs after
 * others or is throttled.
 */
export async function enqueue(
  context: StoreContext,
  input: EnqueueJob | EnqueueJob[],
  batcher?: EnqueueBatcher,
): Promise<string | string[]> {
  const jobs = Array.isArray(input) ? input : [input];
  if (jobs.length === 0) return [];
  const checked = jobs.map((job, i) => jobRow(context, job, Array.isArray(input) ? `jobs[${i}]` : "job"));
  const { telemetry } = context;
  const [only] = checked;
  if (batcher && only && !Array.isArray(input) && only.dependsOn === null && only.throttle === null) {
    // Undefined when its batch failed for one job's sake: then it goes alone, for its own answer. Traced,
    // the job carries the context of its own "send" span, whatever batch it shares.
    const write = async (trace: string | null) => {
      const id = await batcher.write({ ...only, row: { ...only.row, trace } });
      return id === undefined ? [] : [id];
    };
    const [id] = telemetry ? await telemetry.send(sentBatch([only.row.queue]), write) : await write(null);
    if (id !== undefined) return id;
  }
  const queues = checked.map(({ row }) => row.queue);
  const send = (trace: string | null) =>
    checked.some(({ dependsOn }) => dependsOn !== null)
      ? insertWithDependencies(context, checked, trace, insertChecked)
      : insertChecked(context, checked, trace);
  const ids = telemetry ? await telemetry.send(sentBatch(queues), send) : await send(null);
  noteAdditions(context, queueRuns(queues));
  return Array.isArray(input) ? ids : (ids[0] as string);
}

/** Jobs without dependencies, checked: their ids, in order (a keyed job may get an existing job's id). */
async function insertChecked(
  context: StoreContext,
  checked: readonly CheckedJob[],
  trace: string | null,
): Promise<string[]> {
  const columns: EnqueueColumns = {
    id: [],
    queue: [],
    name: [],
    payload: [],
    priority: [],
    runAt: [],
    delayMs: [],
    maxAttempts: [],
    backoffBase: [],
    backoffMax: [],
    key: [],
    executionId: [],
    replace: [],
    after: [],
    group: [],
    absorbs: [],
    runByMs: [],
    trace: [],
  };
  // Within one batch a key takes one slot, and the batch does what one call per job would do: the first
  // occurrence goes in (or meets the job already waiting or running with the key), later ones are
  // deduped, and one with replace: true replaces what is there by then. If any occurrence asks to run
  // after a running job, the key's slot does. A throttle key takes one slot too, its first occurrence's.
  const slotOfKey = new Map<string, number>();
  const slotOfJob: number[] = [];
  const throttleOf = new Map<number, ThrottleWindow>();
  for (const { row, throttle } of checked) {
    const dedupe =
      row.key !== null
        ? `${row.queue}\u0000${row.key}`
        : throttle
          ? `throttle\u0000${row.queue}\u0000${throttle.key}`
          : undefined;
    const existing = dedupe === undefined ? undefined : slotOfKey.get(dedupe);
    if (existing !== undefined) {
      slotOfJob.push(existing);
      if (throttle) columns.absorbs[existing] = (columns.absorbs[existing] as number) + 1;
      if (row.after) columns.after[existing] = true;
      if (!row.replace) continue;
      // Replace the earlier occurrence's content, keeping its slot (and id). The slot replaces too: when
      // a job with the key already waits in the table, only a replacing slot updates it.
      columns.payload[existing] = row.payload;
      columns.priority[existing] = row.priority;
      columns.runAt[existing] = row.runAt;
      columns.delayMs[existing] = row.delayMs;
      columns.replace[existing] = true;
      columns.absorbs[existing] = (columns.absorbs[existing] as number) + 1;
      continue;
    }
    const slot = columns.id.length;
    if (dedupe !== undefined) slotOfKey.set(dedupe, slot);
    if (throttle) throttleOf.set(slot, throttle);
    slotOfJob.push(slot);
    for (const name of Object.keys(columns) as (keyof EnqueueColumns)[]) {
      (columns[name] as unknown[]).push(row[name]);
    }
  }
  const idOfSlot =
    throttleOf.size === 0
      ? await insert(context, columns, trace)
      : await insertThrottled(context, columns, throttleOf, trace);
  return slotOfJob.map((slot) => idOfSlot[slot] as string);
}

/**
 * A batch with throttled jobs: in one transaction (the caller's, if any), the windows are taken first
 * (throttle.ts), then the jobs are inserted but those whose window is still open, which get the job
 * that window made.
 */
async function insertThrottled(
  context: StoreContext,
  columns: EnqueueColumns,
  throttleOf: ReadonlyMap<number, ThrottleWindow>,
  trace: string | null,
): Promise<string[]> {
  const run = async (c: StoreContext) => {
    const slots: ThrottledSlot[] = [...throttleOf].map(([slot, window]) => ({
      ...window,
      slot,
      queue: columns.queue[slot] as string,
      id: columns.id[slot] as string,
      absorbs: columns.absorbs[slot] as number,
    }));
    const made = await takeWindows(c, slots);
    const fresh = columns.id.flatMap((_, slot) => (made.has(slot) ? [] : [slot]));
    const ids = fresh.length > 0 ? await insert(c, pickColumns(columns, fresh), trace) : [];
    const idOfSlot = columns.id.map((_, slot) => made.get(slot) as string);
    fresh.forEach((slot, n) => {
      idOfSlot[slot] = ids[n] as string;
    });
    return idOfSlot;
  };
  return context.db.inTransaction
    ? run(context)
    : context.db.transaction((tx) => run(inTransaction(context, tx)));
}

/** An enqueue as its span tells it: the jobs given, per queue. */
function sentBatch(queueOfJob: readonly string[]): SentBatch {
  const queues = new Map<string, number>();
  for (const queue of queueOfJob) queues.set(queue, (queues.get(queue) ?? 0) + 1);
  return { queues, count: queueOfJob.length };
}

/**
 * One INSERT for the whole batch; returns each slot's id (a keyed job may get an existing job's id).
 * `trace`: the trace context the jobs carry to their handlers, when the store has telemetry.
 */
async function insert(
  context: StoreContext,
  columns: EnqueueColumns,
  trace: string | null,
): Promise<string[]> {
  const t = `${context.q}.jobs`;
  const live = "('waiting', 'scheduled', 'running')";
  const small = columns.id.length < ARRAYS_FROM;
  // A batch without groups (most) sends the statement without the groups' inserts: nothing to do there.
  const grouped = columns.group.some((group) => group !== null);
  const { rows } = await context.db.query<{ slot: number; id: string | null }>(
    `with input as (
       select id, queue, name, payload::jsonb as payload, priority, max_attempts, backoff_base_ms,
              backoff_max_ms, key, execution_id, replace, after, group_name, slot, absorbs,
              -- A job's own trace context (one enqueued through the batcher), else the statement's.
              coalesce(trace_context, $4::text) as trace_context,
              -- A debounced job's first enqueue runs no later than its maxMs either (least() skips a null).
              least(${RUN_AT_SQL}, now() + run_by_ms * interval '1 millisecond') as run_at,
              now() + run_by_ms * interval '1 millisecond' as run_by
         from ${small ? FROM_RECORDS : FROM_ARRAYS}
     ),
     inserted as (
       insert into ${t} as j (id, queue, name, payload, status, priority, run_at, max_attempts,
                              backoff_base_ms, backoff_max_ms, key, execution_id, trace_context, group_name,
                              absorbed, run_by)
       -- A job for later waits apart from the ready set ('scheduled') until a claim finds it due.
       select id, queue, name, payload, case when run_at > now() then 'scheduled' else 'waiting' end,
              priority, run_at, max_attempts, backoff_base_ms, backoff_max_ms, key, execution_id, trace_context,
              group_name, absorbs, run_by
         from input order by slot
       on conflict (queue, key) where key is not null and status in ${live}
       -- The key's holder, now locked. Jobs enqueued with replace: true (ids $2) replace it while it
       -- waits, unless a successor waits behind it (that one is replaced below). Jobs enqueued with
       -- whileRunning: "after" (ids $3) mark it while it runs: it gets a successor (inserted below).
       -- A debounced job (run_by set) is moved no later than run_by.
       do update set payload = case when j.status = 'running' then j.payload else excluded.payload end,
                     priority = case when j.status = 'running' then j.priority else excluded.priority end,
                     run_at = case when j.status = 'running' then j.run_at
                                   else least(excluded.run_at, coalesce(j.run_by, excluded.run_at)) end,
                     status = case when j.status = 'running' then j.status
                                   when least(excluded.run_at, coalesce(j.run_by, excluded.run_at)) > now()
                                   then 'scheduled' else 'waiting' end,
                     absorbed = case when j.status = 'running' then j.absorbed
                                     else j.absorbed + excluded.absorbed + 1 end,
                     has_successor = j.has_successor or j.status = 'running',
                     updated_at = now()
         where (j.status in ('waiting', 'scheduled') and excluded.id = any($2::uuid[])
                -- A scalar subquery, so that it probes jobs_key_successor per conflict: as not exists,
                -- a large batch may be planned to hash every job of the table first.
                and (select s.id from ${t} s where s.queue = j.queue and s.key = j.key and s.status = 'blocked') is null)
            or (j.status = 'running' and excluded.id = any($3::uuid[]))
       -- Fresh: inserted, not met (a row an ON CONFLICT update changed has this transaction in xmax).
       returning j.id, j.queue, j.key, j.status, j.group_name, j.xmax = 0 as fresh
     ),
     successors as (
       -- Behind a running holder marked above. Its lock, held until commit, keeps it from ending before
       -- the successor is there for the release trigger to find.
       insert into ${t} as s (id, queue, name, payload, status, priority, run_at, max_attempts,
                              backoff_base_ms, backoff_max_ms, key, execution_id, trace_context, group_name,
                              absorbed, run_by)
       select i.id, i.queue, i.name, i.payload, 'blocked', i.priority, i.run_at, i.max_attempts,
              i.backoff_base_ms, i.backoff_max_ms, i.key, i.execution_id, i.trace_context, i.group_name,
              i.absorbs, i.run_by
         from input i join inserted h on h.queue = i.queue and h.key = i.key and h.status = 'running'
       on conflict (queue, key) where key is not null and status = 'blocked'
       do update set payload = excluded.payload, priority = excluded.priority,
                     run_at = least(excluded.run_at, coalesce(s.run_by, excluded.run_at)),
                     absorbed = s.absorbed + excluded.absorbed + 1, updated_at = now()
         where excluded.id = any($2::uuid[])
       returning s.id, s.queue, s.key, s.group_name, s.xmax = 0 as fresh
     ),
     ${grouped ? `${groupsOf(context, "(select queue, group_name, status, fresh from inserted union all select queue, group_name, 'blocked', fresh from successors)")},` : ""}
     ${addEnqueued(context, "(select queue from inserted where fresh union all select queue from successors where fresh)")},
     successor_replaced as (
       -- A successor that already waits, replaced. Only once every holder above is locked: the release
       -- trigger locks a holder, then its successor, and this takes them in that order too.
       update ${t} s set payload = i.payload, priority = i.priority,
                         run_at = least(i.run_at, coalesce(s.run_by, i.run_at)),
                         absorbed = s.absorbed + i.absorbs + 1, updated_at = now()
         from input i
        where (select count(*) from inserted) >= 0
          and s.queue = i.queue and s.key = i.key and s.status = 'blocked' and i.replace
          and not exists (select 1 from inserted h where h.queue = i.queue and h.key = i.key and h.status = 'running')
       returning s.id, s.queue, s.key
     ),
     woken as (
       -- Workers are woken for jobs they can run now; scheduled ones are found by a claim once due.
       ${wakeStatement("$1", "(select queue from inserted where status = 'waiting') due")}
     )
     -- Equality joins only (hash joins). A fresh job returns its own id; a keyed job that met another
     -- returns the one it met: the successor if there is one, else the holder, whether it updated it
     -- (returned above) or not (read here). A job that was to follow a running holder but met neither a
     -- successor nor a holder it could mark has none yet (null): it is enqueued again.
     select (i.slot - 1)::int as slot,
            coalesce(fresh.id, replaced.id, successor.id, successor_replaced.id, waiting_successor.id,
                     case when holder.status = 'running' and i.after then null else holder.id end) as id
       from input i
       left join inserted fresh on fresh.id = i.id
       left join inserted replaced on replaced.queue = i.queue and replaced.key = i.key
                                   and replaced.status <> 'running'
       left join successors successor on successor.queue = i.queue and successor.key = i.key
       left join successor_replaced on successor_replaced.queue = i.queue and successor_replaced.key = i.key
       left join ${t} waiting_successor on waiting_successor.queue = i.queue and waiting_successor.key = i.key
                                          and waiting_successor.status = 'blocked'
       left join ${t} holder on holder.queue = i.queue and holder.key = i.key and holder.status in ${live}
       left join woken on true`,
    [
      jobsChannel(context.schema),
      columns.id.filter((_, slot) => columns.replace[slot]),
      columns.id.filter((_, slot) => columns.after[slot]),
      trace,
      ...(small ? [recordsOf(columns)] : arraysOf(columns)),
    ],
    { prepare: true },
  );
  const ids = new Array<string>(columns.id.length);
  const missing: number[] = [];
  for (const row of rows) {
    if (row.id) ids[row.slot] = row.id;
    else missing.push(row.slot);
  }
  // A keyed job that met a job a concurrent transaction committed after this statement's snapshot was
  // taken: the insert saw the conflict, the snapshot cannot see the row. Enqueued again, it sees it.
  for (const slot of missing) {
    ids[slot] = (await insert(context, pickColumns(columns, [slot]), trace))[0] as string;
  }
  return ids;
}
