/**
 * The statements of the workflows domain, on Mastra's own tables (migration 0046): `mastra_runs`, a row
 * per run by its key, and `mastra_run_parts`, a row per big context entry of a run, by the run's id.
 * Each write is one statement (the run and its context rows together), so nothing is held open between
 * a read and a write, and a run's row is the lock that puts two writers of the same run one after the
 * other.
 */

import { OFFLOADED } from "../../offload/index.js";
import { INLINE_TOTAL, ROWS_MARK } from "./runs.js";

/**
 * Statement texts by their name and the schema they are in (`q`), each made once: every call then sends
 * the same string, whose prepared statement's name is found without reading its text again. Found by
 * two strings every call passes as they are (a name written in the code, the store's `q`), whose hashes
 * the engine keeps, not by a key made anew at each call.
 */
const texts = new Map<string, Map<string, string>>();
export function once(name: string, q: string, make: () => string): string {
  let inSchema = texts.get(name);
  if (inSchema === undefined) {
    inSchema = new Map();
    texts.set(name, inSchema);
  }
  let text = inSchema.get(q);
  if (text === undefined) {
    text = make();
    inSchema.set(q, text);
  }
  return text;
}

/** Statements of fixed text, run often: planned once per connection. */
export const PREPARED = { prepare: true } as const;

/** Mastra's runs and their context rows, in the store's schema `q`. */
export const runsOf = (q: string) => `${q}.mastra_runs`;
export const partsOf = (q: string) => `${q}.mastra_run_parts`;

/**
 * Counts the runs a statement made (migration 0047), in its `written` CTE (with each row's workflow_name
 * and version): a made run's version is 1, a run written again has more. Each adds to its workflow's
 * row of the slot its session's backend falls in, as the delete trigger takes away (0046), in workflow
 * order, so two statements never wait on each other's rows in turn.
 */
export function countMadeSql(q: string): string {
  return addToCounts(
    q,
    `select w.workflow_name, ${COUNT_SLOT}, count(*) from written w where w.version = 1
       group by w.workflow_name order by w.workflow_name`,
  );
}

/** The row of a workflow's count a session adds to (the delete trigger of 0046 takes away from it). */
const COUNT_SLOT = "pg_backend_pid() % 64";

/** Adds each row of `counts` (a select of workflow name, slot and runs made) to its count's row. */
function addToCounts(q: string, counts: string): string {
  return `insert into ${q}.mastra_run_counts as c (workflow_name, slot, runs)
      ${counts}
      on conflict (workflow_name, slot) do update set runs = c.runs + excluded.runs`;
}

/** The columns a run is read with, `e` its row. */
export const RUN_COLUMNS = `e.id, e.key, e.workflow_name as name, e.state, e.resource_id as "resourceId",
  e.created_at as "createdAt", e.updated_at as "updatedAt"`;

/** A persist's values, as persistSql takes them (see there). */
export interface PersistValues {
  key: string;
  newId: string;
  workflowName: string;
  state: string;
  resourceId: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  /** Every entry's id, those sent or not. */
  partIds: readonly string[];
  /** The entries sent ($9, $10), and the ids of those whose version to return ($11). */
  sentIds: readonly string[];
  sentParts: readonly string[];
  versionIds: readonly string[];
  onlyNew: boolean;
}

/** A plain persist (persist-batch.ts): its run, and its snapshot split (every entry sent). */
export type PlainPersist = Omit<
  PersistValues,
  "newId" | "sentIds" | "sentParts" | "versionIds" | "onlyNew"
> & {
  parts: readonly string[];
};

/** persistSql's parameters, $1 to $12 in order. */
export function persistParams(v: PersistValues): unknown[] {
  return [
    v.key,
    v.newId,
    v.workflowName,
    v.state,
    v.resourceId,
    v.createdAt,
    v.updatedAt,
    v.partIds,
    v.sentParts,
    v.sentIds,
    v.versionIds,
    v.onlyNew,
  ];
}

/**
 * What a write of a run's snapshot `excluded` sets on the run `e` that exists: its state, its resource
 * when given (else kept), its version and the time of the update.
 */
export const RUN_UPDATE = `state = excluded.state, resource_id = coalesce(excluded.resource_id, e.resource_id),
    version = e.version + 1, updated_at = excluded.updated_at`;

