/** Mastra's observational memory records as rows (migration 0043), and the checks of what callers give. */

import type {
  BufferedObservationChunk,
  BufferedObservationChunkInput,
  ObservationalMemoryRecord,
  ObservationalMemoryScope,
} from "@mastra/core/storage";
import { ValidationError } from "../../../core/errors.js";
import { checkText, type PayloadLimits, toJson } from "../../../core/payload.js";
import { checkDate, checkId } from "./memory-rows.js";

/** A record's columns as Mastra names its fields; counts as float8 so they come back as numbers. */
export const OM_COLUMNS = `id, scope, thread_id as "threadId", resource_id as "resourceId",
  generation_count as "generationCount", origin_type as "originType", active_observations as "activeObservations",
  observation_token_count::float8 as "observationTokenCount", total_tokens_observed::float8 as "totalTokensObserved",
  pending_message_tokens::float8 as "pendingMessageTokens", last_observed_at as "lastObservedAt",
  observed_message_ids as "observedMessageIds", observed_timezone as "observedTimezone",
  buffered_chunks as "bufferedChunks", last_buffered_at_tokens::float8 as "lastBufferedAtTokens",
  last_buffered_at_time as "lastBufferedAtTime", buffered_reflection as "bufferedReflection",
  buffered_reflection_tokens::float8 as "bufferedReflectionTokens",
  buffered_reflection_input_tokens::float8 as "bufferedReflectionInputTokens",
  reflected_observation_line_count as "reflectedObservationLineCount", is_observing as "isObserving",
  is_reflecting as "isReflecting", is_buffering_observation as "isBufferingObservation",
  is_buffering_reflection as "isBufferingReflection", config, metadata, retired_at as "retiredAt",
  created_at as "createdAt", updated_at as "updatedAt"`;

/** The columns an insert names, in the order `recordValues` gives them. */
export const OM_INSERT_COLUMNS = `id, lookup_key, scope, thread_id, resource_id, generation_count, origin_type,
  active_observations, observation_token_count, total_tokens_observed, pending_message_tokens, last_observed_at,
  observed_message_ids, observed_timezone, buffered_chunks, last_buffered_at_tokens, last_buffered_at_time,
  buffered_reflection, buffered_reflection_tokens, buffered_reflection_input_tokens,
  reflected_observation_line_count, is_observing, is_reflecting, is_buffering_observation,
  is_buffering_reflection, config, metadata, created_at, updated_at`;

