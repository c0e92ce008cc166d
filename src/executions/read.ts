/**
 * Reading executions: one by id (optionally locked), one by idempotency key, keyset-paged lists and
 * counts per status, all filtered by the same fixed conditions.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import {
  checkId,
  checkLimit,
  checkOneOf,
  checkOneOrMany,
  optionalDate,
  requireTransaction,
} from "../core/input.js";
import { CURSOR_AT, decodeCursor, type Page, toPage } from "../core/keyset.js";
import { checkText } from "../core/payload.js";
import { countsByStatus, RUN_STATUSES } from "../core/run-status.js";
import type { Queryable } from "../db/driver.js";
import { COLUMNS, metadataJson } from "./records.js";
import type { Execution, ExecutionFilter, ExecutionListOptions, ExecutionStatus } from "./types.js";

/** Enough to filter: the SQL context, and the payload limits a metadata filter is checked against. */
type ReadContext = Pick<StoreContext, "db" | "q" | "limits">;

export async function get({ db, q }: SqlContext, id: string): Promise<Execution> {
  checkId(id, "id");
  const { rows } = await db.query<Execution>(`select ${COLUMNS} from ${q}.executions where id = $1`, [id]);
  if (!rows[0]) throw new NotFoundError(`execution ${id} not found`);
  return rows[0];
}

/** Reads and locks the row until the transaction ends; other writers (and lockers) wait. */
export async function getForUpdate({ db, q }: SqlContext, id: string): Promise<Execution> {
  requireTransaction(db, "executions.getForUpdate");
  checkId(id, "id");
  const { rows } = await db.query<Execution>(
    `select ${COLUMNS} from ${q}.executions where id = $1 for update`,
    [id],
  );
  if (!rows[0]) throw new NotFoundError(`execution ${id} not found`);
  return rows[0];
}

/** Enough to read by key: on Citus the registry and the runs are read one after the other. */
type KeyContext = Pick<StoreContext, "db" | "q" | "driver">;

/**
 * The run the key's registry row names, if that run still holds the key (see freeStaleKey). A row and
 * its run are written by one statement, so a snapshot that sees the row sees the run as it wrote it.
 * On Citus, where the registry and the runs are distributed apart, the row is read, then the run: a
 * run whose key changed in between is not returned, as a later read would not return it.
 */
export async function findByIdempotencyKey(
  { db, q, driver }: KeyContext,
  key: string,
): Promise<Execution | null> {
  checkText(key, "idempotencyKey", 1024);
  if (driver.capabilities.distributed) {
    const holder = await keyHolder(db, q, key);
    if (holder === undefined) return null;
    const { rows } = await db.query<Execution>(
      `select ${COLUMNS} from ${q}.executions where id = $1 and idempotency_key = $2`,
      [holder, key],
    );
    return rows[0] ?? null;
  }
  const { rows } = await db.query<Execution>(
    `select ${COLUMNS} from ${q}.executions
      where id = (select execution_id from ${q}.execution_keys where idempotency_key = $1)
        and idempotency_key = $1`,
    [key],
  );
  return rows[0] ?? null;
}

/** The run the key's registry row names (undefined for none): one shard of the registry. */
export async function keyHolder(
  db: Queryable,
  q: string,
  key: string,
  lock = false,
): Promise<string | undefined> {
  const { rows } = await db.query<{ holder: string }>(
    `select execution_id as holder from ${q}.execution_keys where idempotency_key = $1${lock ? " for update" : ""}`,
    [key],
  );
  return rows[0]?.holder;
}

/** Whether run `id` holds `key` now: one shard of the runs. */
export async function holdsKey(db: Queryable, q: string, id: string, key: string): Promise<boolean> {
  const { rows } = await db.query(
    `select 1 from ${q}.executions where id = $1 and idempotency_key = $2 collate "C"`,
    [id, key],
  );
  return rows.length > 0;
}

/**
 * Deletes the key's registry row when the run it names does not hold the key: the run was deleted
 * (by a statement other than retention's, which deletes its key with it), or changed its key in a
 * race with another write of it. Registry rows are inserted and deleted, never updated, so a row this
 * statement waits for is either gone or as its snapshot saw it, with its run. On Citus, the row is
 * locked, its run read, and the row deleted if the run does not hold the key, in one transaction.
 */
