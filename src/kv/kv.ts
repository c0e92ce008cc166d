/**
 * kv: `(prefix, key) -> bytes`. The prefix is a namespace compared by equality, never a pattern, so
 * `list("a%")` sees only the keys stored under the prefix `a%`. Every entry has a version, so `set`
 * with `expectedVersion` is a compare-and-set. An entry past its TTL is invisible at once and its row
 * is deleted later by `sweepExpired`, in batches. An entry may have an owner: an execution's entries
 * go when it is pruned, and `deleteByOwner` deletes those of any owner.
 *
 * This file is the public facade, `store.kv` (and `tx.kv`), with the deletes; reads are in kv/read.ts,
 * writes in kv/write.ts, on the shared row and checks of kv/rows.ts.
 */

import { forReads, type SqlContext, type StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { refuseUnknownKeys } from "../core/input.js";
import type { Page } from "../core/key-cursor.js";
import { beforeCut } from "../core/planned-few.js";
import { get, getMany, list, listPrefixes } from "./read.js";
import { checkKey, checkOwner } from "./rows.js";
import {
  type KvEntry,
  type KvListOptions,
  type KvPrefixListOptions,
  type KvSetIfAbsentResult,
  type KvSetManyEntry,
  type KvSetOptions,
  type KvSweepOptions,
  LIST_KEYS,
  PREFIX_LIST_KEYS,
  SET_IF_ABSENT_KEYS,
  SET_KEYS,
  SET_MANY_KEYS,
  SWEEP_KEYS,
} from "./types.js";
import { set, setIfAbsent, setMany } from "./write.js";

const DELETE_BATCH = 10_000;

export class KeyValue {
  constructor(protected readonly context: StoreContext) {}

  private get table(): string {
    return `${this.context.q}.kv`;
  }

  async get(prefix: string, key: string): Promise<KvEntry | undefined> {
    return get(this.context, prefix, key);
  }

  /** The live entries of these keys in one statement, in the order of `keys` (undefined where none). */
  async getMany(prefix: string, keys: readonly string[]): Promise<(KvEntry | undefined)[]> {
    return getMany(this.context, prefix, keys);
  }

  /** Creates or replaces the entry (its value, TTL and owner); returns the new version. */
  async set(
    prefix: string,
    key: string,
    value: Uint8Array | string,
    options: KvSetOptions = {},
  ): Promise<{ version: number }> {
    refuseUnknownKeys(options, SET_KEYS);
    return set(this.context, prefix, key, value, options);
  }

  /** Writes the entry only if there is no live one; `created` says whether it did. Never a conflict. */
  async setIfAbsent(
    prefix: string,
    key: string,
    value: Uint8Array | string,
    options: Omit<KvSetOptions, "expectedVersion"> = {},
  ): Promise<KvSetIfAbsentResult> {
    refuseUnknownKeys(options, SET_IF_ABSENT_KEYS);
    return setIfAbsent(this.context, prefix, key, value, options);
  }

  /** Creates or replaces many entries of one prefix in one statement, all or none; versions in order. */
  async setMany(prefix: string, entries: readonly KvSetManyEntry[]): Promise<{ version: number }[]> {
    if (Array.isArray(entries)) {
      for (const [i, entry] of entries.entries())
        refuseUnknownKeys(entry ?? {}, SET_MANY_KEYS, `entries[${i}]`);
    }
    return setMany(this.context, prefix, entries);
  }

  /** True when a live entry was deleted. */
  async delete(prefix: string, key: string): Promise<boolean> {
    checkKey(prefix, "prefix");
    checkKey(key);
    const { rows } = await this.context.db.query<{ live: boolean }>(
      // The clock read in a subquery: Citus refuses now() in a RETURNING clause.
      `delete from ${this.table} using (select now() as now) clock where prefix = $1 and key = $2
       returning (expires_at is null or expires_at > clock.now) as live`,
      [prefix, key],
    );
    return rows[0]?.live === true;
  }

  /**
   * Live entries of one prefix by key (byte order of the UTF-8 key), one page at a time: ascending or
   * descending, after or before a key, or only keys that start with a text. Reads from the store's
   * readConnection, when it has one (outside a transaction).
   */
  async list(prefix: string, options: KvListOptions = {}): Promise<Page<KvEntry>> {
    refuseUnknownKeys(options, LIST_KEYS);
    return list(forReads(this.context), prefix, options);
  }

  /** The prefixes in use (holding a live entry), in byte order, one page at a time; as list(), from a replica. */
  async listPrefixes(options: KvPrefixListOptions = {}): Promise<Page<string>> {
    refuseUnknownKeys(options, PREFIX_LIST_KEYS);
    return listPrefixes(forReads(this.context), options);
  }

  /**
   * Deletes every entry of the prefix; returns how many rows went. Runs in batches so a large prefix
   * does not become one long statement (inside a transaction the batches still commit together).
   */
  async deletePrefix(prefix: string): Promise<number> {
    checkKey(prefix, "prefix");
    return this.deleteInBatches(`prefix = $1`, prefix);
  }

  /** Deletes every entry of the owner, in batches as deletePrefix; returns how many rows went. */
  async deleteByOwner(owner: string): Promise<number> {
    const checked = checkOwner(owner);
    if (checked === null) throw new ValidationError("owner must be a non-empty string", { field: "owner" });
    return this.deleteInBatches(`owner = $1`, checked);
  }

  private async deleteInBatches(condition: string, value: string): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.context.db.query(
        `delete from ${this.table}
         where (prefix, key) in (select prefix, key from ${this.table} where ${condition} limit $2)`,
        [value, DELETE_BATCH],
      );
      total += rowCount;
      if (rowCount < DELETE_BATCH) return total;
    }
  }

  /**
   * Deletes expired rows, oldest first, a batch per statement; returns how many. Rows locked by
   * another session are skipped, so two sweepers (or a sweeper and a writer) never wait on each other.
   */
  async sweepExpired(options: KvSweepOptions = {}): Promise<number> {
    refuseUnknownKeys(options, SWEEP_KEYS);
    const batchSize = options.batchSize ?? 1000;
    const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ValidationError("batchSize must be a positive integer", { field: "batchSize" });
    }
    const expired = beforeCut("expires_at", "now()", true);
    if (this.context.driver.capabilities.distributed) return this.sweepOnCitus(batchSize, maxBatches);
    let total = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const { rowCount } = await this.context.db.query(
        `delete from ${this.table} kv
         using (select prefix, key from ${this.table}
                where ${expired}
                order by expires_at
                limit $1
                for update skip locked) expired
         where kv.prefix = expired.prefix and kv.key = expired.key`,
        [batchSize],
      );
      total += rowCount;
      if (rowCount < batchSize) break;
    }
    return total;
  }

  /**
   * sweepExpired on Citus, which runs a locking read (the batch's FOR UPDATE SKIP LOCKED) on one shard
   * only: a batch's keys are read over every shard, oldest first, then deleted if still expired,
   * waiting for a writer that holds one rather than skipping it.
   */
  private async sweepOnCitus(batchSize: number, maxBatches: number): Promise<number> {
    const expired = (column: string) => beforeCut(column, "now()", true);
    let total = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const { rows } = await this.context.db.query<{ prefix: string; key: string }>(
        `select prefix, key from ${this.table} where ${expired("expires_at")} order by expires_at limit $1`,
        [batchSize],
      );
      if (rows.length === 0) break;
      const { rowCount } = await this.context.db.query(
        `delete from ${this.table} kv using unnest($1::text[], $2::text[]) as batch(prefix, key)
          where kv.prefix = batch.prefix and kv.key = batch.key and ${expired("kv.expires_at")}`,
        [rows.map((row) => row.prefix), rows.map((row) => row.key)],
      );
      total += rowCount;
      if (rows.length < batchSize) break;
    }
    return total;
  }
}

/** Retention: deletes the entries owned by these executions; returns how many. */
export async function deleteKvOf({ db, q }: SqlContext, executionIds: ExecutionIds): Promise<number> {
  const among = amongIds("owner", executionIds, 1, "text");
  return (await db.query(`delete from ${q}.kv where ${among.sql}`, among.params)).rowCount;
}
