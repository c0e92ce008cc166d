/**
 * Keyset pagination over a text key (kv, durableState, blobs): a page ends with an opaque cursor that
 * holds the last key returned; the next page starts strictly after it. No OFFSET, so a page costs the
 * same at the end of a large table as at its start.
 */

import { ValidationError } from "./errors.js";
import { optionKeys } from "./input.js";
import type { Page } from "./keyset.js";

/** Every list in the store pages the same way: `{ items, nextCursor }`. */
export type { Page } from "./keyset.js";

export interface PageOptions {
  /** From the previous page's `nextCursor`. */
  cursor?: string | null;
  /** At most this many items (default 100, at most 1000). */
  limit?: number;
}

/** PageOptions' keys, for a list that takes nothing else (refuseUnknownKeys). */
export const PAGE_KEYS = optionKeys<PageOptions>({ cursor: true, limit: true });

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new ValidationError(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, { field: "limit" });
  }
  return limit;
}

/** The key a cursor resumes after, or undefined for the first page. */
export function cursorKey(cursor: string | null | undefined): string | undefined {
  if (cursor === undefined || cursor === null) return undefined;
  const key = typeof cursor === "string" ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  if (!key || Buffer.from(key, "utf8").toString("base64url") !== cursor) {
    throw new ValidationError("cursor is not one returned by a list call", { field: "cursor" });
  }
  return key;
}

/** Builds the page: `rows` were fetched with limit + 1, so an extra row means there is a next page. */
export function toPage<R, T>(rows: R[], limit: number, key: (row: R) => string, map: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const more = rows.length > limit && last !== undefined;
  return {
    items: items.map(map),
    nextCursor: more ? Buffer.from(key(last), "utf8").toString("base64url") : null,
  };
}
