/**
 * Mastra's observational memory on flowstore's table (migration 0043): what an agent observed of a
 * thread or a resource, kept as generations (observational-generations.ts). Writes that change one
 * field are one statement; an append of buffered observations is one statement that adds to what the
 * row holds when it runs, and a swap reads and writes the row under its lock, so two Mastra instances
 * on one store lose nothing of each other's.
 */

import {
  type CreateObservationalMemoryInput,
  type CreateReflectionGenerationInput,
  MemoryStorage,
  type ObservationalMemoryHistoryOptions,
  type ObservationalMemoryRecord,
  type SwapBufferedReflectionToActiveInput,
  type SwapBufferedToActiveInput,
  type SwapBufferedToActiveResult,
  type UpdateActiveObservationsInput,
  type UpdateBufferedObservationsInput,
  type UpdateBufferedReflectionInput,
  type UpdateObservationalMemoryConfigInput,
} from "@mastra/core/storage";
import { ConflictError, ValidationError } from "../../../core/errors.js";
import { toJson } from "../../../core/payload.js";
import type { Store } from "../../../index.js";
import { MastraTables } from "../tables.js";
import { checkDate, checkId } from "./memory-rows.js";
import { BOUNDARY_START, checkSwapInput, swapChunks } from "./observational-activation.js";
import { headOf, insertRecord, onHead, recordNotFound, reflect } from "./observational-generations.js";
import {
  checkConfig,
  checkCount,
  checkKey,
  checkMessageIds,
  checkObservations,
  checkScope,
  newChunk,
  OM_COLUMNS,
  OM_INSERT_COLUMNS,
  OM_INSERT_VALUES,
  type OmRow,
  recordValues,
  toRecord,
} from "./observational-rows.js";

const TABLE = "mastra_observational_memory";

/** The memory domain's observational-memory methods; threads, messages and resources are memory.ts's. */
export abstract class ObservationalMemoryStorage extends MemoryStorage {
  override readonly supportsObservationalMemory = true;
  protected readonly tables: MastraTables;

  constructor(store: Store | (() => Promise<Store>)) {
    super();
    this.tables = new MastraTables(store);
  }

  /** The newest generation of the thread's record (when `threadId` is given) or the resource's. */
  override async getObservationalMemory(
    threadId: string | null,
    resourceId: string,
  ): Promise<ObservationalMemoryRecord | null> {
    const { key } = checkKey(threadId, resourceId);
    const { db, q } = await this.tables.sql();
    const head = await headOf(db, q, key);
    return head ? toRecord(head) : null;
  }

