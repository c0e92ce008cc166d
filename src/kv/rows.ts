/**
 * What the kv statements share: the row as read, the checks of prefixes, keys, owners and values, and
 * the range of keys that start with a given text.
 */

import { ValidationError } from "../core/errors.js";
import { isUuid } from "../core/ids.js";
import { checkText } from "../core/payload.js";
import type { KvEntry } from "./types.js";

/**
 * The largest prefix, and the largest key, in bytes of UTF-8: both go into one primary-key entry,
 * which a btree holds only up to 2,704 bytes.
 */
export const MAX_KV_KEY_BYTES = 1024;

export interface Row {
  prefix: string;
  key: string;
  value: Uint8Array;
  version: number;
  expires_at: Date | null;
  updated_at: Date;
  owner: string | null;
}

export const COLUMNS = "prefix, key, value, version, expires_at, updated_at, owner";
/** An entry past its TTL is invisible at once; its row is deleted later by sweepExpired. */
export const LIVE = "(expires_at is null or expires_at > now())";

export function toEntry(row: Row): KvEntry {
  return {
    prefix: row.prefix,
    key: row.key,
    value: row.value,
    version: row.version,
    expiresAt: row.expires_at,
    updatedAt: row.updated_at,
    owner: row.owner,
  };
}

export function toBytes(value: Uint8Array | string): Uint8Array {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (value instanceof Uint8Array) return value;
  throw new ValidationError("value must be bytes (a Uint8Array) or a string", { field: "value" });
}

export function checkKey(value: unknown, field: "prefix" | "key" = "key"): string {
  return checkText(value, field, MAX_KV_KEY_BYTES);
}

/** An owner, when given; a UUID in lower case, so an execution's id matches however it was written. */
export function checkOwner(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const owner = checkText(value, "owner", MAX_KV_KEY_BYTES);
  return isUuid(owner) ? owner.toLowerCase() : owner;
}

/** A bound of a range (after, before, startsWith): like a key, but the empty text is allowed. */
export function checkBound(value: unknown, field: string): string {
  return value === "" ? "" : checkText(value, field, MAX_KV_KEY_BYTES);
}

/**
 * The first text after every text that starts with `start`, or null when there is none. With the "C"
 * collation text compares as UTF-8 bytes, which is code point order, so the keys that start with
 * `start` are exactly those >= start and < this bound: a range the primary key serves, with nothing
 * to escape (LIKE would read `%`, `_` and `\` in `start` as a pattern). It is `start` with its last
 * code point one higher, skipping the surrogates, which no stored text holds; trailing U+10FFFF, the
 * last code point, are dropped first.
 */
export function startsWithEnd(start: string): string | null {
  const points = Array.from(start, (c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    const last = points.pop() as number;
    if (last < 0x10ffff) {
      points.push(last + 1 === 0xd800 ? 0xe000 : last + 1);
      return String.fromCodePoint(...points);
    }
  }
  return null;
}
