/**
 * The checkpointer's statements. Each call of the saver is one statement, so no transaction is ever
 * open while LangGraph (or anything else) runs between two of them, and a put or a putWrites costs one
 * round trip and one commit. `q` is the quoted schema; `$1` is always the saver's scope.
 */

/**
 * A checkpoint with the channel values its versions name and its thread's writes, `select`ed in one
 * statement: rows of kind 0 (the checkpoint), 1 (a channel value) and 2 (a pending write), for every
 * checkpoint that `where` (on langgraph_checkpoints, after `scope = $1`) and `tail` (order and limit) pick.
 */
export function tuplesSql(q: string, where: string, tail: string): string {
  return `with c as (
  select thread_id, checkpoint_ns, checkpoint_id, parent_id, checkpoint, metadata, metadata_type, metadata_bytes
  from ${q}.langgraph_checkpoints
  where scope = $1 and ${where}
  ${tail}
)
select 0 as kind, c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_id as name, null::text as channel,
  c.metadata_type as type, c.checkpoint, c.metadata::text as metadata, c.metadata_bytes as data,
  null::integer as idx, null::text as task_path
from c
union all
select 1, c.thread_id, c.checkpoint_ns, c.checkpoint_id, b.channel, null, b.type, null, null, b.blob, null, null
from c
cross join lateral jsonb_each_text(c.checkpoint -> 'channel_versions') as v(channel, version)
join ${q}.langgraph_blobs b
  on b.scope = $1 and b.thread_id = c.thread_id and b.checkpoint_ns = c.checkpoint_ns
  and b.channel = v.channel collate "C" and b.version = v.version collate "C"
union all
select 2, c.thread_id, c.checkpoint_ns, c.checkpoint_id, w.task_id, w.channel, w.type, null, null, w.blob,
  w.idx, w.task_path
from c
join ${q}.langgraph_writes w
  on w.scope = $1 and w.thread_id = c.thread_id and w.checkpoint_ns = c.checkpoint_ns
  and w.checkpoint_id = c.checkpoint_id`;
}

/** The latest checkpoint of ($2 thread, $3 namespace), or the one of id $4. */
export const latestTupleSql = (q: string) =>
  tuplesSql(q, "thread_id = $2 and checkpoint_ns = $3", "order by checkpoint_id desc limit 1");
export const tupleByIdSql = (q: string) =>
  tuplesSql(q, "thread_id = $2 and checkpoint_ns = $3 and checkpoint_id = $4", "");

/**
 * One put: the new channel values ($4 channels, $5 versions, $6 types, $7 blobs; a value already
 * stored under its version stays as it was), the thread's row (its time refreshed when a minute old,
 * so a busy thread is not rewritten on every put) and the checkpoint ($8 id, $9 parent, $10 body,
 * $11 metadata, $12 its type and $13 its bytes when the JSON is not the serializer's own output).
 */
export const putSql = (q: string) => `with blobs as (
  insert into ${q}.langgraph_blobs (scope, thread_id, checkpoint_ns, channel, version, type, blob)
  select $1, $2, $3, u.channel, u.version, u.type, u.blob
  from unnest($4::text[], $5::text[], $6::text[], $7::bytea[]) as u(channel, version, type, blob)
  order by u.channel collate "C", u.version collate "C"
  on conflict do nothing
), new_thread as (
  insert into ${q}.langgraph_threads (scope, thread_id) values ($1, $2) on conflict do nothing
), touched as (
  update ${q}.langgraph_threads set updated_at = now()
  where scope = $1 and thread_id = $2 and updated_at < now() - interval '1 minute'
)
insert into ${q}.langgraph_checkpoints
  (scope, thread_id, checkpoint_ns, checkpoint_id, parent_id, checkpoint, metadata, metadata_type, metadata_bytes)
values ($1, $2, $3, $8, $9, $10::jsonb, $11::jsonb, $12, $13)
on conflict (scope, thread_id, checkpoint_ns, checkpoint_id) do update
set parent_id = excluded.parent_id, checkpoint = excluded.checkpoint, metadata = excluded.metadata,
  metadata_type = excluded.metadata_type, metadata_bytes = excluded.metadata_bytes`;

