/** Mastra's threads, messages and resources as rows, and back. */

import type { MastraDBMessage } from "@mastra/core/agent";
import type { StorageThreadType } from "@mastra/core/memory";
import type { StorageResourceType } from "@mastra/core/storage";
import { ValidationError } from "../../../core/errors.js";
import { checkJsonSize, checkText, jsonbRefuses, type PayloadLimits, toJson } from "../../../core/payload.js";

/** Statements of fixed text, run often: planned once per connection. */
export const PREPARED = { prepare: true } as const;

export const THREAD_COLUMNS = `id, resource_id as "resourceId", title, metadata, created_at as "createdAt",
  updated_at as "updatedAt"`;
/** A message row's columns, of the table or of `alias`. */
export function messageColumnsOf(alias?: string): string {
  const a = alias ? `${alias}.` : "";
  return `${a}id, ${a}thread_id as "threadId", ${a}resource_id as "resourceId", ${a}role, ${a}type, ${a}content,
    ${a}created_at as "createdAt"`;
}
export const MESSAGE_COLUMNS = messageColumnsOf();
export const RESOURCE_COLUMNS = `id, working_memory as "workingMemory", metadata, created_at as "createdAt",
  updated_at as "updatedAt"`;

export interface ThreadRow {
  id: string;
  resourceId: string;
  title: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface MessageRow {
  id: string;
  threadId: string;
  resourceId: string | null;
  role: string;
  type: string | null;
  content: string;
  createdAt: Date;
}

export interface ResourceRow {
  id: string;
  workingMemory: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toThread(row: ThreadRow): StorageThreadType {
  return {
    id: row.id,
    resourceId: row.resourceId,
    ...(row.title !== null ? { title: row.title } : {}),
    ...(row.metadata !== null ? { metadata: row.metadata } : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A stored message as Mastra's: its content parsed back (text that is not JSON stays text). */
export function toMessage(row: MessageRow): MastraDBMessage {
  let content: unknown;
  try {
    content = JSON.parse(row.content);
  } catch {
    content = row.content;
  }
  return {
    id: row.id,
    role: row.role as MastraDBMessage["role"],
    createdAt: row.createdAt,
    threadId: row.threadId,
    ...(row.resourceId !== null ? { resourceId: row.resourceId } : {}),
    ...(row.type !== null && row.type !== "v2" ? { type: row.type } : {}),
    content: content as MastraDBMessage["content"],
  };
}

export function toResource(row: ResourceRow): StorageResourceType {
  return {
    id: row.id,
    ...(row.workingMemory !== null ? { workingMemory: row.workingMemory } : {}),
    ...(row.metadata !== null ? { metadata: row.metadata } : {}),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** An id, a thread's or a resource's: non-empty text PostgreSQL can hold. */
export function checkId(value: unknown, field: string): string {
  return checkText(value, field, 1024);
}

/** A thread's title: any text PostgreSQL can hold, empty too. */
export function checkTitle(value: unknown, field: string): string {
  if (value === "") return "";
  return checkText(value, field, 1_000_000);
}

/** A date Mastra gives: a Date, or text a Date can read. */
export function checkDate(value: unknown, field: string): Date {
  const date = value instanceof Date ? value : typeof value === "string" ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new ValidationError(`${field} must be a Date`, { field });
  }
  return date;
}

/** A metadata object as its jsonb column takes it (null for none). */
export function metadataJson(value: unknown, field: string, limits: PayloadLimits): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ValidationError(`${field} must be an object`, { field });
  }
  return toJson(value, field, limits);
}

/**
 * A message's content as JSON text. Text holds whatever JSON.stringify writes (a NUL or a lone surrogate
 * escaped), so only what JSON cannot hold at all is refused: a cycle, a BigInt, no content.
 */
function contentJson(content: unknown, field: string, limits: PayloadLimits): string {
  if (content === undefined) throw new ValidationError(`${field} is required`, { field });
  let text: string;
  try {
    text = JSON.stringify(content);
  } catch (error) {
    throw new ValidationError(`${field} cannot be written as JSON: ${(error as Error).message}`, { field });
  }
  return checkJsonSize(text, field, limits);
}

/** A message as the columns of its row. */
export interface MessageColumns {
  id: string;
  threadId: string;
  resourceId: string;
  role: string;
  type: string;
  content: string;
  metadata: string | null;
  createdAt: Date;
}

export function messageColumns(
  message: MastraDBMessage,
  index: number,
  limits: PayloadLimits,
): MessageColumns {
  const at = `messages[${index}]`;
  if (typeof message !== "object" || message === null) {
    throw new ValidationError(`${at} must be a message`, { field: "messages" });
  }
  if (!message.threadId) throw new ValidationError(`${at}: Thread ID is required`, { field: "threadId" });
  if (!message.resourceId) {
    throw new ValidationError(`${at}: Resource ID is required`, { field: "resourceId" });
  }
  if (typeof message.role !== "string" || (message.role as string) === "") {
    throw new ValidationError(`${at}.role must be a non-empty string`, { field: "role" });
  }
  // JSON text keeps every string, a NUL or a lone surrogate too (escaped); only the metadata column,
  // jsonb, cannot hold those, and a message whose metadata holds one is kept without it for filters.
  const content = contentJson(message.content, `${at}.content`, limits);
  const metadata = (message.content as { metadata?: unknown } | undefined)?.metadata;
  let metadataText: string | null = null;
  if (
    metadata !== undefined &&
    metadata !== null &&
    typeof metadata === "object" &&
    !Array.isArray(metadata)
  ) {
    const text = JSON.stringify(metadata);
    metadataText = jsonbRefuses(text) ? null : text;
  }
  return {
    id: checkId(message.id, `${at}.id`),
    threadId: checkId(message.threadId, `${at}.threadId`),
    resourceId: checkId(message.resourceId, `${at}.resourceId`),
    role: message.role,
    type: typeof message.type === "string" && message.type !== "" ? message.type : "v2",
    content,
    metadata: metadataText,
    createdAt: checkDate(message.createdAt, `${at}.createdAt`),
  };
}
