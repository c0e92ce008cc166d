/**
 * durableState: the latest snapshot of each actor (as eGo keeps them), addressed by persistence id.
 * Writes are idempotent and monotonic: writing the same version with the same payload again succeeds
 * and changes nothing; any other write that does not move the version forward is a ConflictError.
 * Encode values with a codec (src/core/codecs.ts) rather than by hand.
 */

import { createHash } from "node:crypto";
import { deleteBlobsUnder, deleteBlobsUnderBut } from "../blobs/index.js";
import { inTransaction, type StoreContext } from "../core/context.js";
import { ConflictError, ValidationError } from "../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";
import { cursorKey, type Page, type PageOptions, pageLimit, toPage } from "../core/key-cursor.js";
import { checkText } from "../core/payload.js";
import { offloads, putValue, readReferenced, rereadMoved } from "../offload/index.js";

export interface DurableStateWrite {
  persistenceId: string;
  /** Must be greater than the stored version (or equal to it with the identical payload and manifest). */
  version: number;
  payload: Uint8Array;
  /** The payload's type name, for decoding it back. */
  manifest: string;
  /**
   * When the state was taken (default: the database's now()): a Date, or Unix epoch milliseconds as
   * eGo keeps them (a whole number). Either must lie from PostgreSQL's earliest timestamp,
   * 4714-11-24T00:00:00Z BC (-210866803200000 ms), to the latest instant a Date holds,
   * 275760-09-13T00:00:00Z (8640000000000000 ms), both included; anything else (NaN, ±Infinity, a
   * fraction, out of range) is a ValidationError and nothing is written. It is read back as a Date
   * (`record.timestamp.getTime()` gives the milliseconds).
   */
  timestamp?: Date | number;
  /** The shard the actor belongs to, for list({ shard }) (default: 0 for a new actor, else unchanged). */
  shard?: number;
}

const WRITE_KEYS = optionKeys<DurableStateWrite>({
  persistenceId: true,
  version: true,
  payload: true,
  manifest: true,
  timestamp: true,
  shard: true,
});

export interface DurableStateRecord {
  persistenceId: string;
  version: number;
  payload: Uint8Array;
  manifest: string;
  timestamp: Date;
  shard: number;
}

export interface DurableStateWriteResult {
  /** False when the same version with the same payload was already stored (an idempotent repeat). */
  written: boolean;
}

export interface DurableStateListOptions extends PageOptions {
  /** Only actors of this shard (default: every shard). */
  shard?: number;
}

const LIST_KEYS = optionKeys<DurableStateListOptions>({ limit: true, cursor: true, shard: true });

interface Row {
  persistence_id: string;
  version: number;
  payload: Uint8Array;
  /** The blob holding the payload when it was offloaded (the row's payload is then empty). */
  payload_blob: string | null;
  manifest: string;
  timestamp_ms: number;
  shard: number;
}

const COLUMNS = `persistence_id, version, payload, manifest, "timestamp", shard`;
/**
 * The timestamp is read as epoch milliseconds (exact in a float8 over the whole range) rather than
 * parsed by the driver: not every driver parses years before 100 or BC years into the right Date.
 * Microseconds (from now()) are dropped, as a Date cannot hold them.
 */
const SELECT_COLUMNS = `persistence_id, version, payload, payload_blob, manifest,
  floor(extract(epoch from "timestamp") * 1000)::float8 as timestamp_ms, shard`;

/** The blob keys of one actor's offloaded snapshots: its id hashed, as ids may hold any text. */
function snapshotPrefix(persistenceId: string): string {
  return `flowstore:offloaded/durable-state/${createHash("sha256").update(persistenceId).digest("hex")}/`;
}

/** An offloaded write that did not move the version forward: its transaction rolls back, blob and all. */
class NotWritten extends Error {}

function toRecord(row: Row): DurableStateRecord {
  return {
    persistenceId: row.persistence_id,
    version: row.version,
    payload: row.payload,
    manifest: row.manifest,
    timestamp: new Date(row.timestamp_ms),
    shard: row.shard,
  };
}

/** PostgreSQL's earliest timestamp, 4714-11-24T00:00:00Z BC, in epoch milliseconds. */
const MIN_TIMESTAMP_MS = -210_866_803_200_000;
/** The latest instant a Date holds, 275760-09-13T00:00:00Z, in epoch milliseconds. */
const MAX_TIMESTAMP_MS = 8_640_000_000_000_000;

/**
 * The timestamp as a timestamptz literal in UTC. Written out here rather than left to the driver:
 * not every driver sends years before 1000, BC years or six-digit years so that PostgreSQL reads them
 * back as the same instant.
 */