/**
 * One task's writes to checkpoint ($2, $3, $4): a write already stored under its (task, index) stays,
 * except the special channels' (negative indexes: error, interrupt, resume...), which replace it.
 */
export const putWritesSql = (q: string) => `insert into ${q}.langgraph_writes as w
  (scope, thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
select $1, $2, $3, $4, $5, $6, u.idx, u.channel, u.type, u.blob
from unnest($7::integer[], $8::text[], $9::text[], $10::bytea[]) as u(idx, channel, type, blob)
order by u.idx
on conflict (scope, thread_id, checkpoint_ns, checkpoint_id, task_id, idx) do update
set task_path = excluded.task_path, channel = excluded.channel, type = excluded.type, blob = excluded.blob
where excluded.idx < 0`;

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
 * Deletes whole threads of the scope, everything they hold, in one statement; `threads` is a query
 * naming them (`select thread_id ...`). Returns how many rows of each kind went.
 */
export function deleteThreadsSql(q: string, threads: string): string {
  return `with doomed as (${threads}),
checkpoints as (
  delete from ${q}.langgraph_checkpoints x using doomed d where x.scope = $1 and x.thread_id = d.thread_id
  returning 1
), writes as (
  delete from ${q}.langgraph_writes x using doomed d where x.scope = $1 and x.thread_id = d.thread_id
  returning 1
), blobs as (
  delete from ${q}.langgraph_blobs x using doomed d where x.scope = $1 and x.thread_id = d.thread_id
  returning 1
), threads as (
  delete from ${q}.langgraph_threads x using doomed d where x.scope = $1 and x.thread_id = d.thread_id
  returning 1
)
select (select count(*) from doomed)::integer as threads,
  (select count(*) from checkpoints)::integer as checkpoints,
  (select count(*) from writes)::integer as writes,
  (select count(*) from blobs)::integer as blobs`;
}

/**
 * Trims threads of the scope to their newest $4 checkpoints per namespace: a batch of at most $3
 * threads after $2 in id order, written to since $5. Their older checkpoints go, with their writes and
 * the channel values no kept checkpoint names. Threads another pruner holds are skipped.
 */
export const keepLatestSql = (q: string) => `with batch as (
  select thread_id from ${q}.langgraph_threads
  where scope = $1 and thread_id > $2 and updated_at >= $5
  order by thread_id
  limit $3
  for update skip locked
), ranked as (
  select c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.checkpoint -> 'channel_versions' as versions,
    row_number() over (partition by c.thread_id, c.checkpoint_ns order by c.checkpoint_id desc) as n
  from batch join ${q}.langgraph_checkpoints c on c.scope = $1 and c.thread_id = batch.thread_id
), gone as (
  delete from ${q}.langgraph_checkpoints c using ranked r
  where r.n > $4 and c.scope = $1 and c.thread_id = r.thread_id and c.checkpoint_ns = r.checkpoint_ns
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
      where r.n <= $4 and r.thread_id = b.thread_id and r.checkpoint_ns = b.checkpoint_ns
        and (r.versions ->> b.channel) collate "C" = b.version
    )
  returning 1
)
select (select max(thread_id) from batch) as last, (select count(*) from batch)::integer as seen,
  (select count(*) from gone)::integer as checkpoints, (select count(*) from writes)::integer as writes,
  (select count(*) from blobs)::integer as blobs`;

/** A batch of at most $3 threads of the scope idle since before $2, oldest first, not held by another pruner. */
export const idleThreadsSql = (q: string) => `select thread_id from ${q}.langgraph_threads
  where scope = $1 and updated_at < $2
  order by updated_at
  limit $3
  for update skip locked`;