/**
 * persistWorkflowSnapshot, in one statement whether the run exists or not: its row written (made with
 * a new id, or its state replaced under its row lock); a context row (a big entry, runs.ts) written only
 * where it changed, and the rows of entries no longer rows deleted. Returns the run's id; no row only
 * with $12 when the run exists (it is left alone).
 * $1 key, $2 new id, $3 workflow, $4 state, $5 resourceId (null: kept), $6 createdAt (null: now; a
 * run's first only), $7 updatedAt (null: now), $8 part ids, $9 parts sent, $10 their ids (a subset of
 * $8: the others are kept as stored, see sent-parts.ts), $11 the parts whose version to return: with
 * `versions`, a row per part of $11 with its version and when it was made, as this statement leaves
 * them; without, a row with the id. With `offloading`, each row also says whether the run had entries
 * in the blob store before the statement (`hadRefs`).
 */
export function persistSql(q: string, versions: boolean, offloading = false): string {
  const name = versions
    ? offloading
      ? "persist versions offloading"
      : "persist versions"
    : offloading
      ? "persist offloading"
      : "persist";
  return once(name, q, () => makePersistSql(q, versions, offloading));
}

function makePersistSql(q: string, versions: boolean, offloading: boolean): string {
  const parts = partsOf(q);
  // With offloading, whether the run had entries in the blob store before (their blobs may go now).
  const refs = offloading
    ? `, exists (select 1 from ${parts} c
         where c.run_id = (select id from written) and c.state ? '${OFFLOADED}') as "hadRefs"`
    : "";
  return `with written as (
      insert into ${runsOf(q)} as e (key, id, workflow_name, resource_id, state, created_at, updated_at)
      values ($1::text, $2::uuid, $3::text, $5::text, $4::jsonb, coalesce($6::timestamptz, now()),
        coalesce($7::timestamptz, now()))
      on conflict (key) do update set ${RUN_UPDATE} where not $12::boolean
      returning e.id, e.workflow_name, e.version),
    counted as (${countMadeSql(q)}),
    parts as (
      insert into ${parts} as c (run_id, part_id, state)
      select w.id, p.id, p.state from written w, unnest($10::text[], $9::jsonb[]) as p(id, state)
      on conflict (run_id, part_id) do update
        set state = excluded.state, version = c.version + 1, updated_at = excluded.updated_at
        where c.state is distinct from excluded.state
      returning c.part_id, c.version, c.created_at),
    gone as (
      delete from ${parts} c using written w
       where c.run_id = w.id and c.part_id <> all($8::text[]))
    ${versions ? versionsOf(parts, refs) : `select id${refs} from written where $11::text[] is not null`}`;
}

/**
 * persistSql for a new run of small entries only (every entry in the state): its row made, and counted,
 * with nothing else opened. $1 to $7 as persistSql's. Its row count is 1 when it made the run, 0 when
 * the run exists, which it leaves alone (plainUpdateSql writes it then). It makes one run at most, so
 * its count is a row's +1 (countMadeSql's grouping, for many runs, cost a run's first persist about
 * 15 µs more).
 */
export function makeRunSql(q: string): string {
  return once(
    "make run",
    q,
    () => `with made as (
      insert into ${runsOf(q)} as e (key, id, workflow_name, resource_id, state, created_at, updated_at)
      values ($1::text, $2::uuid, $3::text, $5::text, $4::jsonb, coalesce($6::timestamptz, now()),
        coalesce($7::timestamptz, now()))
      on conflict (key) do nothing
      returning e.workflow_name)
    ${addToCounts(q, `select m.workflow_name, ${COUNT_SLOT}, 1 from made m`)}`,
  );
}

/**
 * persistSql for a stored run of small entries only, that has no context rows: its row written in
 * place (as RUN_UPDATE writes it), nothing else opened. $1 key, $2 state, $3 resourceId (null: kept),
 * $4 updatedAt (null: now). Its row count is 0 when the run is not there, or its state says it may have
 * rows, which persistSql then deletes.
 */
