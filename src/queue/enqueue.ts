/**
 * Enqueueing: a batch of jobs goes in as one INSERT over unnest, with dedupe keys resolved in the same
 * statement and one NOTIFY for the batch (sent when the enclosing transaction, if any, commits).
 *
 * A key has at most one holder (a job waiting, scheduled or running with it: the jobs_key index) and
 * at most one successor (a job enqueued with whileRunning: "after" while the holder ran, kept as
 * 'blocked' until the holder has left the queue: see migration 0013). Enqueueing a key meets the
 * successor if there is one, else the holder: it returns it, or updates it with replace: true (a running
 * holder is never updated); with whileRunning: "after" a running holder without a successor gets one.
 */

import type { StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { isUuid, uuidv7 } from "../core/ids.js";
import {
  integerOption,
  isStorableDate,
  MAX_INT,
  MAX_TTL_MS,
  optionKeys,
  refuseUnknownKeys,
} from "../core/input.js";
import { checkText, toJson } from "../core/payload.js";
import type { SentBatch } from "../core/telemetry.js";
import { jobsChannel, wakeStatement } from "../core/wake.js";
import { groupsOf } from "./groups.js";
import { noteAdditions, queueRuns } from "./total-folds.js";
import { addEnqueued } from "./totals.js";
import type { EnqueueJob } from "./types.js";

/** An enqueue batch as parallel arrays, one entry per slot. */
interface EnqueueColumns {
  id: string[];
  queue: string[];
  name: string[];
  payload: string[];
  priority: number[];
  runAt: (Date | null)[];
  delayMs: (number | null)[];
  maxAttempts: number[];
  backoffBase: number[];
  backoffMax: number[];
  key: (string | null)[];
  executionId: (string | null)[];
  replace: boolean[];
  after: boolean[];
  group: (string | null)[];
}

/**
 * The longest delay: 1,000 years, as for a TTL. Now plus that stays well inside the years 1000 to 9999
 * every stored date keeps to.
 */
const MAX_DELAY_MS = MAX_TTL_MS;

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
                            $17::float8[], $18::bool[], $19::text[])
           with ordinality as i(id, queue, name, payload, priority, run_at, max_attempts, backoff_base_ms,
                                backoff_max_ms, key, execution_id, replace, delay_ms, after, group_name, slot)`;

/** Payloads travel as JSON text: a JSON null in a record would read back as SQL NULL. */
const FROM_RECORDS = `jsonb_to_recordset($5::jsonb)
           as i(id uuid, queue text, name text, payload text, priority int, run_at timestamptz,
                max_attempts int, backoff_base_ms int, backoff_max_ms int, key text, execution_id uuid,
                replace bool, delay_ms float8, after bool, group_name text, slot bigint)`;

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

function sliceColumns(columns: EnqueueColumns, slot: number): EnqueueColumns {
  const one = {} as Record<string, unknown[]>;
  for (const [name, values] of Object.entries(columns)) one[name] = [(values as unknown[])[slot]];
  return one as unknown as EnqueueColumns;
}

const JOB_KEYS = optionKeys<EnqueueJob>({
  queue: true,
  name: true,
  payload: true,
  priority: true,
  runAt: true,
  delayMs: true,
  delaySeconds: true,
  maxAttempts: true,
  backoff: true,
  key: true,
  replace: true,
  whileRunning: true,
  executionId: true,
  id: true,
  group: true,
});
const BACKOFF_KEYS = optionKeys<NonNullable<EnqueueJob["backoff"]>>({ baseMs: true, maxMs: true });

export async function enqueue(
  context: StoreContext,
  input: EnqueueJob | EnqueueJob[],
): Promise<string | string[]> {
  const jobs = Array.isArray(input) ? input : [input];
  if (jobs.length === 0) return [];
  const columns: EnqueueColumns = {
    id: [] as string[],
    queue: [] as string[],
    name: [] as string[],
    payload: [] as string[],
    priority: [] as number[],
    runAt: [] as (Date | null)[],
    delayMs: [] as (number | null)[],
    maxAttempts: [] as number[],
    backoffBase: [] as number[],
    backoffMax: [] as number[],
    key: [] as (string | null)[],
    executionId: [] as (string | null)[],
    replace: [] as boolean[],
    after: [] as boolean[],
    group: [] as (string | null)[],
  };
  // Within one batch a key takes one slot, and the batch does what one call per job would do: the first
  // occurrence goes in (or meets the job already waiting or running with the key), later ones are
  // deduped, and one with replace: true replaces what is there by then. If any occurrence asks to run
  // after a running job, the key's slot does.
  const slotOfKey = new Map<string, number>();
  const slotOfJob: number[] = [];
  jobs.forEach((job, i) => {
    const field = Array.isArray(input) ? `jobs[${i}]` : "job";
    if (typeof job !== "object" || job === null)
      throw new ValidationError(`${field} must be an object`, { field });
    refuseUnknownKeys(job, JOB_KEYS, field);
    if (typeof job.backoff === "object" && job.backoff !== null)
      refuseUnknownKeys(job.backoff, BACKOFF_KEYS, `${field}.backoff`);
    const queue = checkText(job.queue, `${field}.queue`);
    const key = job.key === undefined || job.key === null ? null : checkText(job.key, `${field}.key`);
    if (job.id !== undefined && !isUuid(job.id))
      throw new ValidationError(`${field}.id must be a UUID`, { field: `${field}.id` });
    if (job.executionId !== undefined && job.executionId !== null && !isUuid(job.executionId)) {
      throw new ValidationError(`${field}.executionId must be a UUID`, { field: `${field}.executionId` });
    }
    if (job.runAt !== undefined && !isStorableDate(job.runAt)) {
      throw new ValidationError(`${field}.runAt must be a valid Date from the year 1000 to 9999`, {
        field: `${field}.runAt`,
      });
    }
    const delayMs = checkDelay(job, field);
    const row = {
      id: job.id?.toLowerCase() ?? uuidv7(),
      queue,
      name: checkText(job.name, `${field}.name`),
      payload: toJson(job.payload ?? null, `${field}.payload`, context.limits),
      priority: integerOption(job.priority, `${field}.priority`, { min: -MAX_INT, fallback: 0 }),
      runAt: job.runAt ?? null,
      delayMs,
      maxAttempts: integerOption(job.maxAttempts, `${field}.maxAttempts`, { min: 1, fallback: 25 }),
      backoffBase: integerOption(job.backoff?.baseMs, `${field}.backoff.baseMs`, { min: 0, fallback: 1000 }),
      backoffMax: integerOption(job.backoff?.maxMs, `${field}.backoff.maxMs`, {
        min: 0,
        fallback: 3_600_000,
      }),
      key,
      executionId: job.executionId?.toLowerCase() ?? null,
      replace: job.replace === true,
      after: checkWhileRunning(job.whileRunning, field) === "after" && key !== null,
      group: job.group === undefined || job.group === null ? null : checkText(job.group, `${field}.group`),
    };
    const dedupe = key === null ? undefined : `${queue}\u0000${key}`;
    const existing = dedupe === undefined ? undefined : slotOfKey.get(dedupe);
    if (existing !== undefined) {
      slotOfJob.push(existing);
      if (row.after) columns.after[existing] = true;
      if (!row.replace) return;
      // Replace the earlier occurrence's content, keeping its slot (and id). The slot replaces too: when
      // a job with the key already waits in the table, only a replacing slot updates it.
      columns.payload[existing] = row.payload;
      columns.priority[existing] = row.priority;
      columns.runAt[existing] = row.runAt;
      columns.delayMs[existing] = row.delayMs;
      columns.replace[existing] = true;
      return;
    }
    const slot = columns.id.length;
    if (dedupe !== undefined) slotOfKey.set(dedupe, slot);
    slotOfJob.push(slot);
    for (const name of Object.keys(columns) as (keyof EnqueueColumns)[]) {
      (columns[name] as unknown[]).push(row[name]);
    }
  });

  const { telemetry } = context;
  const idOfSlot = telemetry
    ? await telemetry.send(sentBatch(columns, jobs.length), (trace) => insert(context, columns, trace))
    : await insert(context, columns, null);
  noteAdditions(context, queueRuns(columns.queue));
  const ids = slotOfJob.map((slot) => idOfSlot[slot] as string);
  return Array.isArray(input) ? ids : (ids[0] as string);
}

/**
 * The delay in milliseconds, when given as `delayMs` or as `delaySeconds`: finite, from 0 to
 * MAX_DELAY_MS, and only one of runAt, delayMs and delaySeconds.
 */
function checkDelay(job: EnqueueJob, field: string): number | null {
  const given = (["runAt", "delayMs", "delaySeconds"] as const).filter((name) => job[name] !== undefined);
  if (given.length > 1) {
    throw new ValidationError(
      `${field}: give one of runAt, delayMs and delaySeconds, not ${given.join(" and ")}`,
      {
        field: `${field}.${given[1]}`,
      },
    );
  }
  if (job.delayMs !== undefined) return checkDelayIn(job.delayMs, 1, "delayMs", field);
  if (job.delaySeconds !== undefined) return checkDelayIn(job.delaySeconds, 1000, "delaySeconds", field);
  return null;
}

/** A delay given in units of `unitMs` milliseconds, as milliseconds. */
function checkDelayIn(value: unknown, unitMs: number, name: string, field: string): number {
  const max = MAX_DELAY_MS / unitMs;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max) {
    const unit = unitMs === 1 ? "milliseconds" : "seconds";
    throw new ValidationError(
      `${field}.${name} must be a number of ${unit} from 0 to ${max} (1,000 years), got ${String(value)}`,
      { field: `${field}.${name}` },
    );
  }
  return value * unitMs;
}

function checkWhileRunning(value: unknown, field: string): "dedupe" | "after" {
  if (value === undefined || value === "dedupe" || value === "after") return value ?? "dedupe";
  throw new ValidationError(`${field}.whileRunning must be "dedupe" or "after", got ${String(value)}`, {
    field: `${field}.whileRunning`,
  });
}

/** An enqueue as its span tells it: the jobs given, per queue. */
function sentBatch(columns: EnqueueColumns, count: number): SentBatch {
  const queues = new Map<string, number>();
  for (const queue of columns.queue) queues.set(queue, (queues.get(queue) ?? 0) + 1);
  return { queues, count };
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
              backoff_max_ms, key, execution_id, replace, after, group_name, slot,
              -- A delay counts from the database clock, as every time the queue keeps does.
              coalesce(run_at, now() + delay_ms * interval '1 millisecond', now()) as run_at
         from ${small ? FROM_RECORDS : FROM_ARRAYS}
     ),
     inserted as (
       insert into ${t} as j (id, queue, name, payload, status, priority, run_at, max_attempts,
                              backoff_base_ms, backoff_max_ms, key, execution_id, trace_context, group_name)
       -- A job for later waits apart from the ready set ('scheduled') until a claim finds it due.
       select id, queue, name, payload, case when run_at > now() then 'scheduled' else 'waiting' end,
              priority, run_at, max_attempts, backoff_base_ms, backoff_max_ms, key, execution_id, $4::text,
              group_name
         from input order by slot
       on conflict (queue, key) where key is not null and status in ${live}
       -- The key's holder, now locked. Jobs enqueued with replace: true (ids $2) replace it while it
       -- waits, unless a successor waits behind it (that one is replaced below). Jobs enqueued with
       -- whileRunning: "after" (ids $3) mark it while it runs: it gets a successor (inserted below).
       do update set payload = case when j.status = 'running' then j.payload else excluded.payload end,
                     priority = case when j.status = 'running' then j.priority else excluded.priority end,
                     run_at = case when j.status = 'running' then j.run_at else excluded.run_at end,
                     status = case when j.status = 'running' then j.status else excluded.status end,
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
                              backoff_base_ms, backoff_max_ms, key, execution_id, trace_context, group_name)
       select i.id, i.queue, i.name, i.payload, 'blocked', i.priority, i.run_at, i.max_attempts,
              i.backoff_base_ms, i.backoff_max_ms, i.key, i.execution_id, $4::text, i.group_name
         from input i join inserted h on h.queue = i.queue and h.key = i.key and h.status = 'running'
       on conflict (queue, key) where key is not null and status = 'blocked'
       do update set payload = excluded.payload, priority = excluded.priority, run_at = excluded.run_at,
                     updated_at = now()
         where excluded.id = any($2::uuid[])
       returning s.id, s.queue, s.key, s.group_name, s.xmax = 0 as fresh
     ),
     ${grouped ? `${groupsOf(context, "(select queue, group_name, status, fresh from inserted union all select queue, group_name, 'blocked', fresh from successors)")},` : ""}
     ${addEnqueued(context, "(select queue from inserted where fresh union all select queue from successors where fresh)")},
     successor_replaced as (
       -- A successor that already waits, replaced. Only once every holder above is locked: the release
       -- trigger locks a holder, then its successor, and this takes them in that order too.
       update ${t} s set payload = i.payload, priority = i.priority, run_at = i.run_at, updated_at = now()
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
    ids[slot] = (await insert(context, sliceColumns(columns, slot), trace))[0] as string;
  }
  return ids;
}
