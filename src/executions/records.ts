/**
 * What several execution statements share: the columns they return, the JSON checks of metadata, the
 * workflow a start names, the whole-record write behind upsert and upsertMany (checked, laid out
 * per column, one statement), and why a write matched no row.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.js";
import { checkDistinct, checkId, checkInteger, checkOneOf, optionalId, optionalText } from "../core/input.js";
import { checkText, type PayloadLimits, toJson, toJsonOrNull } from "../core/payload.js";
import { RUN_STATUSES, type RunStatus, TERMINAL_SQL } from "../core/run-status.js";
import { Definitions } from "../definitions/index.js";
import { refuseReserved } from "../offload/index.js";
import type { Execution, ExecutionRecord, StartExecution } from "./types.js";

export const COLUMNS = `id, definition_id as "definitionId", name, status, input, output, error, state, metadata,
  idempotency_key as "idempotencyKey", parent_execution_id as "parentExecutionId",
  parent_task_id as "parentTaskId", version, created_at as "createdAt", updated_at as "updatedAt",
  started_at as "startedAt", completed_at as "completedAt", fork_of as "forkOf", fork_step as "forkStep",
  rewound_to_step as "rewoundToStep", rewound_version as "rewoundVersion", rewound_at as "rewoundAt"`;

/** Metadata as JSON: a plain object, or null when absent. */
export function metadataJson(value: unknown, limits: PayloadLimits): string | null {
  if (value === undefined) return null;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError("metadata must be a plain object", { field: "metadata" });
  }
  return toJson(value, "metadata", limits);
}

/**
 * The workflow a start names: a definition id (its name is read in the insert), a registered name
 * (its newest active version, or the version asked for), or a name nothing is registered under (no
 * definition). A registered name without the version asked for, or with no active one, is refused.
 */
export async function resolveWorkflow(
  context: StoreContext,
  input: StartExecution,
): Promise<{ definitionId: string | null; name: string | null }> {
  if (input.definitionId !== undefined) {
    return { definitionId: checkId(input.definitionId, "definitionId"), name: null };
  }
  if (input.name === undefined) {
    throw new ValidationError("start needs a definitionId, or a workflow name (and version)", {
      field: "definitionId",
    });
  }
  const name = checkText(input.name, "name");
  if (input.version !== undefined) {
    const definition = await new Definitions(context).find(name, checkInteger(input.version, "version", 1));
    if (definition) return { definitionId: definition.id, name };
    throw new NotFoundError(
      `definition ${name} has no version ${input.version}; definitions.list({ name }) lists the versions there are`,
    );
  }
  const { rows } = await context.db.query<{ id: string | null; registered: boolean }>(
    `select (select id from ${context.q}.definitions where name = $1 and status = 'active'
             order by version desc limit 1) as id,
            exists (select 1 from ${context.q}.definitions where name = $1) as registered`,
    [name],
  );
  const row = rows[0];
  if (row?.id) return { definitionId: row.id, name };
  if (!row?.registered) return { definitionId: null, name };
  throw new NotFoundError(
    `definition ${name} has no active version; activate one with ` +
      `definitions.setStatus(id, "active"), or start one by number with executions.start({ name, version })`,
  );
}

/** A checked batch of records, one array per column, in the order of the unnest parameters $1..$12. */
export interface RecordColumns {
  id: string[];
  definitionId: (string | null)[];
  status: string[];
  input: (string | null)[];
  output: (string | null)[];
  error: (string | null)[];
  state: (string | null)[];
  metadata: (string | null)[];
  idempotencyKey: (string | null)[];
  parentExecutionId: (string | null)[];
  parentTaskId: (string | null)[];
  name: (string | null)[];
}

