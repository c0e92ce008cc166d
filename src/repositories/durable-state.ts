/**
 * durableState: the latest snapshot of each actor (as eGo keeps them), addressed by persistence id.
 * Writes are idempotent and monotonic: writing the same version with the same payload again succeeds
 * and changes nothing; any other write that does not move the version forward is a ConflictError.
 * Encode values with a codec (src/codecs.ts) rather than by hand.
 */

import type { StoreContext } from "../context.js";
import { ConflictError, ValidationError } from "../errors.js";
import { checkText } from "../payload.js";
import { cursorKey, type Page, type PageOptions, pageLimit, toPage } from "./key-cursor.js";

export interface DurableStateWrite {
  persistenceId: string;
  /** Must be greater than the stored version (or equal to it with the identical payload and manifest). */
  version: number;
  payload: Uint8Array;
  /** The payload's type name, for decoding it back. */
  manifest: string;
  /** When the state was taken (default: the database's now()). */
  timestamp?: Date;
  /** The shard the actor belongs to, for list({ shard }) (default: 0 for a new actor, else unchanged). */
  shard?: number;
}

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

interface Row {
  persistence_id: string;
  version: number;
  payload: Uint8Array;
  manifest: string;
  timestamp: Date;
  shard: number;
}

const COLUMNS = `persistence_id, version, payload, manifest, "timestamp", shard`;

function toRecord(row: Row): DurableStateRecord {
  return {
    persistenceId: row.persistence_id,
    version: row.version,
    payload: row.payload,
    manifest: row.manifest,
    timestamp: row.timestamp,
    shard: row.shard,
  };
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
    if (
      state.timestamp !== undefined &&
      !(state.timestamp instanceof Date && !Number.isNaN(+state.timestamp))
    ) {
      throw new ValidationError("timestamp must be a valid Date", { field: "timestamp" });
    }
    // Unset, a new actor goes to shard 0 and an existing one keeps its shard.
    const shard = state.shard === undefined ? null : checkShard(state.shard);
    // The update only happens when the version moves forward; ON CONFLICT also covers two writers
    // creating the same actor at once (the second one waits, then sees the first one's row).
    const written = await this.context.db.query(
      `insert into ${this.table} as s (${COLUMNS})
       values ($1, $2, $3, $4, coalesce($5::timestamptz, now()), coalesce($6::integer, 0))
       on conflict (persistence_id) do update
         set version = excluded.version, payload = excluded.payload, manifest = excluded.manifest,
             "timestamp" = excluded."timestamp", shard = coalesce($6::integer, s.shard)
         where s.version < excluded.version`,
      [persistenceId, state.version, state.payload, manifest, state.timestamp ?? null, shard],
    );
    if (written.rowCount === 1) return { written: true };
    // Not written: an idempotent repeat of the stored version, or a conflict.
    const { rows } = await this.context.db.query<{ version: number; same: boolean }>(
      `select version, payload = $2 and manifest = $3 as same from ${this.table} where persistence_id = $1`,
      [persistenceId, state.payload, manifest],
    );
    const stored = rows[0];
    if (stored && stored.version === state.version && stored.same) return { written: false };
    throw new ConflictError(
      stored
        ? `durable state ${JSON.stringify(persistenceId)} is at version ${stored.version}; version ${state.version}` +
            (stored.version === state.version ? " was already written with a different payload" : " is stale")
        : `durable state ${JSON.stringify(persistenceId)} changed while being written`,
    );
  }

  async latest(persistenceId: string): Promise<DurableStateRecord | undefined> {
    checkText(persistenceId, "persistenceId");
    const { rows } = await this.context.db.query<Row>(
      `select ${COLUMNS} from ${this.table} where persistence_id = $1`,
      [persistenceId],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /** True when there was a state to delete. */
  async delete(persistenceId: string): Promise<boolean> {
    checkText(persistenceId, "persistenceId");
    const { rowCount } = await this.context.db.query(`delete from ${this.table} where persistence_id = $1`, [
      persistenceId,
    ]);
    return rowCount > 0;
  }

  /** Actors in persistence id order, one page at a time. */
  async list(options: DurableStateListOptions = {}): Promise<Page<DurableStateRecord>> {
    const limit = pageLimit(options.limit);
    const after = cursorKey(options.cursor);
    const shard = options.shard === undefined ? undefined : checkShard(options.shard);
    const where: string[] = [];
    const values: unknown[] = [];
    if (shard !== undefined) where.push(`shard = $${values.push(shard)}`);
    if (after !== undefined) where.push(`persistence_id > $${values.push(after)}`);
    const { rows } = await this.context.db.query<Row>(
      `select ${COLUMNS} from ${this.table}
       ${where.length ? `where ${where.join(" and ")}` : ""}
       order by persistence_id
       limit $${values.push(limit + 1)}`,
      values,
    );
    return toPage(rows, limit, (row) => row.persistence_id, toRecord);
  }
}
