/** What kv entries are made of, and what callers pass to write and list them. */

import { optionKeys } from "../core/input.js";
import type { PageOptions } from "../core/key-cursor.js";

export interface KvEntry {
  prefix: string;
  key: string;
  value: Uint8Array;
  /** 1 when created, +1 on every set; pass it as `expectedVersion` to compare-and-set. */
  version: number;
  expiresAt: Date | null;
  updatedAt: Date;
  /** What the entry belongs to (an execution id, or any key of the caller's); it goes with its owner. */
  owner: string | null;
}

export interface KvSetOptions {
  /** The entry disappears this many milliseconds after the write (default: never). */
  ttlMs?: number;
  /**
   * Write only if the live entry has this version; 0 means "only if there is no live entry".
   * Otherwise a ConflictError, and nothing is written.
   */
  expectedVersion?: number;
  /**
   * What the entry belongs to, at most 1,024 bytes (a UUID is kept in lower case): an execution's id,
   * so that pruning the execution deletes it, or any key of yours for `deleteByOwner`. A write
   * replaces the owner as it replaces the TTL (default: none).
   */
  owner?: string | null;
}

/** One entry of `setMany`. */
export interface KvSetManyEntry extends Omit<KvSetOptions, "expectedVersion"> {
  key: string;
  value: Uint8Array | string;
}

export interface KvSetIfAbsentResult {
  /** True when this call wrote the entry; false when a live one was there (and is left as it was). */
  created: boolean;
  /** The live entry's version: 1 when created. */
  version: number;
}

export interface KvListOptions extends PageOptions {
  /** By key in byte order of UTF-8: "asc" (the default) or "desc". */
  order?: "asc" | "desc";
  /** Only keys after this one (exclusive), whatever the order. */
  after?: string;
  /** Only keys before this one (exclusive), whatever the order. */
  before?: string;
  /** Only keys that start with this text (compared as text, never as a pattern). */
  startsWith?: string;
}

export interface KvPrefixListOptions extends PageOptions {
  /** Only prefixes that start with this text. */
  startsWith?: string;
}

export interface KvSweepOptions {
  /** Rows deleted per statement (default 1000), so no sweep holds many row locks for long. */
  batchSize?: number;
  /** Stop after this many batches (default: until nothing expired is left). */
  maxBatches?: number;
}

// The keys each of these takes, refused otherwise (refuseUnknownKeys): a misspelt expectedVersion
// would overwrite without its compare-and-set, a misspelt ttlMs would keep the entry for ever.
export const SET_KEYS = optionKeys<KvSetOptions>({ ttlMs: true, expectedVersion: true, owner: true });
export const SET_IF_ABSENT_KEYS = optionKeys<Omit<KvSetOptions, "expectedVersion">>({
  ttlMs: true,
  owner: true,
});
export const SET_MANY_KEYS = optionKeys<KvSetManyEntry>({ key: true, value: true, ttlMs: true, owner: true });
export const LIST_KEYS = optionKeys<KvListOptions>({
  limit: true,
  cursor: true,
  order: true,
  after: true,
  before: true,
  startsWith: true,
});
export const PREFIX_LIST_KEYS = optionKeys<KvPrefixListOptions>({
  limit: true,
  cursor: true,
  startsWith: true,
});
export const SWEEP_KEYS = optionKeys<KvSweepOptions>({ batchSize: true, maxBatches: true });
