/**
 * The statements of the workflows domain. Each write is one statement (a run's key, its execution and
 * its context rows together), so nothing is held open between a read and a write, and a run's
 * execution row is the lock that puts two writers of the same run one after the other.
 */

import { TERMINAL_SQL } from "../../core/run-status.js";
import { OFFLOADED } from "../../offload/index.js";
import { INLINE_TOTAL, ROWS_MARK } from "./runs.js";

/**
 * Statement texts by what they are made of, each made once: every call then sends the same string,
 * whose prepared statement's name is found without reading its text again.
 */
const texts = new Map<string, string>();
export function once(key: string, make: () => string): string {
  let text = texts.get(key);
  if (text === undefined) {
    text = make();
    texts.set(key, text);
  }
  return text;
}

/** The columns a run is read with, `e` its execution. */
export const RUN_COLUMNS = `e.id, e.name, e.state, e.metadata, e.created_at as "createdAt", e.updated_at as "updatedAt"`;

/** started_at and completed_at follow the status as flowstore's own writes keep them. */
function times(status: string): string {
  return `started_at = coalesce(e.started_at, case when ${status} = 'running' then now() end),
    completed_at = case when ${status} in ${TERMINAL_SQL} then coalesce(e.completed_at, now()) end`;
}

/** A persist's values, as persistSql takes them (see there). */
export interface PersistValues {
  key: string;
  newId: string;
  workflowName: string;
  status: string;
  state: string;
  metadata: string;
  resourceId: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  /** Every entry's id, those sent or not. */
  partIds: readonly string[];
  definitionId: string;
  /** The entries sent ($14, $11), and the ids of those whose version to return ($15). */
  sentIds: readonly string[];
  sentParts: readonly string[];
  versionIds: readonly string[];
  onlyNew: boolean;
  /** The run's execution id, when this process knows it (RunIds): $16, for persistSql's `byId`. */
  knownId?: string;
}

/** A plain persist (persist-batch.ts): its run, and its snapshot split (every entry sent). */
export type PlainPersist = Omit<PersistValues, "sentIds" | "sentParts" | "versionIds" | "onlyNew"> & {
  parts: readonly string[];
};

/** persistSql's parameters, $1 to $15 in order, and $16 with a known id. */
export function persistParams(v: PersistValues): unknown[] {
  const known = v.knownId === undefined ? [] : [v.knownId];
  return [
    v.key,
    v.newId,
    v.workflowName,
    v.status,
    v.state,
    v.metadata,
    v.resourceId,
    v.createdAt,
    v.updatedAt,
    v.partIds,
    v.sentParts,
    v.onlyNew,
    v.definitionId,
    v.sentIds,
    v.versionIds,
    ...known,
  ];
}

/**
 * persistWorkflowSnapshot, in one statement whether the run exists or not: its execution's state
 * replaced under its row lock (found by its key), or its key and execution made; a context row (a big
 * entry, runs.ts) written only where it changed, and the rows of entries no longer rows deleted. Returns the run's id; no row only
 * when a writer of the same new run made its key after this statement began (the caller runs it again,
 * and then finds it).
 * $1 key, $2 new id, $3 name, $4 status, $5 state, $6 metadata (for a new run), $7 resourceId (null:
 * kept), $8 createdAt (null: now; a run's first only), $9 updatedAt (null: now), $10 part ids, $11 parts,
 * $12 true to make the run only if there is none (no row returned when there is one), $13 the
 * workflow's definition (made before: see definitionSql), $14 the ids of the parts sent in $11 (a
 * subset of $10: the others are kept as stored, see sent-parts.ts), $15 the parts whose version to
 * return: a row per part of $15 with its version and when it was made, as this statement leaves them
 * (or one row with nulls when $15 is empty). With `offloading`, each row also says whether the run had
 * entries in the blob store before the statement (`hadRefs`).
 */
export function persistSql(
  q: string,
  versions: boolean,
  offloading = false,
  byId = false,
  at?: RunPartitions,
): string {
  return once(`persist ${q} ${versions} ${offloading} ${byId} ${at?.executions}`, () =>
    makePersistSql(q, versions, offloading, byId, at),
  );
}