export function plainUpdateSql(q: string): string {
  return once(
    "plain update",
    q,
    () => `update ${runsOf(q)} e set state = $2::jsonb, resource_id = coalesce($3::text, e.resource_id),
      version = e.version + 1, updated_at = coalesce($4::timestamptz, now())
      where e.key = $1::text and not ${mayHaveRows("e.state")}`,
  );
}

/**
 * The final select of persistSql with big parts: each one's version and creation time as the statement
 * leaves them (written: from `parts`; kept or unchanged: as stored, which this statement did not
 * change). Each looked up by key, whatever the generic plan thinks of $11's length.
 */
function versionsOf(parts: string, refs: string): string {
  return `select w.id, b.id as "partId", v.version, v.created_at as "partCreatedAt"${refs}
      from written w cross join unnest($11::text[]) as b(id)
      left join lateral (
        select p.version, p.created_at from parts p where p.part_id = b.id
        union all
        select c.version, c.created_at from ${parts} c
         where c.run_id = w.id and c.part_id = b.id
           and not exists (select 1 from parts p where p.part_id = b.id)
        offset 0) v on true`;
}

/** Locks a run's row and reads its id ($1 the key), in a transaction (a persist that keeps entries
 * unsent, a foreach step's merge). */
export function lockRunSql(q: string): string {
  return `select e.id from ${runsOf(q)} e where e.key = $1 for update`;
}

/** The version and creation time of some of a run's rows ($1 the run, $2 the parts). */
export function partVersionsSql(q: string): string {
  return `select part_id as "partId", version, created_at as "partCreatedAt" from ${partsOf(q)}
     where run_id = $1 and part_id = any($2::text[])`;
}

/**
 * updateWorkflowResults: one step's entry written and the run's requestContext merged, under the run's
 * row lock. $1 key, $2 part id, $3 entry, $4 requestContext to merge, $5 the entry's key in the
 * context, $6 whether the entry is small enough to stay in the state (runs.ts): it does while the
 * state's context stays within INLINE_TOTAL, and its row, if any, goes; else it is a row, and out of
 * the state. Returns the run's id, its context's entries in the state (`inline`), whether it may have
 * context rows (`mayHaveRows`), and with `offloading` whether the step's row was in the blob store
 * before (`hadRef`).
 */
export function stepResultSql(q: string, offloading = false): string {
  const parts = partsOf(q);
  return once(
    offloading ? "step offloading" : "step",
    q,
    () => `with written as (
      update ${runsOf(q)} e
         set state = jsonb_set(
               case when $6 and jsonb_typeof(e.state->'context') = 'object'
                      and octet_length(((e.state->'context') - $5::text)::text) + octet_length($3::text) <= ${INLINE_TOTAL}
                    then jsonb_set(e.state, array['context', $5::text], $3::jsonb)
                    else (e.state #- array['context', $5::text]) || '{"${ROWS_MARK}": true}' end,
               '{requestContext}',
               case when jsonb_typeof(e.state->'requestContext') = 'object' then e.state->'requestContext'
                    else '{}' end || $4::jsonb),
             version = e.version + 1, updated_at = now()
       where e.key = $1
      returning e.id, case when jsonb_typeof(e.state->'context') = 'object' then e.state->'context' end as inline,
        jsonb_typeof(e.state->'context') = 'object' and (e.state->'context') ? $5::text as inlined,
        ${mayHaveRows("e.state")} as "mayHaveRows"),
    part as (
      insert into ${parts} as c (run_id, part_id, state)
      select w.id, $2, $3::jsonb from written w where not w.inlined
      on conflict (run_id, part_id) do update
        set state = excluded.state, version = c.version + 1, updated_at = excluded.updated_at),
    dropped as (
      delete from ${parts} c using written w
       where w.inlined and c.run_id = w.id and c.part_id = $2)
    select id, inline, "mayHaveRows"${
      offloading
        ? `, exists (select 1 from ${parts} c, written w where c.run_id = w.id
             and c.part_id = $2 and c.state ? '${OFFLOADED}') as "hadRef"`
        : ""
    } from written`,
  );
}

/**
 * updateWorkflowState: keys set and removed, only when the run's status is one of those expected ($4
 * null: any). $1 key, $2 keys to remove, $3 keys to set. The run after; no row when there is no such
 * run or its status is not one expected.
 */