function timestampText(timestamp: unknown): string {
  const ms = timestamp instanceof Date ? timestamp.getTime() : timestamp;
  if (typeof ms !== "number" || !Number.isInteger(ms) || ms < MIN_TIMESTAMP_MS || ms > MAX_TIMESTAMP_MS) {
    throw new ValidationError(
      `timestamp must be a valid Date or whole epoch milliseconds from ${MIN_TIMESTAMP_MS} (4714-11-24 BC) to ${MAX_TIMESTAMP_MS} (275760-09-13); got ${describe(timestamp)}`,
      { field: "timestamp" },
    );
  }
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  // Year 0 is 1 BC, year -1 is 2 BC, and so on.
  return (
    `${pad(year < 1 ? 1 - year : year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.` +
    `${pad(date.getUTCMilliseconds(), 3)}+00${year < 1 ? " BC" : ""}`
  );
}

function describe(value: unknown): string {
  if (value instanceof Date) return "an invalid or out-of-range Date";
  if (typeof value === "number") return String(value);
  return `a ${typeof value}`;
}

function checkShard(shard: unknown): number {
  if (!Number.isInteger(shard) || (shard as number) < 0 || (shard as number) > 2 ** 31 - 1) {
    throw new ValidationError("shard must be a non-negative 32-bit integer", { field: "shard" });
  }
  return shard as number;
}

export class DurableState {
  constructor(protected readonly context: StoreContext) {}

  private get table(): string {
    return `${this.context.q}.durable_state`;
  }

  async write(state: DurableStateWrite): Promise<DurableStateWriteResult> {
    refuseUnknownKeys(state, WRITE_KEYS);
    const persistenceId = checkText(state.persistenceId, "persistenceId");
    const manifest = checkText(state.manifest, "manifest");
    if (!Number.isSafeInteger(state.version) || state.version < 0) {
      throw new ValidationError("version must be a non-negative safe integer", { field: "version" });
    }
    if (!(state.payload instanceof Uint8Array)) {
      throw new ValidationError("payload must be bytes (a Uint8Array); encode values with a codec", {
        field: "payload",
      });
    }
    const timestamp = state.timestamp === undefined ? null : timestampText(state.timestamp);
    // Unset, a new actor goes to shard 0 and an existing one keeps its shard.
    const shard = state.shard === undefined ? null : checkShard(state.shard);
    const values = [persistenceId, state.version, state.payload, manifest, timestamp, shard];
    if (await this.written(persistenceId, values)) return { written: true };
    // Not written: an idempotent repeat of the stored version, or a conflict.
    const stored = await this.stored(persistenceId, state.payload, manifest);
    if (stored && stored.version === state.version && stored.same) return { written: false };
    throw new ConflictError(
      stored
        ? `durable state ${JSON.stringify(persistenceId)} is at version ${stored.version}; version ${state.version}` +
            (stored.version === state.version ? " was already written with a different payload" : " is stale")
        : `durable state ${JSON.stringify(persistenceId)} changed while being written`,
    );
  }

  /**
   * The stored version, and whether it holds this payload and manifest; undefined when there is none.
   * An offloaded payload is compared by its blob's digest, read in a second statement: on Citus the
   * blobs and the actors' rows are not on one node.
   */
  private async stored(
    persistenceId: string,
    payload: Uint8Array,
    manifest: string,
  ): Promise<{ version: number; same: boolean } | undefined> {
    const { rows } = await this.context.db.query<{ version: number; same: boolean; blob: string | null }>(
      `select version, manifest = $3 and (payload_blob is not null or payload = $2) as same,
              payload_blob as blob
         from ${this.table} where persistence_id = $1`,
      [persistenceId, payload, manifest],
    );
    const row = rows[0];
    if (!row || row.blob === null || !row.same) return row;
    const { rows: blobs } = await this.context.db.query<{ sha256: string }>(
      `select sha256 from ${this.context.q}.blobs where key = $1`,
      [row.blob],
    );
    return {
      version: row.version,
      same: blobs[0]?.sha256 === createHash("sha256").update(payload).digest("hex"),
    };
  }

