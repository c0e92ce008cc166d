/**
 * kv: `(prefix, key) -> bytes`. The prefix is a namespace compared by equality, never a pattern, so
 * `list("a%")` sees only the keys stored under the prefix `a%`. Every entry has a version, so `set`
 * with `expectedVersion` is a compare-and-set. An entry past its TTL is invisible at once and its row
 * is deleted later by `sweepExpired`, in batches.
 */

import type { StoreContext } from "../context.js";
import { ConflictError, ValidationError } from "../errors.js";
import { checkText } from "../payload.js";
import { optionalTtl } from "./input.js";
import { cursorKey, type Page, type PageOptions, pageLimit, toPage } from "./key-cursor.js";

/**
 * The largest prefix, and the largest key, in bytes of UTF-8: both go into one primary-key entry,
 * which a btree holds only up to 2,704 bytes.
 */
export const MAX_KV_KEY_BYTES = 1024;

export interface KvEntry {
  prefix: string;
  key: string;
  value: Uint8Array;
  /** 1 when created, +1 on every set; pass it as `expectedVersion` to compare-and-set. */
  version: number;
  expiresAt: Date | null;
  updatedAt: Date;
}

export interface KvSetOptions {
  /** The entry disappears this many milliseconds after the write (default: never). */
  ttlMs?: number;
  /**
   * Write only if the live entry has this version; 0 means "only if there is no live entry".
   * Otherwise a ConflictError, and nothing is written.
   */
  expectedVersion?: number;
}

export interface KvSweepOptions {
  /** Rows deleted per statement (default 1000), so no sweep holds many row locks for long. */
  batchSize?: number;
  /** Stop after this many batches (default: until nothing expired is left). */
  maxBatches?: number;
}

interface Row {
  prefix: string;
  key: string;
  value: Uint8Array;
  version: number;
  expires_at: Date | null;
  updated_at: Date;
}

const COLUMNS = "prefix, key, value, version, expires_at, updated_at";
const LIVE = "(expires_at is null or expires_at > now())";
const DELETE_BATCH = 10_000;

function toEntry(row: Row): KvEntry {
  return {
    prefix: row.prefix,
    key: row.key,
    value: row.value,
    version: row.version,
    expiresAt: row.expires_at,
    updatedAt: row.updated_at,
  };
}

function toBytes(value: Uint8Array | string): Uint8Array {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (value instanceof Uint8Array) return value;
  throw new ValidationError("value must be bytes (a Uint8Array) or a string", { field: "value" });
}

export class KeyValue {
  constructor(protected readonly context: StoreContext) {}

  private get table(): string {
    return `${this.context.q}.kv`;
  }

  async get(prefix: string, key: string): Promise<KvEntry | undefined> {
    checkText(prefix, "prefix", MAX_KV_KEY_BYTES);
    checkText(key, "key", MAX_KV_KEY_BYTES);
    const { rows } = await this.context.db.query<Row>(
      `select ${COLUMNS} from ${this.table} where prefix = $1 and key = $2 and ${LIVE}`,
      [prefix, key],
    );
    return rows[0] && toEntry(rows[0]);
  }

  /** Creates or replaces the entry (and its TTL); returns the new version. */
  async set(
    prefix: string,
    key: string,
    value: Uint8Array | string,
    options: KvSetOptions = {},
  ): Promise<{ version: number }> {
    checkText(prefix, "prefix", MAX_KV_KEY_BYTES);
    checkText(key, "key", MAX_KV_KEY_BYTES);
    const bytes = toBytes(value);
    const { expectedVersion } = options;
    const ttlMs = optionalTtl(options.ttlMs, false);
    if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 0)) {
      throw new ValidationError("expectedVersion must be a non-negative integer", {
        field: "expectedVersion",
      });
    }
    const values = [prefix, key, bytes, ttlMs];
    const expires = "now() + $4::float8 * interval '1 millisecond'";
    let result: { rows: Array<{ version: number }> };
    if (expectedVersion !== undefined && expectedVersion > 0) {
      result = await this.context.db.query<{ version: number }>(
        `update ${this.table}
         set value = $3, version = version + 1, expires_at = ${expires}, updated_at = now()
         where prefix = $1 and key = $2 and version = $5 and ${LIVE}
         returning version`,
        [...values, expectedVersion],
      );
    } else {
      // An expired row still in the table counts as absent: it is overwritten and starts again at 1.
      // With expectedVersion 0, a live row is left alone and no row comes back.
      result = await this.context.db.query<{ version: number }>(
        `insert into ${this.table} as kv (prefix, key, value, version, expires_at)
         values ($1, $2, $3, 1, ${expires})
         on conflict (prefix, key) do update
           set value = excluded.value,
               version = case when kv.expires_at <= now() then 1 else kv.version + 1 end,
               expires_at = excluded.expires_at,
               updated_at = now()
           where not $5::boolean or kv.expires_at <= now()
         returning version`,
        [...values, expectedVersion === 0],
      );
    }
    const row = result.rows[0];
    if (!row) {
      throw new ConflictError(
        expectedVersion === 0
          ? `kv entry ${JSON.stringify(prefix)}/${JSON.stringify(key)} already exists`
          : `kv entry ${JSON.stringify(prefix)}/${JSON.stringify(key)} is not at version ${expectedVersion}`,
      );
    }
    return { version: row.version };
  }

  /** True when a live entry was deleted. */
  async delete(prefix: string, key: string): Promise<boolean> {
    checkText(prefix, "prefix", MAX_KV_KEY_BYTES);
    checkText(key, "key", MAX_KV_KEY_BYTES);
    const { rows } = await this.context.db.query<{ live: boolean }>(
      `delete from ${this.table} where prefix = $1 and key = $2 returning ${LIVE} as live`,
      [prefix, key],
    );
    return rows[0]?.live === true;
  }

  /** Live entries of one prefix in key order (byte order of the UTF-8 key), one page at a time. */
  async list(prefix: string, options: PageOptions = {}): Promise<Page<KvEntry>> {
    checkText(prefix, "prefix", MAX_KV_KEY_BYTES);
    const limit = pageLimit(options.limit);
    const after = cursorKey(options.cursor);
    const values: unknown[] = [prefix, limit + 1];
    const { rows } = await this.context.db.query<Row>(
      `select ${COLUMNS} from ${this.table}
       where prefix = $1 and ${LIVE} ${after === undefined ? "" : `and key > $${values.push(after)}`}
       order by key
       limit $2`,
      values,
    );
    return toPage(rows, limit, (row) => row.key, toEntry);
  }

  /**
   * Deletes every entry of the prefix; returns how many rows went. Runs in batches so a large prefix
   * does not become one long statement (inside a transaction the batches still commit together).
   */
  async deletePrefix(prefix: string): Promise<number> {
    checkText(prefix, "prefix", MAX_KV_KEY_BYTES);
    let total = 0;
    for (;;) {
      const { rowCount } = await this.context.db.query(
        `delete from ${this.table}
         where prefix = $1 and key in (select key from ${this.table} where prefix = $1 limit $2)`,
        [prefix, DELETE_BATCH],
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
    const batchSize = options.batchSize ?? 1000;
    const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ValidationError("batchSize must be a positive integer", { field: "batchSize" });
    }
    let total = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const { rowCount } = await this.context.db.query(
        `delete from ${this.table} kv
         using (select prefix, key from ${this.table}
                where expires_at <= now()
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
}