export function stateSql(q: string): string {
  return `update ${runsOf(q)} e
       set state = (e.state - $2::text[]) || $3::jsonb, version = e.version + 1, updated_at = now()
     where e.key = $1 and ($4::text[] is null or e.state->>'status' = any($4::text[]))
    returning e.id, e.state, ${mayHaveRows("e.state")} as "mayHaveRows"`;
}

/** A run's context rows, in byte order of their keys. $1 the run's id. */
export function partsSql(q: string): string {
  return `select part_id as "componentId", state as value from ${partsOf(q)}
     where run_id = $1 order by part_id`;
}

/**
 * An entry as stored (the array merge of a foreach step), its run's row locked before: its row's value,
 * else its value in the state. $1 the run's id, $2 the part, $3 the entry's key, $4 the run's key.
 */
export function storedEntrySql(q: string): string {
  return `select coalesce(
      (select c.state from ${partsOf(q)} c where c.run_id = $1 and c.part_id = $2),
      (select e.state->'context'->$3::text from ${runsOf(q)} e where e.key = $4)) as value`;
}

/**
 * Whether a run (its state `state`) may have context rows: see ROWS_MARK. One key's lookup in the
 * state, which every write of a run makes of the state it finds (migration 0048 marked the runs that
 * said so by an empty context alone).
 */
export function mayHaveRows(state: string): string {
  return `(${state} ? '${ROWS_MARK}')`;
}

/** A run's context rows as one JSON array of [id, value] pairs in byte order of their ids. */
function rowsOf(q: string, run: string): string {
  return `(select json_agg(json_build_array(p.part_id, p.state) order by p.part_id)
                   from ${partsOf(q)} p where p.run_id = ${run})`;
}

/**
 * Runs with their context entries in rows: a row per run (its columns) and its rows' entries as one
 * JSON array (rowsOf), so a run costs one row to send and one parse however many entries it has; for
 * the runs chosen by `runs` (a select of runs `e` of RUN_COLUMNS), in the order `order` gives (of r.key
 * and r."createdAt"). Each run's rows are read through its id by a subquery per run, whatever the
 * generic plan thinks of the page's size, and only for a run that may have some.
 */
export function withParts(q: string, runs: string, order: string): string {
  return `with runs as (${runs})
    select r.*, case when ${mayHaveRows("r.state")} then ${rowsOf(q, "r.id")} end as parts
      from runs r
     order by ${order}`;
}

/** The run of a key ($1), with its context rows. */
export function loadSql(q: string): string {
  return once("load", q, () =>
    withParts(q, `select ${RUN_COLUMNS} from ${runsOf(q)} e where e.key = $1`, "key"),
  );
}

/**
 * The state of the run of a key ($1), and with `parts` its id and context rows: loadWorkflowSnapshot's
 * read. Without them no other table is opened at each call, which cost the server as much as the rest
 * of the read, and no column is sent but the state (a column more to describe and parse costs a read
 * at one caller a twentieth of its time).
 */
export function loadStateSql(q: string, parts: boolean): string {
  return once(
    parts ? "load state with parts" : "load state",
    q,
    () =>
      `select ${
        parts
          ? `e.id, e.state, case when ${mayHaveRows("e.state")} then ${rowsOf(q, "e.id")} end as parts`
          : "e.state"
      } from ${runsOf(q)} e where e.key = $1`,
  );
}

/**
 * loadStateSql without parts for many runs ($1 their keys), each state with its key; no row for a run that is
 * not there. Each run is found through the key's index, whatever the generic plan guesses the array
 * holds: the `limit` keeps the lateral read a read per run, which the planner would otherwise make a
 * join, and with a few hundred runs a scan of the table.
 */
export function loadManySql(q: string): string {
  return once(
    "load many",
    q,
    () => `select r.key, e.state from unnest($1::text[]) as r(key)
      cross join lateral (select e.state from ${runsOf(q)} e where e.key = r.key limit 1) e`,
  );
}

/** The newest run whose key is in [$1, $2) (a run id of any workflow), with its context rows. */
export function newestInRangeSql(q: string): string {
  return withParts(
    q,
    `select ${RUN_COLUMNS} from ${runsOf(q)} e
      where e.key >= $1 and e.key < $2
      order by e.created_at desc, e.key desc limit 1`,
    "key",
  );
}