export async function freeStaleKey({ db, q, driver }: KeyContext, key: string): Promise<void> {
  if (driver.capabilities.distributed) {
    await db.transaction(async (tx) => {
      const holder = await keyHolder(tx, q, key, true);
      if (holder === undefined || (await holdsKey(tx, q, holder, key))) return;
      await tx.query(`delete from ${q}.execution_keys where idempotency_key = $1 and execution_id = $2`, [
        key,
        holder,
      ]);
    });
    return;
  }
  await db.query(
    `delete from ${q}.execution_keys k
      where k.idempotency_key = $1
        and not exists (select 1 from ${q}.executions e
                         where e.id = k.execution_id and e.idempotency_key collate "C" = k.idempotency_key)`,
    [key],
  );
}

export async function list(
  context: ReadContext,
  filter: ExecutionFilter & ExecutionListOptions,
): Promise<Page<Execution>> {
  const limit = checkLimit(filter.limit, 100);
  const order = checkOneOf(filter.order ?? "asc", ["asc", "desc"], "order");
  const values: unknown[] = [];
  const conditions = filterConditions(context, filter, values);
  if (filter.cursor !== undefined && filter.cursor !== null) {
    const { at, id } = decodeCursor(filter.cursor);
    values.push(at, id);
    const op = order === "asc" ? ">" : "<";
    conditions.push(`(created_at, id) ${op} ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
  }
  values.push(limit + 1);
  const { rows } = await context.db.query<Execution & { cursor_at?: string }>(
    `select ${COLUMNS}, ${CURSOR_AT} as cursor_at from ${context.q}.executions
     ${conditions.length ? `where ${conditions.join(" and ")}` : ""}
     order by created_at ${order}, id ${order}
     limit $${values.length}`,
    values,
  );
  return toPage(rows, limit, (row) => row.id);
}

/** How many executions match, per status (every status present, zero when none). */
export async function countByStatus(
  context: ReadContext,
  filter: Omit<ExecutionFilter, "status">,
): Promise<Record<ExecutionStatus, number>> {
  const values: unknown[] = [];
  const conditions = filterConditions(context, filter, values);
  const { rows } = await context.db.query<{ status: string; count: number }>(
    `select status, count(*)::int as count from ${context.q}.executions
     ${conditions.length ? `where ${conditions.join(" and ")}` : ""}
     group by status`,
    values,
  );
  return countsByStatus(rows);
}

/** Each filter is one fixed condition with its value as a parameter. */
/** An `ids` filter: an array of at most 1,000 ids, each checked as `id` is. */
function checkIds(ids: unknown): string[] {
  if (!Array.isArray(ids) || ids.length > 1000) {
    throw new ValidationError("ids must be an array of at most 1000 execution ids", { field: "ids" });
  }
  return ids.map((id, i) => checkId(id, `ids[${i}]`));
}

function filterConditions(context: ReadContext, filter: ExecutionFilter, values: unknown[]): string[] {
  const conditions: string[] = [];
  const add = (condition: (n: string) => string, value: unknown) => {
    values.push(value);
    conditions.push(condition(`$${values.length}`));
  };
  if (filter.ids !== undefined) add((n) => `id = any(${n}::uuid[])`, checkIds(filter.ids));
  if (filter.status !== undefined) {
    add((n) => `status = any(${n}::text[])`, checkOneOrMany(filter.status, RUN_STATUSES, "status"));
  }
  if (filter.definitionId !== undefined) {
    add((n) => `definition_id = ${n}`, checkId(filter.definitionId, "definitionId"));
  }
  if (filter.definitionName !== undefined) {
    add((n) => `name = ${n}`, checkText(filter.definitionName, "definitionName"));
  }
  if (filter.parentExecutionId !== undefined) {
    add((n) => `parent_execution_id = ${n}`, checkId(filter.parentExecutionId, "parentExecutionId"));
  }
  if (filter.forkOf !== undefined) add((n) => `fork_of = ${n}`, checkId(filter.forkOf, "forkOf"));
  const ranges = [
    ["createdAfter", "created_at >"],
    ["createdBefore", "created_at <"],
    ["updatedAfter", "updated_at >"],
    ["updatedBefore", "updated_at <"],
  ] as const;
  for (const [field, test] of ranges) {
    const date = optionalDate(filter[field], field);
    if (date) add((n) => `${test} ${n}::timestamptz`, date);
  }
  if (filter.metadata !== undefined) {
    add((n) => `metadata @> ${n}::jsonb`, metadataJson(filter.metadata, context.limits));
  }
  return conditions;
}
