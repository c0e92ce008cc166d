/**
 * The checkpointer's statements. Each read and write of the saver is one statement, so no transaction
 * is ever open while LangGraph (or anything else) runs between two of them, and a put or a putWrites
 * costs one round trip and one commit; deleting takes two statements in a short transaction (see
 * the retention statements below). `q` is the quoted schema; `$1` is always the saver's scope.
 */

import { idBatch, PROBE } from "../../core/planned-few.js";

/**
 * How old a thread's updated_at grows before a put refreshes it. Refreshing at every put would rewrite
 * the thread's row and its entry in the updated_at index at every step of a graph; so updated_at may
 * lag the thread's last put by this much, and retention allows for it (idleThreadsSql).
 */
const THREAD_REFRESH = "interval '1 minute'";

const CHECKPOINT_COLUMNS =
  "thread_id, checkpoint_ns, checkpoint_id, parent_id, checkpoint, metadata, metadata_type, metadata_bytes";

/**
 * Checkpoints with the channel values their versions name and their writes, in one statement: rows
 * of kind 0 (a checkpoint), 1 (a channel value) and 2 (a pending write), each with the `n` of the
 * request (`c`, a query of `n` and CHECKPOINT_COLUMNS) that picked its checkpoint.
 */
function tuplesSql(q: string, c: string): string {
  return `with c as (${c})
select c.n, 0 as kind, c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_id as name, null::text as channel,
  c.metadata_type as type, c.checkpoint, c.metadata::text as metadata, c.metadata_bytes as data,
  null::integer as idx, null::text as task_path
from c
union all
select c.n, 1, c.thread_id, c.checkpoint_ns, c.checkpoint_id, b.channel, null, b.type, null, null, b.blob, null, null
from c
-- The channels as an array's elements: the planner counts those at 10 a checkpoint, where it counts
-- any jsonb function's rows at 100; at 100 the read's estimate passed jit_above_cost, and a server
-- with JIT on compiled every read (23 ms for a read that runs in 0.1 ms).
cross join lateral unnest(array(select jsonb_object_keys(c.checkpoint -> 'channel_versions'))) as k(channel)
cross join lateral (select k.channel, c.checkpoint -> 'channel_versions' ->> k.channel as version) as v
cross join lateral (
  -- one index probe per channel (not a scan of the thread's values): the limit keeps the planner from
  -- turning this into a join over all of them
  select b.channel, b.type, b.blob from ${q}.langgraph_blobs b
  where b.scope = $1 and b.thread_id = c.thread_id and b.checkpoint_ns = c.checkpoint_ns
    and b.channel = v.channel collate "C" and b.version = v.version collate "C"
  limit 1
) as b
union all
select c.n, 2, c.thread_id, c.checkpoint_ns, c.checkpoint_id, w.task_id, w.channel, w.type, null, null, w.blob,
  w.idx, w.task_path
from c
cross join lateral (
  -- one index probe per checkpoint: offset 0 keeps the subquery from being flattened into a join,
  -- which the planner (not knowing how few checkpoints c holds) made a hash join over a scan of every
  -- write of the scope
  select w.task_id, w.channel, w.type, w.blob, w.idx, w.task_path from ${q}.langgraph_writes w
  where w.scope = $1 and w.thread_id = c.thread_id and w.checkpoint_ns = c.checkpoint_ns
    and w.checkpoint_id = c.checkpoint_id
  offset 0
) as w`;
}

/**
 * The tuples of many getTuple calls: $2 is a JSON array of requests `{ n, thread_id, ns, id }`, each
 * asking for the checkpoint of that id or, where the id is null, the latest of the thread's namespace.
 * As one JSON record set rather than arrays: the server estimates its rows the same whatever the batch,
 * so the statement keeps one cached plan, where arrays of a few requests were planned again at every
 * call (planning cost more than running it).
 */
export const tupleBatchSql = (q: string) =>
  tuplesSql(
    q,
    `select k.n, x.* from jsonb_to_recordset($2::jsonb) as k(n bigint, thread_id text, ns text, id text)
  cross join lateral (
    (select ${CHECKPOINT_COLUMNS} from ${q}.langgraph_checkpoints
     where scope = $1 and thread_id = k.thread_id and checkpoint_ns = k.ns and checkpoint_id = k.id)
    union all
    (select ${CHECKPOINT_COLUMNS} from ${q}.langgraph_checkpoints
     where k.id is null and scope = $1 and thread_id = k.thread_id and checkpoint_ns = k.ns
     order by checkpoint_id desc limit 1)
  ) as x`,
  );

