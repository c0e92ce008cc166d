/**
 * The statements that write many runs at once (persist-batch.ts): the persists made while others were
 * in flight, as one statement. Each takes its runs as arrays, a run's values at one index of each, but
 * its states and entries, which go as one JSON array each (jsonArray).
 */

import { countMadeSql, mayHaveRows, once, partsOf, RUN_UPDATE, runsOf } from "./workflow-sql.js";

/**
 * The runs of a statement for many, $1 to $7 (key, new id, workflow, state, resourceId, createdAt,
 * updatedAt), an array each, the states one JSON array (see jsonArray).
 */
export const runsInput = `rows from (unnest($1::text[]), unnest($2::uuid[]), unnest($3::text[]),
        jsonb_array_elements($4::jsonb), unnest($5::text[]), unnest($6::timestamptz[]), unnest($7::timestamptz[]))`;

/**
 * JSON texts as one JSON array, as the statements for many runs take their states and entries: each is
 * JSON already, and a text[] would have node-postgres escape every quote of every one (about 10 µs a
 * run's state, more than the rest of its part of the statement) and the server read the escapes back.
 */
export function jsonArray(texts: readonly string[]): string {
  return `[${texts.join(",")}]`;
}

/**
 * plainUpdateSql for many runs ($1 to $4 one element per run: key, state, resourceId, updatedAt; the
 * states one JSON array, see jsonArray), each taken in key order (the index scan of the keys gives them
 * so), as every write of runs takes them. Returns the key of each run written. A run's state is taken
 * from the array by its place ($2 is read as jsonb once, when the statement is given its values), not
 * by jsonb_array_elements: the planner guesses that function's rows at 100, an array's at 10, and with
 * 100, PostgreSQL 14's generic plan read the runs' table whole. A run of an empty context is left to
 * persistSql too (which writes it as well): with the mark's test alone, PostgreSQL 14 planned the
 * statement, on a store's first tables of no statistics, as a read of the whole table, by a hair
 * (20.25 against the index's 20.28); the second test, run on the few rows the index finds, tips it
 * back, as it did before migration 0048.
 */
export function plainUpdateManySql(q: string): string {
  return once(
    "plain update many",
    q,
    () => `update ${runsOf(q)} e set state = $2::jsonb -> (i.n::int - 1),
      resource_id = coalesce(i.resource_id, e.resource_id), version = e.version + 1,
      updated_at = coalesce(i.updated_at, now())
      from unnest($1::text[], $3::text[], $4::timestamptz[]) with ordinality as i(key, resource_id, updated_at, n)
      where e.key = any($1::text[]) and e.key = i.key
        and not (${mayHaveRows("e.state")} or e.state->'context' = '{}'::jsonb)
      returning e.key`,
  );
}

/**
 * makeRunSql and plainUpdateSql for many runs at once ($1 to $7 one element per run, as persist-batch.ts's
 * statement for many takes them, the states one JSON array), in key order, as every write of runs takes
 * them: each run made (and counted) or written in place. Returns the key of each run written; a run
 * that may have context rows is left alone, for persistSql.
 */
export function plainPersistManySql(q: string): string {
  return once(
    "plain persist many",
    q,
    () => `with written as (
      insert into ${runsOf(q)} as e (key, id, workflow_name, resource_id, state, created_at, updated_at)
      select i.key, i.new_id, i.name, i.resource_id, i.state, coalesce(i.created_at, now()),
        coalesce(i.updated_at, now())
      from ${runsInput} as i(key, new_id, name, state, resource_id, created_at, updated_at)
      order by i.key
      on conflict (key) do update set ${RUN_UPDATE} where not ${mayHaveRows("e.state")}
      returning e.key, e.workflow_name, e.version),
    counted as (${countMadeSql(q)})
    select key from written`,
  );
}

/**
 * persistSql for many runs ($1 to $7 one element per run, in the order of the calls: key, new id,
 * workflow, state, resourceId, createdAt, updatedAt; $8 to $10 one per entry: its run's number in that
 * order, its id, its value). Returns each run's number and id. Rows are taken in key order, as every
 * write of runs takes them.
 */
export function persistBatchSql(q: string): string {
  return once("persist many", q, () => makePersistBatchSql(q));
}

function makePersistBatchSql(q: string): string {
  const parts = partsOf(q);
  return `with input as materialized (
      select * from ${runsInput} with ordinality
        as i(key, new_id, name, state, resource_id, created_at, updated_at, n)),
    written as (
      insert into ${runsOf(q)} as e (key, id, workflow_name, resource_id, state, created_at, updated_at)
      select i.key, i.new_id, i.name, i.resource_id, i.state, coalesce(i.created_at, now()),
        coalesce(i.updated_at, now())
      from input i order by i.key
      on conflict (key) do update set ${RUN_UPDATE}
      returning e.key, e.id, e.workflow_name, e.version),
    counted as (${countMadeSql(q)}),
    keyed as materialized (
      select i.n, w.id from input i join written w on w.key = i.key),
    entries as materialized (
      select k.id as run_id, p.id as part_id, p.state
      from rows from (unnest($8::bigint[]), unnest($9::text[]), jsonb_array_elements($10::jsonb)) as p(n, id, state)
      join keyed k on k.n = p.n),
    parts as (
      insert into ${parts} as c (run_id, part_id, state)
      select run_id, part_id, state from entries order by 1, 2
      on conflict (run_id, part_id) do update
        set state = excluded.state, version = c.version + 1, updated_at = excluded.updated_at
        where c.state is distinct from excluded.state),
    -- The runs' rows through the index, however many runs the generic plan guesses the arrays hold.
    gone as (
      delete from ${parts} c
      where c.run_id = any(array(select id from keyed))
        and not exists (select 1 from entries x where x.run_id = c.run_id and x.part_id = c.part_id))
    select n, id from keyed`;
}
