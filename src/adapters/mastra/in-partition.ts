/**
 * The plain persist (persist-batch.ts) in the partitions that hold its run (partitions/direct.ts): a
 * statement on the partitioned executions is planned anew at each call, which costs more than the
 * write. A step of a run this process knows updates its execution where it is; a new run is made
 * where its id's range is. Anything else (a run with context rows, a key that names a run already, a
 * partition the map has wrong) is left to persistSql, which goes through executions.
 */

import { TERMINAL_SQL } from "../../core/run-status.js";
import type { StoreScope } from "../../index.js";
import { type DirectPartitions, EXECUTIONS } from "../../partitions/index.js";
import {
  mayHaveRows,
  once,
  type PlainPersist,
  persistSet,
  STATE_SET,
  STATUS_EXPECTED,
} from "./workflow-sql.js";

/** updateSql's parameters, $1 to $6, of a persist (updateManySql's, an array of each). */
const UPDATE_FIELDS = ["knownId", "key", "status", "state", "resourceId", "updatedAt"] as const;

/** The persist's run id when it was written in its partition, else undefined (persistSql's to do). */
export async function persistInPartition(
  db: Pick<StoreScope, "query">,
  q: string,
  direct: DirectPartitions,
  p: PlainPersist,
): Promise<string | undefined> {
  if (p.partIds.length > 0) return undefined;
  // A new run's key taken is no miss of the map: the run exists, persistSql updates it.
  // The id is the caller's (the known one, or the new one made here): the count of rows written says
  // whether it was, with no row to send back and parse.
  return direct.tried(async () => {
    const { rowCount } =
      p.knownId === undefined
        ? await db.query(
            createSql(q, await direct.of(EXECUTIONS, p.newId)),
            [
              p.key,
              p.newId,
              p.definitionId,
              p.workflowName,
              p.status,
              p.state,
              p.metadata,
              p.createdAt,
              p.updatedAt,
            ],
            { prepare: true },
          )
        : await db.query(
            updateSql(await direct.of(EXECUTIONS, p.knownId)),
            UPDATE_FIELDS.map((field) => p[field]),
            { prepare: true },
          );
    return rowCount > 0 ? (p.knownId ?? p.newId) : undefined;
  }, p.knownId !== undefined);
}

/**
 * persistInPartition's update for persists of runs this process knows, none with entries in rows, made
 * at the same time (persist-batch.ts): a statement for each partition that holds some (one, as runs
 * made together are in one range), in place of persistSql's for many runs, which goes through every
 * partition of executions and component_state. Each persist's run id where it was written, else
 * undefined (persistSql's to do: the run has rows, or is not where the map says).
 */
export async function updateManyInPartitions(
  db: Pick<StoreScope, "query">,
  direct: DirectPartitions,
  persists: readonly PlainPersist[],
): Promise<(string | undefined)[]> {
  const groups = new Map<string, PlainPersist[]>();
  for (const p of persists) {
    const partition = await direct.of(EXECUTIONS, p.knownId as string);
    groups.set(partition, [...(groups.get(partition) ?? []), p]);
  }
  const written = new Set<string>();
  for (const [partition, group] of groups) {
    // A statement that fails wrote nothing: its persists are left to persistSql, which fails a bad one
    // alone; those of a group written before stay written, and are not sent again.
    const rows = await direct
      .tried(async () => {
        const { rows } = await db.query<{ id: string }>(
          updateManySql(partition),
          UPDATE_FIELDS.map((field) => group.map((p) => p[field])),
          { prepare: true },
        );
        return rows;
      })
      .catch(() => undefined);
    for (const row of rows ?? []) written.add(row.id);
  }
  const ids = persists.map((p) => (written.has(p.knownId as string) ? p.knownId : undefined));
  if (ids.includes(undefined)) direct.missed();
  return ids;
}

/** A run's state after updateWorkflowState (stateSql's row). */
export interface StateRow {
  id: string;
  state: Record<string, unknown>;
  mayHaveRows: boolean;
}

/**
 * stateSql on a run whose id this process knows (`id`), in the partition that holds it: the run after,
 * `"unchanged"` when it is there but its status is not one expected, undefined when it is not there
 * (stateSql's to do, through executions). `params` are stateSql's.
 */