/** The tuples `list` reads: the checkpoints of the scope that `where` and `tail` (order, limit) pick. */
export const listSql = (q: string, where: string, tail: string) =>
  tuplesSql(
    q,
    `select 0::bigint as n, ${CHECKPOINT_COLUMNS} from ${q}.langgraph_checkpoints where scope = $1 and ${where} ${tail}`,
  );

/**
 * Puts and task writes of any number of calls, in one statement: the checkpoints ($2 threads,
 * $3 namespaces, $4 ids, $5 parents, $6 bodies, $7 metadata, $8 its type and $9 its bytes when the
 * JSON is not the serializer's own output), their new channel values ($10-$15; a value already stored
 * under its version stays as it was), their threads' rows and the task writes ($16-$24: a write
 * already stored under its task and index stays, except a special channel's, with a negative index:
 * error, interrupt, resume..., which replaces it).
 *
 * The threads' rows (of the checkpoints and of the task writes) come first, before any other row is
 * written or locked: each is created, or locked until the statement commits (its time refreshed only
 * once it is THREAD_REFRESH old, so a busy thread is not rewritten on every put). Retention and
 * deleteThread lock a thread's row before they delete anything of it, and read what to delete only
 * once they hold it; so they wait for a put in flight and see its checkpoint, or the put waits for them
 * and then creates the row again: no checkpoint or task write is ever left without the row retention
 * walks. The order of a statement's WITH parts is not defined, so the others join `held`, which
 * cannot be read before every thread's row is. Rows are written in key order, threads first, so two
 * statements that share rows wait for each other but do not deadlock.
 *
 * A put stores only the values its new versions name, and reads the others from its parent: a thread
 * deleted (or pruned) between two puts of a run would leave the next checkpoint naming values that are
 * gone. So a checkpoint with a parent ($5) is stored only if its parent still is, or if the put brings
 * every value it names ($25); the parent is locked (key share) once the thread's row is held, which
 * reads it as committed then, not as the statement's older snapshot saw it, and keeps it until the
 * put commits. Each parent is one probe of the index (PROBE): the store's pools plan a statement once,
 * often while the table is empty, and as a join the check was planned as a read of every checkpoint of
 * the scope, which it stayed as the table grew. The statement returns the checkpoints it did not
 * store, for the saver to put again with all their values.
 *
 * Task writes come after their checkpoint's put, so a delete may land between: a thread whose row the
 * statement made anew for task writes alone was deleted, with the checkpoint the writes belong to. Its
 * writes are not stored, and the statement returns the thread (with no checkpoint) for the saver to
 * take its empty row away again (dropEmptyThreads): the row had to be made to be locked in order.
 */