/** Checks every record and lays the batch out as one array per column, for unnest. */
export function recordColumns(records: readonly ExecutionRecord[], limits: PayloadLimits): RecordColumns {
  const columns: RecordColumns = {
    id: [],
    definitionId: [],
    status: [],
    input: [],
    output: [],
    error: [],
    state: [],
    metadata: [],
    idempotencyKey: [],
    parentExecutionId: [],
    parentTaskId: [],
    name: [],
  };
  for (const r of records) {
    columns.id.push(checkId(r.id, "id"));
    const definitionId = optionalId(r.definitionId, "definitionId");
    const name = optionalText(r.name, "name");
    if (definitionId === null && name === null) {
      throw new ValidationError("an execution needs a definitionId or a name", { field: "definitionId" });
    }
    columns.definitionId.push(definitionId);
    columns.name.push(name);
    columns.status.push(checkOneOf(r.status, RUN_STATUSES, "status"));
    columns.input.push(toJsonOrNull(r.input, "input", limits));
    columns.output.push(toJsonOrNull(r.output, "output", limits));
    columns.error.push(toJsonOrNull(r.error, "error", limits));
    refuseReserved(r.state, "state");
    columns.state.push(toJsonOrNull(r.state, "state", limits));
    columns.metadata.push(metadataJson(r.metadata, limits));
    columns.idempotencyKey.push(optionalText(r.idempotencyKey, "idempotencyKey", 1024));
    columns.parentExecutionId.push(optionalId(r.parentExecutionId, "parentExecutionId"));
    columns.parentTaskId.push(optionalId(r.parentTaskId, "parentTaskId"));
  }
  checkDistinct(columns.id, "id");
  // Two runs of one batch cannot both hold a key: refused before anything is sent, as it always was.
  const keys = new Set<string>();
  for (const key of columns.idempotencyKey) {
    if (key === null) continue;
    if (keys.has(key)) throw new ConflictError(`idempotency key ${key} is given to two runs in one batch`);
    keys.add(key);
  }
  return columns;
}

/**
 * The insert of writeRecords: the records as rows of arrays ($1 to $12, RecordColumns' order), each
 * written over the run of its id unless that run is finished with another status; returns the rows.
 */
export function upsertRuns(q: string): string {
  return `       insert into ${q}.executions as e (id, definition_id, name, status, input, output, error, state,
         metadata, idempotency_key, parent_execution_id, parent_task_id, started_at, completed_at)
       select u.id, u.definition_id, coalesce(d.name, u.name, ''), u.status, u.input, u.output, u.error,
         u.state, coalesce(u.metadata, '{}'), u.idempotency_key, u.parent_execution_id, u.parent_task_id,
         case when u.status = 'running' then now() end,
         case when u.status in ${TERMINAL_SQL} then now() end
       from unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::jsonb[],
                   $8::jsonb[], $9::text[], $10::uuid[], $11::uuid[], $12::text[])
         as u(id, definition_id, status, input, output, error, state, metadata,
              idempotency_key, parent_execution_id, parent_task_id, name)
         left join ${q}.definitions d on d.id = u.definition_id
       where u.name is null or d.name is null or d.name = u.name
       on conflict (id) do update set
         definition_id = excluded.definition_id, name = excluded.name, status = excluded.status,
         input = excluded.input, output = excluded.output, error = excluded.error, state = excluded.state,
         metadata = excluded.metadata, idempotency_key = excluded.idempotency_key,
         parent_execution_id = excluded.parent_execution_id, parent_task_id = excluded.parent_task_id,
         version = e.version + 1,
         -- The times of the proposed row (the default's now(), and those the select above gives):
         -- Citus refuses a call of now() in a conflict clause.
         updated_at = excluded.updated_at,
         started_at = case when excluded.status = 'running' then coalesce(e.started_at, excluded.started_at)
                           else e.started_at end,
         completed_at = case when excluded.status in ${TERMINAL_SQL}
                             then coalesce(e.completed_at, excluded.completed_at) else e.completed_at end
       where e.status = excluded.status or e.status not in ${TERMINAL_SQL}
       returning ${COLUMNS}`;
}

/**
 * Writes the records in one statement. A run of a definition takes the definition's name; a record
 * whose name differs from it is left out (checkRecordNames says which), and one whose definition does
 * not exist fails on the foreign key, with '' standing in for the name it cannot have.
 *
 * The key registry follows the runs written: a run whose key changed or was cleared frees the old key
 * its snapshot shows (`freed`: a row it cannot see stays, stale, and is taken over by the next writer
 * of that key), and one that holds a key has its row (`taken`), a key another run holds failing the
 * whole statement on the registry's primary key (a ConflictError), as a taken key always did.
 */