  /**
   * Writes the snapshot if its version moves forward; true when it did. The update only happens
   * then; ON CONFLICT also covers two writers creating the same actor at once (the second one waits,
   * then sees the first one's row). A payload over `limits.offloadAbove` goes to the blob store in a
   * transaction with the row, which then removes the actor's earlier snapshot blobs; a smaller one
   * goes in the row, and the blob of the snapshot it replaced is removed after.
   */
  private async written(persistenceId: string, values: unknown[]): Promise<boolean> {
    const upsert = (payloadBlob: string) =>
      // The replaced blob is read by the outer select, not by a subquery in the insert's RETURNING,
      // which Citus cannot plan.
      `with old as (select payload_blob from ${this.table} where persistence_id = $1),
       written as (
       insert into ${this.table} as s (${COLUMNS}, payload_blob)
       values ($1, $2, $3, $4, coalesce($5::timestamptz, now()), coalesce($6::integer, 0), ${payloadBlob})
       on conflict (persistence_id) do update
         set version = excluded.version, payload = excluded.payload, manifest = excluded.manifest,
             "timestamp" = excluded."timestamp", shard = coalesce($6::integer, s.shard),
             payload_blob = excluded.payload_blob
         where s.version < excluded.version
       returning 1)
       select (select payload_blob from old) as replaced from written`;
    const payload = values[2] as Uint8Array;
    if (!offloads(this.context, { json: null, bytes: payload })) {
      const { rows } = await this.context.db.query<{ replaced: string | null }>(upsert("null"), values);
      // The blob of the snapshot it replaced goes, read after this write (not from its `old`, which a
      // large write committed while this one waited for the row is missing from); a blob the row
      // names again by then stays.
      const written = rows.length === 1;
      if (written && (rows[0]?.replaced || this.context.limits.offloadAbove !== undefined)) {
        const current = (n: number) => `select payload_blob from ${this.table} where persistence_id = $${n}`;
        await deleteBlobsUnderBut(this.context, snapshotPrefix(persistenceId), current, persistenceId);
      }
      return written;
    }
    const prefix = snapshotPrefix(persistenceId);
    try {
      return await this.context.db.transaction(async (tx) => {
        const context = inTransaction(this.context, tx);
        const reference = await putValue(context, undefined, { json: null, bytes: payload }, prefix);
        const stored = [...values];
        stored[2] = new Uint8Array();
        const { rows } = await tx.query(upsert("$7"), [...stored, reference.key]);
        if (rows.length !== 1) throw new NotWritten();
        await deleteBlobsUnder(context, prefix, reference.key);
        return true;
      });
    } catch (error) {
      if (error instanceof NotWritten) return false;
      throw error;
    }
  }

  async latest(persistenceId: string): Promise<DurableStateRecord | undefined> {
    checkText(persistenceId, "persistenceId");
    return rereadMoved(async () => {
      const { rows } = await this.context.db.query<Row>(
        `select ${SELECT_COLUMNS} from ${this.table} where persistence_id = $1`,
        [persistenceId],
      );
      return rows[0] && (await this.resolved(rows[0]));
    });
  }

  /** A record of its row, its payload read from the blob store when it was offloaded. */
  private async resolved(row: Row): Promise<DurableStateRecord> {
    const record = toRecord(row);
    if (row.payload_blob !== null) record.payload = await readReferenced(this.context, row.payload_blob);
    return record;
  }

  /** True when there was a state to delete. */
  async delete(persistenceId: string): Promise<boolean> {
    checkText(persistenceId, "persistenceId");
    return this.context.db.transaction(async (tx) => {
      const { rowCount } = await tx.query(`delete from ${this.table} where persistence_id = $1`, [
        persistenceId,
      ]);
      await deleteBlobsUnder(inTransaction(this.context, tx), snapshotPrefix(persistenceId), null);
      return rowCount > 0;
    });
  }

  /** Actors in persistence id order, one page at a time. */
  async list(options: DurableStateListOptions = {}): Promise<Page<DurableStateRecord>> {
    refuseUnknownKeys(options, LIST_KEYS);
    const limit = pageLimit(options.limit);
    const after = cursorKey(options.cursor);
    const shard = options.shard === undefined ? undefined : checkShard(options.shard);
    const where: string[] = [];
    const values: unknown[] = [];
    if (shard !== undefined) where.push(`shard = $${values.push(shard)}`);
    if (after !== undefined) where.push(`persistence_id > $${values.push(after)}`);
    const sql = `select ${SELECT_COLUMNS} from ${this.table}
       ${where.length ? `where ${where.join(" and ")}` : ""}
       order by persistence_id
       limit $${values.push(limit + 1)}`;
    return rereadMoved(async () => {
      const { rows } = await this.context.db.query<Row>(sql, values);
      const page = toPage(rows, limit, (row) => row.persistence_id, toRecord);
      for (const [i, row] of rows.slice(0, page.items.length).entries()) {
        if (row.payload_blob !== null) page.items[i] = await this.resolved(row);
      }
      return page;
    });
  }
}