export const writeBatchSql = (q: string) => `with threads as (
  insert into ${q}.langgraph_threads as t (scope, thread_id)
  select distinct $1, u.thread_id collate "C" from unnest($2::text[] || $16::text[]) as u(thread_id) order by 2
  -- The proposed row's time (its default, now()): Citus refuses a call of now() in a conflict clause,
  -- and any function not immutable in its WHERE (a time minus an interval is only stable; the
  -- difference of two times is immutable).
  on conflict (scope, thread_id) do update set updated_at = excluded.updated_at
  where excluded.updated_at - t.updated_at > ${THREAD_REFRESH}
  returning t.thread_id, t.xmax = 0 as created
), held as (
  select count(*) from threads
), gone as (
  select thread_id from threads where created and thread_id <> all($2::text[])
), blobs as (
  insert into ${q}.langgraph_blobs (scope, thread_id, checkpoint_ns, channel, version, type, blob)
  select $1, u.thread_id, u.checkpoint_ns, u.channel, u.version, u.type, u.blob
  from unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bytea[])
    as u(thread_id, checkpoint_ns, channel, version, type, blob)
  cross join held
  order by u.thread_id collate "C", u.checkpoint_ns collate "C", u.channel collate "C", u.version collate "C"
  on conflict do nothing
), checked as materialized (
  select u.*, u.parent_id is null or u.whole or exists (
      select 1 from ${q}.langgraph_checkpoints p
      where p.scope = $1 and p.thread_id = u.thread_id and p.checkpoint_ns = u.checkpoint_ns
        and p.checkpoint_id = u.parent_id
      ${PROBE} for key share
    ) as stored
  from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[],
    $25::boolean[])
    as u(thread_id, checkpoint_ns, checkpoint_id, parent_id, checkpoint, metadata, metadata_type, metadata_bytes,
      whole)
  cross join held
), checkpoints as (
  insert into ${q}.langgraph_checkpoints
    (scope, thread_id, checkpoint_ns, checkpoint_id, parent_id, checkpoint, metadata, metadata_type, metadata_bytes)
  select $1, u.thread_id, u.checkpoint_ns, u.checkpoint_id, u.parent_id, u.checkpoint::jsonb, u.metadata::jsonb,
    u.metadata_type, u.metadata_bytes
  from checked u
  cross join held
  where u.stored
  order by u.thread_id collate "C", u.checkpoint_ns collate "C", u.checkpoint_id collate "C"
  on conflict (scope, thread_id, checkpoint_ns, checkpoint_id) do update
  set parent_id = excluded.parent_id, checkpoint = excluded.checkpoint, metadata = excluded.metadata,
    metadata_type = excluded.metadata_type, metadata_bytes = excluded.metadata_bytes
), writes as (
  insert into ${q}.langgraph_writes as w
    (scope, thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
  select $1, u.thread_id, u.checkpoint_ns, u.checkpoint_id, u.task_id, u.task_path, u.idx, u.channel, u.type, u.blob
  from unnest($16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::integer[], $22::text[],
    $23::text[], $24::bytea[])
    as u(thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
  cross join held
  where not exists (select 1 from gone g where g.thread_id = u.thread_id)
  order by u.thread_id collate "C", u.checkpoint_ns collate "C", u.checkpoint_id collate "C",
    u.task_id collate "C", u.idx
  on conflict (scope, thread_id, checkpoint_ns, checkpoint_id, task_id, idx) do update
  set task_path = excluded.task_path, channel = excluded.channel, type = excluded.type, blob = excluded.blob
  where excluded.idx < 0
)
select thread_id, checkpoint_ns, checkpoint_id from checked where not stored
union all
select thread_id, null, null from gone`;

/** The TASKS writes to parent checkpoints ($2 threads, $3 namespaces, $4 ids), for checkpoints before v4. */
export const pendingSendsSql = (
  q: string,
) => `select w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.type, w.blob as data
from ${q}.langgraph_writes w
join unnest($2::text[], $3::text[], $4::text[]) as p(thread_id, checkpoint_ns, checkpoint_id)
  on w.scope = $1 and w.thread_id = p.thread_id and w.checkpoint_ns = p.checkpoint_ns
  and w.checkpoint_id = p.checkpoint_id
where w.channel = $5
order by w.task_path, w.task_id, w.idx`;

/**
 * Retention and deleteThread run in a transaction of two statements: the first locks the threads'
 * rows, the second deletes what they hold. A put holds its threads' rows until it commits (see
 * writeBatchSql), and the second statement reads with a snapshot taken once the first holds them: so
 * it sees every checkpoint a put committed on those threads, and no put adds one before it commits.
 * One statement could not: its snapshot is older than its locks, so it would miss the checkpoint of a
 * put that committed in between, then delete that checkpoint's thread row.
 */

/**
 * Locks thread $2 of the scope, waiting for the puts that hold it. Where it has no row, one is made
 * (and goes with the rest): a put creating the row is waited for, and a later one waits in turn.
 */
export const lockThreadSql = (q: string) => `insert into ${q}.langgraph_threads as t (scope, thread_id)
  values ($1, $2)
  on conflict (scope, thread_id) do update set updated_at = t.updated_at`;

/** Locks threads $2 of the scope, in id order as puts lock them; those without a row are left. */
export const lockThreadsSql = (q: string) => `select thread_id from ${q}.langgraph_threads
  where scope = $1 and thread_id = any($2::text[])
  order by thread_id
  for update`;

/** Of threads $2 of the scope, those that hold no checkpoint. */
export const emptyThreadsSql = (q: string) => `select t.thread_id from ${q}.langgraph_threads t
  where t.scope = $1 and t.thread_id = any($2::text[])
    and not exists (select 1 from ${q}.langgraph_checkpoints c where c.scope = $1 and c.thread_id = t.thread_id)`;