export const OM_INSERT_VALUES = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15::jsonb,
  $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26::jsonb, $27::jsonb, coalesce($28::timestamptz, now()),
  coalesce($29::timestamptz, now())`;

export interface OmRow {
  id: string;
  scope: ObservationalMemoryScope;
  threadId: string | null;
  resourceId: string;
  generationCount: number;
  originType: ObservationalMemoryRecord["originType"];
  activeObservations: string;
  observationTokenCount: number;
  totalTokensObserved: number;
  pendingMessageTokens: number;
  lastObservedAt: Date | null;
  observedMessageIds: string[] | null;
  observedTimezone: string | null;
  bufferedChunks: BufferedObservationChunk[] | null;
  lastBufferedAtTokens: number;
  lastBufferedAtTime: Date | null;
  bufferedReflection: string | null;
  bufferedReflectionTokens: number | null;
  bufferedReflectionInputTokens: number | null;
  reflectedObservationLineCount: number | null;
  isObserving: boolean;
  isReflecting: boolean;
  isBufferingObservation: boolean;
  isBufferingReflection: boolean;
  config: Record<string, unknown>;
  metadata: Record<string, unknown> | null;
  retiredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The key a thread's record (by its thread alone) or a resource's record is found by. */
export function lookupKey(threadId: string | null, resourceId: string): string {
  return threadId ? `thread:${threadId}` : `resource:${resourceId}`;
}

/** A chunk's times were JSON text in its row: Dates again, as Mastra gave them. */
function toChunk(chunk: BufferedObservationChunk): BufferedObservationChunk {
  return { ...chunk, lastObservedAt: new Date(chunk.lastObservedAt), createdAt: new Date(chunk.createdAt) };
}

/** A row as Mastra's record: fields that are not set are left out rather than null. */
export function toRecord(row: OmRow): ObservationalMemoryRecord {
  const optional = <T>(value: T | null) => (value === null ? undefined : value);
  const record: ObservationalMemoryRecord = {
    id: row.id,
    scope: row.scope,
    threadId: row.threadId,
    resourceId: row.resourceId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    lastObservedAt: optional(row.lastObservedAt),
    originType: row.originType,
    generationCount: row.generationCount,
    activeObservations: row.activeObservations,
    bufferedObservationChunks: row.bufferedChunks?.length ? row.bufferedChunks.map(toChunk) : undefined,
    bufferedReflection: optional(row.bufferedReflection),
    bufferedReflectionTokens: optional(row.bufferedReflectionTokens),
    bufferedReflectionInputTokens: optional(row.bufferedReflectionInputTokens),
    reflectedObservationLineCount: optional(row.reflectedObservationLineCount),
    observedMessageIds: optional(row.observedMessageIds),
    observedTimezone: optional(row.observedTimezone),
    totalTokensObserved: row.totalTokensObserved,
    observationTokenCount: row.observationTokenCount,
    pendingMessageTokens: row.pendingMessageTokens,
    isReflecting: row.isReflecting,
    isObserving: row.isObserving,
    isBufferingObservation: row.isBufferingObservation,
    isBufferingReflection: row.isBufferingReflection,
    lastBufferedAtTokens: row.lastBufferedAtTokens,
    lastBufferedAtTime: row.lastBufferedAtTime,
    config: row.config,
    metadata: optional(row.metadata),
  };
  for (const key of Object.keys(record) as (keyof ObservationalMemoryRecord)[]) {
    if (record[key] === undefined) delete record[key];
  }
  return record;
}

/** A record's values for OM_INSERT_COLUMNS; a record without times is made now, by the database's clock. */
export function recordValues(record: ObservationalMemoryRecord, limits: PayloadLimits): unknown[] {
  const json = (value: unknown, field: string) =>
    value === undefined || value === null ? null : toJson(value, field, limits);
  const optionalCount = (value: unknown, field: string) =>
    value === undefined || value === null ? null : checkCount(value, field);
  if (typeof record !== "object" || record === null) {
    throw new ValidationError("record must be an observational memory record", { field: "record" });
  }
  const scope = checkScope(record.scope);
  const { threadId, key } = checkKey(record.threadId, record.resourceId, scope);
  if (!Number.isSafeInteger(record.generationCount) || record.generationCount < 0) {
    throw new ValidationError("record.generationCount must be a whole number, 0 or more", {
      field: "generationCount",
    });
  }
  if (record.originType !== "initial" && record.originType !== "reflection") {
    throw new ValidationError('record.originType must be "initial" or "reflection"', { field: "originType" });
  }
  return [
    checkId(record.id, "record.id"),
    key,
    scope,
    threadId,
    record.resourceId,
    record.generationCount,
    record.originType,
    checkObservations(record.activeObservations ?? "", "record.activeObservations"),
    checkCount(record.observationTokenCount ?? 0, "record.observationTokenCount"),
    checkCount(record.totalTokensObserved ?? 0, "record.totalTokensObserved"),
    checkCount(record.pendingMessageTokens ?? 0, "record.pendingMessageTokens"),
    record.lastObservedAt ? checkDate(record.lastObservedAt, "record.lastObservedAt") : null,
    json(record.observedMessageIds, "record.observedMessageIds"),
    record.observedTimezone ?? null,
    record.bufferedObservationChunks?.length
      ? json(record.bufferedObservationChunks, "record.bufferedObservationChunks")
      : null,
    checkCount(record.lastBufferedAtTokens ?? 0, "record.lastBufferedAtTokens"),
    record.lastBufferedAtTime ? checkDate(record.lastBufferedAtTime, "record.lastBufferedAtTime") : null,
    record.bufferedReflection ?? null,
    optionalCount(record.bufferedReflectionTokens, "record.bufferedReflectionTokens"),
    optionalCount(record.bufferedReflectionInputTokens, "record.bufferedReflectionInputTokens"),
    optionalCount(record.reflectedObservationLineCount, "record.reflectedObservationLineCount"),
    record.isObserving === true,
    record.isReflecting === true,
    record.isBufferingObservation === true,
    record.isBufferingReflection === true,
    toJson(checkConfig(record.config ?? {}, "record.config"), "record.config", limits),
    json(record.metadata, "record.metadata"),
    record.createdAt === undefined ? null : checkDate(record.createdAt, "record.createdAt"),
    record.updatedAt === undefined ? null : checkDate(record.updatedAt, "record.updatedAt"),
  ];
}

/** A token or line count: a finite number, 0 or more, kept rounded as Mastra's own stores keep it. */
export function checkCount(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new ValidationError(`${field} must be a number, 0 or more`, { field });
  }
  return Math.round(value);
}

/** Observations: any text PostgreSQL can hold, empty too. */
export function checkObservations(value: unknown, field: string): string {
  if (value === "") return "";
  return checkText(value, field, 256 * 1024 * 1024);
}

export function checkScope(value: unknown): ObservationalMemoryScope {
  if (value !== "thread" && value !== "resource") {
    throw new ValidationError(`scope must be "thread" or "resource", not ${JSON.stringify(value)}`, {
      field: "scope",
    });
  }
  return value;
}

/**
 * A record's config as JSON keeps it (as @mastra/pg stores it): @mastra/memory passes the observer's
 * and reflector's models as configured, an object with methods when a model is not given by id, and
 * the record keeps its data, not its methods. What JSON cannot hold at all (a cycle, a BigInt) is
 * refused; text PostgreSQL cannot hold is refused where the copy is stored (toJson).
 */
export function checkConfig(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError(`${field} must be an object`, { field });
  }
  try {
    return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  } catch (error) {
    throw new ValidationError(`${field} cannot be held as JSON: ${(error as Error).message}`, { field });
  }
}

/** A thread (when there is one; a thread's record needs one) and the resource a record is kept for. */
export function checkKey(
  threadId: unknown,
  resourceId: unknown,
  scope?: ObservationalMemoryScope,
): { threadId: string | null; key: string } {
  const resource = checkId(resourceId, "resourceId");
  const thread = threadId === null || threadId === undefined ? null : checkId(threadId, "threadId");
  if (scope === "thread" && thread === null) {
    throw new ValidationError("a thread's observational memory needs its threadId", { field: "threadId" });
  }
  return { threadId: thread, key: lookupKey(thread, resource) };
}

/** Message ids: an array of ids. */
export function checkMessageIds(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw new ValidationError(`${field} must be an array of ids`, { field });
  return value.map((id, i) => checkId(id, `${field}[${i}]`));
}

/** A new chunk as it is kept: its own id, its counts rounded, when it was made. */
export function newChunk(chunk: BufferedObservationChunkInput, limits: PayloadLimits): string {
  if (typeof chunk !== "object" || chunk === null) {
    throw new ValidationError("chunk must be an object", { field: "chunk" });
  }
  const kept: BufferedObservationChunk = {
    id: `ombuf-${crypto.randomUUID()}`,
    cycleId: checkId(chunk.cycleId, "chunk.cycleId"),
    observations: checkObservations(chunk.observations, "chunk.observations"),
    tokenCount: checkCount(chunk.tokenCount, "chunk.tokenCount"),
    messageIds: checkMessageIds(chunk.messageIds, "chunk.messageIds"),
    messageTokens: checkCount(chunk.messageTokens ?? 0, "chunk.messageTokens"),
    lastObservedAt: checkDate(chunk.lastObservedAt, "chunk.lastObservedAt"),
    createdAt: new Date(),
    suggestedContinuation: chunk.suggestedContinuation,
    currentTask: chunk.currentTask,
    threadTitle: chunk.threadTitle,
    extractedValues: chunk.extractedValues,
    extractionFailures: chunk.extractionFailures,
  };
  return toJson([kept], "chunk", limits);
}