/**
 * The partitions of a run's range (partitions/direct.ts), for the statements on a run locked there: its
 * execution and its rows are written in them, not through the partitioned tables (a new run is still
 * made through executions).
 */
export interface RunPartitions {
  executions: string;
  components: string;
}

/**
 * What a persist sets on a run `e` that exists, its parameters named: the status, the state, the
 * resource id (null: kept) and the update's time (null: now); its version and times follow.
 */
export function persistSet(status: string, state: string, resourceId: string, updatedAt: string): string {
  return `status = ${status}, state = ${state}::jsonb,
             metadata = case when ${resourceId}::text is null then e.metadata
                             else jsonb_set(e.metadata, '{mastra,resourceId}', to_jsonb(${resourceId}::text)) end,
             updated_at = coalesce(${updatedAt}::timestamptz, now()), version = e.version + 1, ${times(status)}`;
}

/** A run found by the id this process knows ($16, as its key still names it), else by its key ($1). */
function runIs(q: string, byId: boolean, at: number): string {
  return byId
    ? `e.id = $${at}::uuid and e.idempotency_key = $1::text`
    : `e.id = (select execution_id from ${q}.execution_keys where idempotency_key = $1::text)`;
}

function makePersistSql(
  q: string,
  versions: boolean,
  offloading: boolean,
  byId: boolean,
  at: RunPartitions | undefined,
): string {
  const executions = at?.executions ?? `${q}.executions`;
  const components = at?.components ?? `${q}.component_state`;
  // With offloading, whether the run had entries in the blob store before (their blobs may go now).
  const refs = offloading
    ? `, exists (select 1 from ${components} c
         where c.execution_id = (select id from written) and c.state ? '${OFFLOADED}') as "hadRefs"`
    : "";
  // A run that exists is updated in place (found by its key): cheaper than an insert's conflict on the
  // partitioned executions, and the common case (every persist after a run's first).
  return `with updated as (
      update ${executions} e
         set ${persistSet("$4", "$5", "$7", "$9")}
       where ${runIs(q, byId, 16)} and not $12::boolean
      returning e.id),
    made as (
      insert into ${q}.execution_keys (idempotency_key, execution_id)
      select $1::text, $2::uuid where not exists (select 1 from updated)
      on conflict (idempotency_key) do nothing
      returning execution_id as id),
    inserted as (
      insert into ${q}.executions (id, definition_id, name, status, state, metadata, idempotency_key,
        created_at, updated_at, started_at, completed_at)
      select made.id, $13::uuid, $3::text, $4::text, $5::jsonb, $6::jsonb, $1::text, coalesce($8::timestamptz, now()),
        coalesce($9::timestamptz, now()), case when $4 = 'running' then now() end,
        case when $4 in ${TERMINAL_SQL} then now() end
      from made
      returning id),
    written as (select id from updated union all select id from inserted),
    parts as (
      insert into ${components} as c (execution_id, component_id, state)
      select w.id, p.id, p.state from written w, unnest($14::text[], $11::jsonb[]) as p(id, state)
      on conflict (execution_id, component_id) do update
        set state = excluded.state, version = c.version + 1, updated_at = excluded.updated_at
        where c.state is distinct from excluded.state
      returning c.component_id, c.version, c.created_at),
    gone as (
      delete from ${components} c using written w
       where c.execution_id = w.id and c.component_id <> all($10::text[]))
    ${versions ? versionsOf(components, refs) : `select id${refs} from written where $15::text[] is not null`}`;
}

/**
 * The final select of persistSql with big parts: each one's version and creation time as the statement
 * leaves them (written: from `parts`; kept or unchanged: as stored, which this statement did not
 * change). Each looked up by key, whatever the generic plan thinks of $15's length.
 */
function versionsOf(components: string, refs: string): string {
  return `select w.id, b.id as "partId", v.version, v.created_at as "partCreatedAt"${refs}
      from written w cross join unnest($15::text[]) as b(id)
      left join lateral (
        select p.version, p.created_at from parts p where p.component_id = b.id
        union all
        select c.version, c.created_at from ${components} c
         where c.execution_id = w.id and c.component_id = b.id
           and not exists (select 1 from parts p where p.component_id = b.id)
        offset 0) v on true`;
}

