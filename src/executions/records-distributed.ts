/**
 * upsert and upsertMany on a schema distributed with Citus. There `executions` is distributed by id
 * and the key registry `execution_keys` by key, in groups of their own: writeRecords' one statement,
 * which joins the runs it wrote with the registry, cannot be planned. Here each run goes alone, in
 * statements that each reach one shard, in one transaction: the run's row locked first (so the key it
 * holds is read as it is now, not as an older snapshot saw it), the run written, the key it held freed
 * when it changed, and the key it holds registered; a key another run still holds is a ConflictError,
 * and the transaction then writes nothing. A registry row whose run no longer holds its key (the run
 * was deleted outside retention) is taken over, as the single statement takes it over.
 */

import type { SqlContext } from "../core/context.js";
import { ConflictError } from "../core/errors.js";
import type { Queryable } from "../db/driver.js";
import { holdsKey, keyHolder } from "./read.js";
import { type RecordColumns, rethrowMissingDefinition, upsertRuns } from "./records.js";
import type { Execution } from "./types.js";

/** writeRecords on Citus: the runs written (a finished run that cannot take the status is left out). */
export function writeRecordsOnCitus({ db, q }: SqlContext, columns: RecordColumns): Promise<Execution[]> {
  return db.transaction(async (tx) => {
    const written: Execution[] = [];
    // In id order, as every batch of this store takes rows: two such writes wait, not deadlock.
    const order = columns.id.map((_, i) => i).sort((a, b) => compare(columns.id[a], columns.id[b]));
    for (const i of order) {
      const row = await writeOne(tx, q, columns, i);
      if (row) written.push(row);
    }
    return written;
  });
}

function compare(a: string | undefined, b: string | undefined): number {
  return (a ?? "") < (b ?? "") ? -1 : (a ?? "") > (b ?? "") ? 1 : 0;
}

async function writeOne(
  tx: Queryable,
  q: string,
  columns: RecordColumns,
  i: number,
): Promise<Execution | undefined> {
  const id = columns.id[i] as string;
  const { rows: prior } = await tx.query<{ key: string | null }>(
    `select idempotency_key as key from ${q}.executions where id = $1 for update`,
    [id],
  );
  const one = Object.values(columns).map((column: unknown[]) => [column[i] ?? null]);
  const { rows } = await tx
    .query<Execution>(upsertRuns(q), one)
    .catch((error: unknown) => rethrowMissingDefinition(error, "a definitionId given does not exist"));
  const row = rows[0];
  if (!row) return undefined;
  const held = prior[0]?.key ?? null;
  if (held !== null && held !== row.idempotencyKey) {
    await tx.query(`delete from ${q}.execution_keys where idempotency_key = $1 and execution_id = $2`, [
      held,
      id,
    ]);
  }
  if (row.idempotencyKey !== null) await register(tx, q, row.idempotencyKey, id);
  return row;
}

/** Registers `key` for run `id`: made, kept, or taken over from a run that no longer holds it. */
async function register(tx: Queryable, q: string, key: string, id: string): Promise<void> {
  const { rows: made } = await tx.query(
    `insert into ${q}.execution_keys (idempotency_key, execution_id) values ($1, $2)
     on conflict (idempotency_key) do nothing returning execution_id`,
    [key, id],
  );
  if (made.length > 0) return;
  const holder = await keyHolder(tx, q, key, true);
  if (holder === id) return;
  if (holder !== undefined && (await holdsKey(tx, q, holder, key))) {
    throw new ConflictError(`idempotency key ${key} is held by execution ${holder}; nothing was written`);
  }
  // The holder no longer holds the key, or its row went between the insert and the lock.
  await tx.query(
    `insert into ${q}.execution_keys (idempotency_key, execution_id) values ($1, $2)
     on conflict (idempotency_key) do update set execution_id = excluded.execution_id`,
    [key, id],
  );
}
