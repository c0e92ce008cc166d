/**
 * Opaque cursors for keyset pagination over (created_at, id). The timestamp travels as the
 * database's own microsecond text: a JavaScript Date keeps only milliseconds, and a cursor rounded to
 * milliseconds would skip or repeat rows created within the same millisecond.
 */

import { ValidationError } from "./errors.js";
import { isUuid } from "./ids.js";

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null when this page is the last. */
  nextCursor: string | null;
}

/** SQL for a row's position, selected beside it as `cursor_at`. */
export const CURSOR_AT = `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString("base64url");
}

export function decodeCursor(cursor: string): { at: string; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, "base64url").toString()) as unknown[];
    if (typeof at === "string" && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(at) && isUuid(id)) return { at, id };
  } catch {}
  throw new ValidationError("cursor is not one this store returned", { field: "cursor" });
}

/**
 * Takes `limit + 1` rows (the extra one only says another page exists) and builds the page.
 * Rows carry `cursor_at`, which is removed.
 */
export function toPage<T extends { cursor_at?: string }>(
  rows: T[],
  limit: number,
  idOf: (row: T) => string,
): Page<Omit<T, "cursor_at">> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  const nextCursor = more && last?.cursor_at ? encodeCursor(last.cursor_at, idOf(last)) : null;
  for (const row of items) delete row.cursor_at;
  return { items, nextCursor };
}