/** Locks a run's execution row and reads its id ($1 the key), in a transaction (a persist that keeps
 * entries unsent, a foreach step's merge). */
export function lockRunSql(q: string): string {
  return `select e.id from ${q}.execution_keys k join ${q}.executions e on e.id = k.execution_id
     where k.idempotency_key = $1 for update of e`;
}

/** lockRunSql in the partition `executions` of a run this process knows, by its id ($2). */
export function lockInPartitionSql(executions: string): string {
  return once(
    `lock ${executions}`,
    () =>
      `select e.id from ${executions} e where e.id = $2::uuid and e.idempotency_key = $1::text for update`,
  );
}

/**
 * The version and creation time of some of a run's rows ($1 the run, $2 the parts), in `components`:
 * component_state, or its partition that holds the run's rows.
 */
export function partVersionsSql(components: string): string {
  return `select component_id as "partId", version, created_at as "partCreatedAt" from ${components}
     where execution_id = $1 and component_id = any($2::text[])`;
}

/**
 * A workflow's definition, made if missing; returns the id of the definition of that name and version
 * 1, which is not Mastra's when a definition of flowstore's own has the name. $1 id, $2 name, $3 body.
 */
export function definitionSql(q: string): string {
  return `with made as (
      insert into ${q}.definitions (id, name, version, definition, status, deployed_at)
      values ($1, $2, 1, $3::jsonb, 'active', now()) on conflict do nothing returning id)
    select id from made union all select id from ${q}.definitions where name = $2 and version = 1`;
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
  return once(
    `step ${q} ${offloading}`,
    () => `with run as (
      select execution_id as id from ${q}.execution_keys where idempotency_key = $1),
    written as (
      update ${q}.executions e
         set state = jsonb_set(
               case when $6 and jsonb_typeof(e.state->'context') = 'object'
                      and octet_length(((e.state->'context') - $5::text)::text) + octet_length($3::text) <= ${INLINE_TOTAL}
                    then jsonb_set(e.state, array['context', $5::text], $3::jsonb)
                    else (e.state #- array['context', $5::text]) || '{"${ROWS_MARK}": true}' end,
               '{requestContext}',
               case when jsonb_typeof(e.state->'requestContext') = 'object' then e.state->'requestContext'
                    else '{}' end || $4::jsonb),
             updated_at = now(), version = e.version + 1
        from run where e.id = run.id
      returning e.id, case when jsonb_typeof(e.state->'context') = 'object' then e.state->'context' end as inline,
        jsonb_typeof(e.state->'context') = 'object' and (e.state->'context') ? $5::text as inlined,
        ${mayHaveRows("e.state")} as "mayHaveRows"),
    part as (
      insert into ${q}.component_state as c (execution_id, component_id, state)
      select w.id, $2, $3::jsonb from written w where not w.inlined
      on conflict (execution_id, component_id) do update
        set state = excluded.state, version = c.version + 1, updated_at = excluded.updated_at),
    dropped as (
      delete from ${q}.component_state c using written w
       where w.inlined and c.execution_id = w.id and c.component_id = $2)
    select id, inline, "mayHaveRows"${
      offloading
        ? `, exists (select 1 from ${q}.component_state c, run where c.execution_id = run.id
             and c.component_id = $2 and c.state ? '${OFFLOADED}') as "hadRef"`
        : ""
    } from written`,
  );
}

/**
 * updateWorkflowState: keys set and removed, the status set, only when the run's status is one of
 * those expected ($5 null: any). $1 key, $2 keys to remove, $3 keys to set, $4 flowstore status.
 */
export function stateSql(q: string): string {
  return `update ${q}.executions e
       set ${STATE_SET}
      from ${q}.execution_keys k
     where k.idempotency_key = $1 and e.id = k.execution_id and ${STATUS_EXPECTED}
    returning e.id, e.state, ${mayHaveRows("e.state")} as "mayHaveRows"`;
}

/** stateSql's change of a run `e` ($2 keys to remove, $3 keys to set, $4 flowstore status). */
export const STATE_SET = `state = (e.state - $2::text[]) || $3::jsonb, status = $4, updated_at = now(),
           version = e.version + 1, ${times("$4")}`;