export async function stateInPartition(
  db: Pick<StoreScope, "query">,
  direct: DirectPartitions,
  params: unknown[],
  id: string,
): Promise<StateRow | "unchanged" | undefined> {
  return direct.tried(async () => {
    const { rows } = await db.query<StateRow & { updated: boolean }>(
      stateSql(await direct.of(EXECUTIONS, id)),
      [...params, id],
      { prepare: true },
    );
    const row = rows[0];
    return row && (row.updated ? row : "unchanged");
  });
}

/**
 * persistSql's update of a run that exists, in the partition that holds it, when the run has no
 * context rows ($1 its id, $2 its key, $3 status, $4 state, $5 resourceId, null: kept, $6 updatedAt,
 * null: now). Updates one row, or none (not there, or with rows). Exported for the bench that sends it
 * alone (bench/mastra-layers.ts).
 */
export function updateSql(partition: string): string {
  return once(
    `update ${partition}`,
    () => `update ${partition} e
         set ${persistSet("$3", "$4", "$5", "$6")}
       where e.id = $1::uuid and e.idempotency_key = $2::text and not ${mayHaveRows("e.state")}`,
  );
}

/**
 * updateSql for many runs of one partition ($1 to $6 one element per run, as updateSql's). The rows
 * are locked first, in key order, as every write of runs takes them, each found through its index
 * whatever the generic plan guesses the arrays hold; then each is written as an insert that finds it
 * there (its conflict, through the same index), which no plan can turn into a scan of the partition
 * as an update joined to the runs could. Returns the ids written.
 */
function updateManySql(partition: string): string {
  return once(
    `update many ${partition}`,
    () => `with input as materialized (
      select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
        as u(id, key, status, state, resource_id, updated_at) order by key),
    locked as materialized (
      select x.id, x.name, u.status, u.state, u.resource_id, u.updated_at from input u cross join lateral (
        select e.id, e.name from ${partition} e
         where e.id = u.id and e.idempotency_key = u.key and not ${mayHaveRows("e.state")}
           for update of e) x)
    insert into ${partition} as e (id, name, status, state, updated_at)
    select id, name, status, state::jsonb, coalesce(updated_at, now()) from locked
    on conflict (id) do update
       set ${persistSet("excluded.status", "excluded.state", "(select l.resource_id from locked l where l.id = e.id)", "excluded.updated_at")}
    returning e.id`,
  );
}

/**
 * persistSql's making of a new run, its key and its execution, in the partition of its id's range ($1
 * key, $2 id, $3 definition, $4 name, $5 status, $6 state, $7 metadata, $8 createdAt, $9 updatedAt,
 * null: now). Inserts one row, or none when the key names a run already.
 */
function createSql(q: string, partition: string): string {
  return once(
    `create ${partition}`,
    () => `with made as (
      insert into ${q}.execution_keys (idempotency_key, execution_id) values ($1::text, $2::uuid)
      on conflict (idempotency_key) do nothing
      returning execution_id as id)
    insert into ${partition} (id, definition_id, name, status, state, metadata, idempotency_key,
      created_at, updated_at, started_at, completed_at)
    select made.id, $3::uuid, $4::text, $5::text, $6::jsonb, $7::jsonb, $1::text,
      coalesce($8::timestamptz, now()), coalesce($9::timestamptz, now()),
      case when $5 = 'running' then now() end, case when $5 in ${TERMINAL_SQL} then now() end
    from made`,
  );
}

/**
 * workflow-sql.ts's stateSql in the partition that holds the run, by its id ($6; $1 to $5 as there):
 * the run's row after with `updated`; a row with `updated` false when the run is there but its status
 * is not one expected; no row when it is not there.
 */
function stateSql(partition: string): string {
  return once(
    `state ${partition}`,
    () => `with updated as (
      update ${partition} e
         set ${STATE_SET}
       where e.id = $6::uuid and e.idempotency_key = $1::text and ${STATUS_EXPECTED}
      returning e.id, e.state, ${mayHaveRows("e.state")} as "mayHaveRows")
    select id, state, "mayHaveRows", true as updated from updated
    union all
    select e.id, null, null, false from ${partition} e
     where e.id = $6::uuid and e.idempotency_key = $1::text and not exists (select 1 from updated)`,
  );
}