  /** Generations newest first: `limit` (10 unless given) of them, after `offset`, made within from..to. */
  override async getObservationalMemoryHistory(
    threadId: string | null,
    resourceId: string,
    limit = 10,
    options: ObservationalMemoryHistoryOptions = {},
  ): Promise<ObservationalMemoryRecord[]> {
    const { key } = checkKey(threadId, resourceId);
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new ValidationError("limit must be a whole number, 0 or more", { field: "limit" });
    }
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new ValidationError("options.offset must be a whole number, 0 or more", { field: "offset" });
    }
    const from = options.from === undefined ? null : checkDate(options.from, "options.from");
    const to = options.to === undefined ? null : checkDate(options.to, "options.to");
    // From the primary: a caller reads the generations it has just made.
    const { db, q } = await this.tables.sql();
    const { rows } = await db.query<OmRow>(
      `select ${OM_COLUMNS} from ${q}.${TABLE}
        where lookup_key = $1 and ($2::timestamptz is null or created_at >= $2)
          and ($3::timestamptz is null or created_at <= $3)
        order by generation_count desc limit $4 offset $5`,
      [key, from, to, limit, offset],
    );
    return rows.map(toRecord);
  }

  /**
   * The key's first record; when the key has one already (another process made it first), that one:
   * two instances starting on one thread at once share one record.
   */
  override async initializeObservationalMemory(
    input: CreateObservationalMemoryInput,
  ): Promise<ObservationalMemoryRecord> {
    const scope = checkScope(input?.scope);
    const { threadId, key } = checkKey(input.threadId, input.resourceId, scope);
    const config = checkConfig(input.config ?? {}, "config");
    if (input.observedTimezone !== undefined) checkId(input.observedTimezone, "observedTimezone");
    const sql = await this.tables.sql();
    const values = recordValues(
      {
        id: crypto.randomUUID(),
        scope,
        threadId,
        resourceId: input.resourceId,
        originType: "initial",
        generationCount: 0,
        activeObservations: "",
        totalTokensObserved: 0,
        observationTokenCount: 0,
        pendingMessageTokens: 0,
        isReflecting: false,
        isObserving: false,
        isBufferingObservation: false,
        isBufferingReflection: false,
        lastBufferedAtTokens: 0,
        lastBufferedAtTime: null,
        config,
        ...(input.observedTimezone === undefined ? {} : { observedTimezone: input.observedTimezone }),
      } as Omit<ObservationalMemoryRecord, "createdAt" | "updatedAt"> as ObservationalMemoryRecord,
      sql.limits,
    );
    for (let attempt = 0; attempt < 3; attempt++) {
      const { rows } = await sql.db.query<OmRow>(
        `insert into ${sql.q}.${TABLE} (${OM_INSERT_COLUMNS})
         select ${OM_INSERT_VALUES} where not exists (select 1 from ${sql.q}.${TABLE} where lookup_key = $2)
         on conflict (lookup_key, generation_count) do nothing returning ${OM_COLUMNS}`,
        values,
      );
      const made = rows[0] ?? (await headOf(sql.db, sql.q, key));
      if (made) return toRecord(made);
    }
    throw new ConflictError(`observational memory of ${key} was cleared while it was being made; try again`);
  }

  /**
   * Replaces the active observations; the pending message tokens are observed now, so 0. A record a
   * reflection retired takes them as given (the observer's text is of that generation).
   */
  override async updateActiveObservations(input: UpdateActiveObservationsInput): Promise<void> {
    const id = checkId(input?.id, "id");
    const observations = checkObservations(input.observations, "observations");
    const tokenCount = checkCount(input.tokenCount, "tokenCount");
    const lastObservedAt = checkDate(input.lastObservedAt, "lastObservedAt");
    const { db, q, limits } = await this.tables.sql();
    const ids =
      input.observedMessageIds === undefined
        ? null
        : JSON.stringify(checkMessageIds(input.observedMessageIds, "observedMessageIds"));
    if (ids !== null && Buffer.byteLength(ids) > limits.jsonBytes) {
      throw new ValidationError("observedMessageIds is over the store's JSON limit", {
        field: "observedMessageIds",
      });
    }
    const timezone =
      input.observedTimezone === undefined ? null : checkId(input.observedTimezone, "observedTimezone");
    const { rowCount } = await db.query(
      `update ${q}.${TABLE} set active_observations = $2, observation_token_count = $3,
         total_tokens_observed = total_tokens_observed + $3, pending_message_tokens = 0, last_observed_at = $4,
         observed_message_ids = coalesce($5::jsonb, observed_message_ids),
         observed_timezone = coalesce($6, observed_timezone), updated_at = now()
       where id = $1`,
      [id, observations, tokenCount, lastObservedAt, ids, timezone],
    );
    if (rowCount === 0) throw recordNotFound(id);
  }

  /**
   * Appends a chunk to the buffered observations, in one statement: it adds to what the row holds when
   * it runs, so appends of two processes both stay. A cycle already buffered is not added again.
   */
  override async updateBufferedObservations(input: UpdateBufferedObservationsInput): Promise<void> {
    const id = checkId(input?.id, "id");
    const { db, q, limits } = await this.tables.sql();
    const chunk = newChunk(input.chunk, limits);
    const at =
      input.lastBufferedAtTime === undefined
        ? null
        : checkDate(input.lastBufferedAtTime, "lastBufferedAtTime");
    await onHead(db, q, id, async (target) => {
      const { rowCount } = await db.query(
        `update ${q}.${TABLE} set
           buffered_chunks = case
             when exists (select 1 from jsonb_array_elements(coalesce(buffered_chunks, '[]')) c
                           where c->>'cycleId' = $2) then buffered_chunks
             else coalesce(buffered_chunks, '[]'::jsonb) || $1::jsonb end,
           last_buffered_at_time = coalesce($3, last_buffered_at_time), updated_at = now()
         where id = $4 and retired_at is null`,
        [chunk, input.chunk.cycleId, at, target],
      );
      return rowCount;
    });
  }

  /**
   * Activates the oldest buffered chunks (as many as the ratio asks, observational-activation.ts),
   * appending their observations to the active ones, under the row's lock: a chunk appended meanwhile
   * stays buffered, and a second swap finds only what the first left.
   */
  override async swapBufferedToActive(input: SwapBufferedToActiveInput): Promise<SwapBufferedToActiveResult> {
    const id = checkId(input?.id, "id");
    checkSwapInput(input);
    const lastObservedAt =
      input.lastObservedAt === undefined ? undefined : checkDate(input.lastObservedAt, "lastObservedAt");
    return swapChunks(await this.tables.sql(), id, input, lastObservedAt);
  }

  /**
   * The next generation, holding `reflection` (and what was activated since the reflector read the
   * record). When another process reflected the same record first, nothing is made and its
   * generation (the head) is returned.
   */
  override async createReflectionGeneration(
    input: CreateReflectionGenerationInput,
  ): Promise<ObservationalMemoryRecord> {
    const id = checkId(input?.currentRecord?.id, "currentRecord.id");
    const reflection = checkObservations(input.reflection, "reflection");
    const tokenCount = checkCount(input.tokenCount, "tokenCount");
    const seen = input.currentRecord.activeObservations;
    return reflect(await this.tables.sql(), id, tokenCount, false, (current) => {
      // Chunks another process activated after the reflector read the record were appended after a
      // boundary: they were not reflected on, so they follow the reflection rather than vanish.
      const appended =
        typeof seen === "string" &&
        seen !== "" &&
        current.activeObservations.startsWith(`${seen}${BOUNDARY_START}`);
      return appended ? reflection + current.activeObservations.slice(seen.length) : reflection;
    });
  }

  /** Adds to the buffered reflection (a reflection made ahead of need), with its counts. */
  override async updateBufferedReflection(input: UpdateBufferedReflectionInput): Promise<void> {
    const id = checkId(input?.id, "id");
    const reflection = checkObservations(input.reflection, "reflection");
    const tokens = checkCount(input.tokenCount, "tokenCount");
    const inputTokens = checkCount(input.inputTokenCount, "inputTokenCount");
    const lines = checkCount(input.reflectedObservationLineCount, "reflectedObservationLineCount");
    const { db, q } = await this.tables.sql();
    const { rowCount } = await db.query(
      `update ${q}.${TABLE} set
         buffered_reflection = case when coalesce(buffered_reflection, '') <> ''
           then buffered_reflection || E'\\n\\n' || $2 else $2 end,
         buffered_reflection_tokens = coalesce(buffered_reflection_tokens, 0) + $3,
         buffered_reflection_input_tokens = coalesce(buffered_reflection_input_tokens, 0) + $4,
         reflected_observation_line_count = $5, updated_at = now()
       where id = $1`,
      [id, reflection, tokens, inputTokens, lines],
    );
    if (rowCount === 0) throw recordNotFound(id);
  }

  /**
   * The next generation from the buffered reflection: it replaces the observation lines it reflected
   * and the lines observed since follow it. One transaction under the record's lock.
   */
  override async swapBufferedReflectionToActive(
    input: SwapBufferedReflectionToActiveInput,
  ): Promise<ObservationalMemoryRecord> {
    const id = checkId(input?.currentRecord?.id, "currentRecord.id");
    const tokenCount = checkCount(input.tokenCount, "tokenCount");
    return reflect(await this.tables.sql(), id, tokenCount, true, (current) => {
      if (!current.bufferedReflection) {
        throw new ConflictError(`No buffered reflection to swap on observational memory record ${id}`);
      }
      const unreflected = current.activeObservations
        .split("\n")
        .slice(current.reflectedObservationLineCount ?? 0)
        .join("\n")
        .trim();
      return unreflected ? `${current.bufferedReflection}\n\n${unreflected}` : current.bufferedReflection;
    });
  }

  override async setReflectingFlag(id: string, isReflecting: boolean): Promise<void> {
    await this.setColumn(id, "is_reflecting", checkFlag(isReflecting, "isReflecting"));
  }

  override async setObservingFlag(id: string, isObserving: boolean): Promise<void> {
    await this.setColumn(id, "is_observing", checkFlag(isObserving, "isObserving"));
  }

  /** Sets the flag, and the token count the buffering started at when given. */
  override async setBufferingObservationFlag(
    id: string,
    isBuffering: boolean,
    lastBufferedAtTokens?: number,
  ): Promise<void> {
    const flag = checkFlag(isBuffering, "isBuffering");
    const tokens =
      lastBufferedAtTokens === undefined ? null : checkCount(lastBufferedAtTokens, "lastBufferedAtTokens");
    await this.setColumn(id, "is_buffering_observation", flag, tokens);
  }

  override async setBufferingReflectionFlag(id: string, isBuffering: boolean): Promise<void> {
    await this.setColumn(id, "is_buffering_reflection", checkFlag(isBuffering, "isBuffering"));
  }

  override async setPendingMessageTokens(id: string, tokenCount: number): Promise<void> {
    await this.setColumn(id, "pending_message_tokens", checkCount(tokenCount, "tokenCount"));
  }

  /** Deep-merges `config` into the record's, under the row's lock. */
  override async updateObservationalMemoryConfig(input: UpdateObservationalMemoryConfigInput): Promise<void> {
    const id = checkId(input?.id, "id");
    const config = checkConfig(input.config, "config");
    const { db, q, limits } = await this.tables.sql();
    await onHead(db, q, id, (target) =>
      db.transaction(async (tx) => {
        const { rows } = await tx.query<{ config: Record<string, unknown> }>(
          `select config from ${q}.${TABLE} where id = $1 and retired_at is null for update`,
          [target],
        );
        if (!rows[0]) return 0;
        const merged = toJson(this.deepMergeConfig(rows[0].config, config), "config", limits);
        await tx.query(`update ${q}.${TABLE} set config = $2::jsonb, updated_at = now() where id = $1`, [
          target,
          merged,
        ]);
        return 1;
      }),
    );
  }

  override async insertObservationalMemoryRecord(record: ObservationalMemoryRecord): Promise<void> {
    await insertRecord(await this.tables.sql(), record);
  }

  /** Deletes every generation of the thread's record (when `threadId` is given) or the resource's. */
  override async clearObservationalMemory(threadId: string | null, resourceId: string): Promise<void> {
    const { key } = checkKey(threadId, resourceId);
    const { db, q } = await this.tables.sql();
    await db.query(`delete from ${q}.${TABLE} where lookup_key = $1`, [key]);
  }

  /** Sets one column of the record, or of the head that replaced it (and the buffering's token count). */
  private async setColumn(id: string, column: string, value: unknown, tokens: number | null = null) {
    const target = checkId(id, "id");
    const { db, q } = await this.tables.sql();
    await onHead(db, q, target, async (at) => {
      const { rowCount } = await db.query(
        `update ${q}.${TABLE} set ${column} = $2,
           last_buffered_at_tokens = coalesce($3::bigint, last_buffered_at_tokens), updated_at = now()
         where id = $1 and retired_at is null`,
        [at, value, tokens],
      );
      return rowCount;
    });
  }
}

function checkFlag(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw new ValidationError(`${field} must be true or false`, { field });
  return value;
}