/** stateSql's condition on a run `e`: its status one of those expected ($5 null: any). */
export const STATUS_EXPECTED = "($5::text[] is null or e.state->>'status' = any($5::text[]))";

/** A run's context rows, in byte order of their keys. $1 the run's id. */
export function partsSql(q: string): string {
  return `select component_id as "componentId", state as value from ${q}.component_state
     where execution_id = $1 order by component_id collate "C"`;
}

/**
 * An entry as stored (the array merge of a foreach step), its run's row locked before: its row's value,
 * else its value in the state. $1 the run's id, $2 the part, $3 the entry's key.
 */
export function storedEntrySql(q: string): string {
  return `select coalesce(
      (select c.state from ${q}.component_state c where c.execution_id = $1 and c.component_id = $2),
      (select e.state->'context'->$3::text from ${q}.executions e where e.id = $1)) as value`;
}

/** Whether a run (its state `state`) may have context rows: see ROWS_MARK. */
export function mayHaveRows(state: string): string {
  return `(${state} ? '${ROWS_MARK}' or ${state}->'context' = '{}'::jsonb)`;
}

/**
 * A run's context rows as one JSON array of [id, value] pairs in byte order of their ids: of
 * `components`, component_state or the partition of the run's.
 */
function partsOf(components: string, run: string): string {
  return `(select json_agg(json_build_array(p.component_id, p.state) order by p.component_id collate "C")
                   from ${components} p where p.execution_id = ${run})`;
}

/**
 * Runs with their context entries in rows: a row per run (its columns) and its rows' entries as one
 * JSON array (partsOf), so a run costs one row to send and one parse however many entries it has; for
 * the runs chosen by `runs` (a select of executions `e` of RUN_COLUMNS), in the order `order` gives
 * (of r.id and r."createdAt"). Each run's rows are read through its key by a subquery per run, whatever
 * the generic plan thinks of the page's size, and only for a run that may have some.
 */
export function withParts(q: string, runs: string, order: string): string {
  return `with runs as (${runs})
    select r.*, case when ${mayHaveRows("r.state")} then ${partsOf(`${q}.component_state`, "r.id")} end as parts
      from runs r
     order by ${order}`;
}

/** The run of a key ($1), with its context rows. */
export function loadSql(q: string): string {
  return once(`load ${q}`, () =>
    withParts(
      q,
      `select ${RUN_COLUMNS} from ${q}.execution_keys k join ${q}.executions e on e.id = k.execution_id
      where k.idempotency_key = $1`,
      "id",
    ),
  );
}

/**
 * The id and state of the run of a key ($1; with `byId`, of id $2), with its context rows (partsOf)
 * when `parts`: loadWorkflowSnapshot's read. Without them no other table is opened at each call, which
 * cost the server as much as the rest of the read.
 */
export function loadStateSql(q: string, byId: boolean, parts: boolean): string {
  return once(
    `load state ${q} ${byId} ${parts}`,
    () => `select e.id, e.state${parts ? partsColumn(`${q}.component_state`) : ""}
      from ${q}.executions e where ${runIs(q, byId, 2)}`,
  );
}

/**
 * loadStateSql by id, in the partitions that hold the run (partitions/direct.ts): `executions` and,
 * for its rows, `components` those of its range. No row when the run is not there.
 */
export function loadInPartitionSql(executions: string, components?: string): string {
  return once(
    `load in ${executions} ${components}`,
    () => `select e.id, e.state${components ? partsColumn(components) : ""}
      from ${executions} e where e.id = $2::uuid and e.idempotency_key = $1::text`,
  );
}

/** A run's context rows (partsOf) as the column `parts`, for a run that may have some. */
const partsColumn = (components: string) =>
  `, case when ${mayHaveRows("e.state")} then ${partsOf(components, "e.id")} end as parts`;

/** The newest run whose key is in [$1, $2) (a run id of any workflow), with its context rows. */
export function newestInRangeSql(q: string): string {
  return withParts(
    q,
    `select ${RUN_COLUMNS} from ${q}.execution_keys k join ${q}.executions e on e.id = k.execution_id
      where k.idempotency_key >= $1 and k.idempotency_key < $2
      order by e.created_at desc, e.id desc limit 1`,
    "id",
  );
}
