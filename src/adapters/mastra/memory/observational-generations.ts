/**
 * Observational memory's generations: the newest of a key is its head, the record Mastra works on; a
 * reflection makes the next one and retires the one it condensed. Every change of head runs in one
 * transaction holding the old head's row, so of two processes reflecting one record one applies (the
 * other is given the head it made), and buffered observations waiting on the old head move to the new.
 */

import type { ObservationalMemoryRecord } from "@mastra/core/storage";
import { ConflictError, NotFoundError } from "../../../core/errors.js";
import type { MastraSql } from "../tables.js";
import {
  lookupKey,
  OM_COLUMNS,
  OM_INSERT_COLUMNS,
  OM_INSERT_VALUES,
  type OmRow,
  recordValues,
  toRecord,
} from "./observational-rows.js";

type Tx = Pick<MastraSql["db"], "query">;

export function recordNotFound(id: string): NotFoundError {
  return new NotFoundError(`Observational memory record not found: ${id}`);
}

/** The head of `key`, or null when it has no record. */
export async function headOf(db: Tx, q: string, key: string): Promise<OmRow | null> {
  const { rows } = await db.query<OmRow>(
    `select ${OM_COLUMNS} from ${q}.mastra_observational_memory where lookup_key = $1
      order by generation_count desc limit 1`,
    [key],
  );
  return rows[0] ?? null;
}

/**
 * Runs `write` (one statement that changes record `id` unless it is retired, returning how many rows
 * it changed) on the record, or on its key's head when a reflection retired it: a flag, a count or a
 * buffered chunk meant for the record Mastra read reaches the one that replaced it.
 */
export async function onHead(
  db: Tx,
  q: string,
  id: string,
  write: (id: string) => Promise<number>,
): Promise<void> {
  let target = id;
  for (let hop = 0; hop < 8; hop++) {
    if ((await write(target)) > 0) return;
    const { rows } = await db.query<{ head: string }>(
      `select (select h.id from ${q}.mastra_observational_memory h where h.lookup_key = r.lookup_key
                order by h.generation_count desc limit 1) as head
         from ${q}.mastra_observational_memory r where r.id = $1`,
      [target],
    );
    if (!rows[0]) throw recordNotFound(target);
    target = rows[0].head;
  }
  throw new ConflictError(`Observational memory record ${id} kept changing generation; nothing was written`);
}

/** Locks record `id` for the transaction; null when there is none. */
export async function lockRecord(tx: Tx, q: string, id: string): Promise<OmRow | null> {
  const { rows } = await tx.query<OmRow>(
    `select ${OM_COLUMNS} from ${q}.mastra_observational_memory where id = $1 for update`,
    [id],
  );
  return rows[0] ?? null;
}

/** Locks the head that replaced the retired record `row`, following later reflections too. */
export async function lockHeadAfter(tx: Tx, q: string, row: OmRow): Promise<OmRow> {
  let current = row;
  while (current.retiredAt !== null) {
    const head = await headOf(tx, q, lookupKey(current.threadId, current.resourceId));
    const locked = head ? await lockRecord(tx, q, head.id) : null;
    if (!locked) throw recordNotFound(row.id);
    current = locked;
  }
  return current;
}

/**
 * The next generation of the locked head `current`, whose observations are `observations`; `current`
 * is retired (its buffered chunks moved on, and its buffered reflection dropped when `reflected` says
 * the new generation holds it). When the next generation exists already, that is returned unchanged.
 */
export async function nextGeneration(
  tx: Tx,
  sql: MastraSql,
  current: OmRow,
  observations: string,
  tokenCount: number,
  reflected: boolean,
): Promise<ObservationalMemoryRecord> {
  const carried = toRecord(current);
  const next: ObservationalMemoryRecord = {
    id: crypto.randomUUID(),
    scope: current.scope,
    threadId: current.threadId,
    resourceId: current.resourceId,
    createdAt: undefined as unknown as Date,
    updatedAt: undefined as unknown as Date,
    lastObservedAt: carried.lastObservedAt,
    originType: "reflection",
    generationCount: current.generationCount + 1,
    activeObservations: observations,
    bufferedObservationChunks: carried.bufferedObservationChunks,
    observedTimezone: carried.observedTimezone,
    totalTokensObserved: current.totalTokensObserved,
    observationTokenCount: tokenCount,
    pendingMessageTokens: current.pendingMessageTokens,
    isReflecting: false,
    isObserving: false,
    isBufferingObservation: current.isBufferingObservation,
    isBufferingReflection: false,
    lastBufferedAtTokens: current.lastBufferedAtTokens,
    lastBufferedAtTime: current.lastBufferedAtTime,
    config: current.config,
    metadata: carried.metadata,
  };
  const { rows } = await tx.query<OmRow>(
    `insert into ${sql.q}.mastra_observational_memory (${OM_INSERT_COLUMNS}) values (${OM_INSERT_VALUES})
     on conflict (lookup_key, generation_count) do nothing returning ${OM_COLUMNS}`,
    recordValues(next, sql.limits),
  );
  const made = rows[0];
  if (!made) {
    const head = await headOf(tx, sql.q, lookupKey(current.threadId, current.resourceId));
    return toRecord(head as OmRow);
  }
  await tx.query(
    `update ${sql.q}.mastra_observational_memory set retired_at = now(), buffered_chunks = null,
       buffered_reflection = case when $2 then null else buffered_reflection end,
       buffered_reflection_tokens = case when $2 then null else buffered_reflection_tokens end,
       buffered_reflection_input_tokens = case when $2 then null else buffered_reflection_input_tokens end,
       reflected_observation_line_count = case when $2 then null else reflected_observation_line_count end,
       updated_at = now()
     where id = $1`,
    [current.id, reflected],
  );
  return toRecord(made);
}

/**
 * A record given whole (Mastra's copy of a thread copies its memory so): retired when its key has a
 * newer generation, and retiring the older ones, so that writes meant for any of them reach the newest.
 */
export async function insertRecord(sql: MastraSql, record: ObservationalMemoryRecord): Promise<void> {
  const values = recordValues(record, sql.limits);
  await sql.db.query(
    `with made as (
       insert into ${sql.q}.mastra_observational_memory (${OM_INSERT_COLUMNS}, retired_at)
       values (${OM_INSERT_VALUES}, case when exists (select 1 from ${sql.q}.mastra_observational_memory
         where lookup_key = $2 and generation_count > $6) then now() end)
       returning lookup_key, generation_count)
     update ${sql.q}.mastra_observational_memory o set retired_at = now()
       from made where o.lookup_key = made.lookup_key and o.generation_count < made.generation_count
        and o.retired_at is null`,
    values,
  );
}

/**
 * A reflection of record `id` in one transaction under its lock: the next generation holds what
 * `observationsOf` makes of the record. When another process reflected the record first, its
 * generation stands and is the answer.
 */
export function reflect(
  sql: MastraSql,
  id: string,
  tokenCount: number,
  ofBufferedReflection: boolean,
  observationsOf: (current: OmRow) => string,
): Promise<ObservationalMemoryRecord> {
  return sql.db.transaction(async (tx) => {
    const current = await lockRecord(tx, sql.q, id);
    if (!current) throw recordNotFound(id);
    if (current.retiredAt !== null) return toRecord(await lockHeadAfter(tx, sql.q, current));
    return nextGeneration(tx, sql, current, observationsOf(current), tokenCount, ofBufferedReflection);
  });
}