/**
 * Locks every thread of the scope, in id order as puts lock them, waiting for the puts that hold them.
 * A thread whose row a put is creating is not among them, so it is not deleted.
 */
export const lockScopeSql = (q: string) => `select thread_id from ${q}.langgraph_threads
  where scope = $1
  order by thread_id
  for update`;

/**
 * A batch of at most $3 threads of the scope no put wrote to for $2 milliseconds, oldest first, locked;
 * those a put or another pruner holds are skipped. A thread's updated_at lags its last put by up to
 * THREAD_REFRESH, so a thread counts as idle only once updated_at is that much older again: never
 * early, up to THREAD_REFRESH late. The server's clock decides, as it wrote updated_at.
 */
export const lockIdleThreadsSql = (q: string) => `select thread_id from ${q}.langgraph_threads
  where scope = $1 and updated_at < now() - $2::float8 * interval '1 millisecond' - ${THREAD_REFRESH}
  order by updated_at
  limit $3
  for update skip locked`;

/**
 * A batch of at most $3 threads of the scope after $2 in id order, written to since $4, locked; those
 * a put or another pruner holds are skipped.
 */
export const lockTouchedThreadsSql = (q: string) => `select thread_id from ${q}.langgraph_threads
  where scope = $1 and thread_id > $2 and updated_at >= $4
  order by thread_id
  limit $3
  for update skip locked`;

/**
 * The threads $2 of a retention batch, as the planner must see them to find each thread's rows by index
 * (see core/planned-few.ts): joined as unnest($2) or matched as = any($2), a batch of 500 was
 * taken for much of each table and read it whole.
 */
const THREADS = idBatch(2, "text");

/**
 * Deletes threads $2 of the scope whole, everything they hold. Returns how many rows of each kind went.
 */
export const deleteThreadsSql = (q: string) => `with checkpoints as (
  delete from ${q}.langgraph_checkpoints where scope = $1 and thread_id = any(${THREADS}) returning 1
), writes as (
  delete from ${q}.langgraph_writes where scope = $1 and thread_id = any(${THREADS}) returning 1
), blobs as (
  delete from ${q}.langgraph_blobs where scope = $1 and thread_id = any(${THREADS}) returning 1
), threads as (
  delete from ${q}.langgraph_threads where scope = $1 and thread_id = any(${THREADS}) returning 1
)
select (select count(*) from threads)::integer as threads,
  (select count(*) from checkpoints)::integer as checkpoints,
  (select count(*) from writes)::integer as writes,
  (select count(*) from blobs)::integer as blobs`;

/**
 * Trims threads $2 of the scope to their newest $3 checkpoints per namespace: their older checkpoints
 * go, with their writes and the channel values no kept checkpoint names.
 */
export const keepLatestSql = (q: string) => `with ranked as (
  select c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.checkpoint -> 'channel_versions' as versions,
    row_number() over (partition by c.thread_id, c.checkpoint_ns order by c.checkpoint_id desc) as n
  from ${q}.langgraph_checkpoints c
  where c.scope = $1 and c.thread_id = any(${THREADS})
), gone as (
  delete from ${q}.langgraph_checkpoints c using ranked r
  where r.n > $3 and c.scope = $1 and c.thread_id = r.thread_id and c.checkpoint_ns = r.checkpoint_ns
    and c.checkpoint_id = r.checkpoint_id
  returning c.thread_id, c.checkpoint_ns, c.checkpoint_id
), writes as (
  delete from ${q}.langgraph_writes w using gone g
  where w.scope = $1 and w.thread_id = g.thread_id and w.checkpoint_ns = g.checkpoint_ns
    and w.checkpoint_id = g.checkpoint_id
  returning 1
), blobs as (
  delete from ${q}.langgraph_blobs b
  where b.scope = $1 and b.thread_id in (select thread_id from gone)
    and not exists (
      select 1 from ranked r
      where r.n <= $3 and r.thread_id = b.thread_id and r.checkpoint_ns = b.checkpoint_ns
        and (r.versions ->> b.channel) collate "C" = b.version
    )
  returning 1
)
select (select count(*) from gone)::integer as checkpoints, (select count(*) from writes)::integer as writes,
  (select count(*) from blobs)::integer as blobs`;