export async function writeRecords({ db, q }: SqlContext, columns: RecordColumns): Promise<Execution[]> {
  const { rows } = await db
    .query<Execution>(
      `with prior as (
         select x.id, x.idempotency_key from ${q}.executions x
          where x.id = any($1::uuid[]) and x.idempotency_key is not null),
       written as (
${upsertRuns(q)}),
       freed as (
         delete from ${q}.execution_keys k using prior p join written w on w.id = p.id
          where k.idempotency_key = p.idempotency_key collate "C" and k.execution_id = p.id
            and w."idempotencyKey" is distinct from p.idempotency_key),
       -- The registry row of each key written is made or kept by ON CONFLICT, which sees the newest row
       -- (the CTEs' snapshot may be older than the run's row, written by an upsert this one waited
       -- for). A row another run holds is taken over only when stale: the snapshot sees that holding
       -- and sees its run without the key (as a signal claim does); else it stays, and the insert in
       -- \`clash\` fails on the primary key: a ConflictError, and nothing is written.
       taken as (
         insert into ${q}.execution_keys as k (idempotency_key, execution_id)
         select w."idempotencyKey", w.id from written w where w."idempotencyKey" is not null
         on conflict (idempotency_key) do update set execution_id = excluded.execution_id
          where k.execution_id = excluded.execution_id
             or (exists (select 1 from ${q}.execution_keys v
                          where v.idempotency_key = k.idempotency_key and v.execution_id = k.execution_id)
                 and not exists (select 1 from ${q}.executions x
                                  where x.id = k.execution_id and x.idempotency_key = k.idempotency_key collate "C"))
         returning k.idempotency_key),
       clash as (
         insert into ${q}.execution_keys (idempotency_key, execution_id)
         select w."idempotencyKey", w.id from written w
          where w."idempotencyKey" is not null
            and not exists (select 1 from taken t where t.idempotency_key = w."idempotencyKey" collate "C"))
       select * from written`,
      Object.values(columns),
      // Fixed text, and the upsert is a hot path: planned once per connection.
      { prepare: true },
    )
    .catch((error: unknown) => rethrowMissingDefinition(error, "a definitionId given does not exist"));
  return rows;
}

/** After writeRecords left a record out: refuses the first whose name is not its definition's. */
export async function checkRecordNames({ db, q }: SqlContext, columns: RecordColumns): Promise<void> {
  const { rows } = await db.query<{ id: string; name: string; definitionName: string }>(
    `select u.id, u.name, d.name as "definitionName"
     from unnest($1::uuid[], $2::uuid[], $3::text[]) as u(id, definition_id, name)
       join ${q}.definitions d on d.id = u.definition_id
     where d.name <> u.name
     limit 1`,
    [columns.id, columns.definitionId, columns.name],
  );
  const row = rows[0];
  if (row) {
    throw new ValidationError(
      `execution ${row.id} is named ${JSON.stringify(row.name)}, but its definition is named ` +
        `${JSON.stringify(row.definitionName)}; give the definition's name or none; nothing was written`,
      { field: "name" },
    );
  }
}

export function rethrowMissingDefinition(error: unknown, message: string): never {
  if (error instanceof ValidationError && error.sqlState === "23503") {
    throw new NotFoundError(message, { cause: error.cause ?? error });
  }
  throw error;
}

/** The kind of row a compare-and-set write aimed at: its table, its key column, and its name in errors. */
export interface MissedRow {
  table: string;
  key: string;
  noun: string;
}

const EXECUTION_ROW: MissedRow = { table: "executions", key: "id", noun: "execution" };

/**
 * After a write matched no row: says whether the row is missing, at another version, in a status other
 * than `statuses`, or finished (and so cannot become `status`).
 */
export async function explainMiss(
  { db, q }: SqlContext,
  id: string,
  expected: number | null,
  status: string | null,
  statuses: string[] | null = null,
  { table, key, noun }: MissedRow = EXECUTION_ROW,
): Promise<never> {
  const { rows } = await db.query<{ status: RunStatus; version: number }>(
    `select status, version from ${q}.${table} where ${key} = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`${noun} ${id} not found`);
  if (expected !== null && row.version !== expected) {
    throw new ConflictError(
      `${noun} ${id} is at version ${row.version}, not the expected ${expected}; nothing was written`,
    );
  }
  if (statuses && !statuses.includes(row.status)) {
    throw new ConflictError(
      `${noun} ${id} is ${row.status}, not ${statuses.join(" or ")}; nothing was written`,
    );
  }
  throw new ConflictError(
    `${noun} ${id} is ${row.status}, a finished status, and cannot become ${status}; nothing was written`,
  );
}
