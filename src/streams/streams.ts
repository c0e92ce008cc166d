/**
 * Streams: append-only, ordered chunks (bytes or JSON) per (execution, name), e.g. a model's tokens as
 * a step produces them. Writers get gap-free indexes from 0; a closed stream takes no more chunks; a
 * reader reads from an index (negative: from the end) or tails the stream live. Each write sends a
 * NOTIFY in its own transaction, so a tail anywhere hears of the chunks as they commit.
 *
 * The execution need not be in `executions` (see migration 0010); retention deletes the streams of the
 * executions it prunes, and the streams passed on (owned by a UUIDv8, see migration 0041) from before
 * its cut.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { StreamClosedError, ValidationError } from "../core/errors.js";
import { checkId, checkInteger, checkLimit, MAX_INT, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText, type JsonOrBytes, toJsonOrBytes } from "../core/payload.js";
import { idBatch } from "../core/planned-few.js";
import { schemaChannel } from "../core/wake.js";
import { anotherConnection, type Unlisten } from "../db/driver.js";
import { tailChunks } from "./tail.js";
import type {
  StreamChunk,
  StreamInfo,
  StreamPage,
  StreamReadOptions,
  StreamTailOptions,
  StreamWriteOptions,
} from "./types.js";

const WRITE_KEYS = optionKeys<StreamWriteOptions>({ close: true });
const READ_KEYS = optionKeys<StreamReadOptions>({ from: true, limit: true });
const TAIL_KEYS = optionKeys<StreamTailOptions>({
  from: true,
  signal: true,
  pollIntervalMs: true,
  batchSize: true,
});

/** The most chunks one write takes. */
export const MAX_STREAM_WRITE = 10_000;

interface PageRow {
  next_index: number;
  closed: boolean;
  start: number;
  chunk_index: number | null;
  data: unknown;
  bytes: Uint8Array | null;
}

function streamsChannel(schema: string): string {
  return schemaChannel("streams", schema);
}

/** What a stream's NOTIFY says: which stream. A tail compares it whole with its own. */
function notifyPayload(executionId: string, name: string): string {
  return `${executionId}:${name}`;
}

function checkFrom(value: unknown): number {
  return checkInteger(value ?? 0, "from", -MAX_INT, MAX_INT);
}

export class Streams {
  constructor(protected readonly context: StoreContext) {}

  private get q(): string {
    return this.context.q;
  }

  /** Appends one chunk (bytes as they are, anything else as JSON); returns its index. */
  async write(
    executionId: string,
    name: string,
    chunk: unknown,
    options?: StreamWriteOptions,
  ): Promise<number> {
    return this.append(executionId, name, [toJsonOrBytes(chunk, "chunk", this.context.limits)], options);
  }

  /** Appends chunks in order, in one statement; returns the index of the first (the rest follow it). */
  async writeMany(
    executionId: string,
    name: string,
    chunks: readonly unknown[],
    options?: StreamWriteOptions,
  ): Promise<number> {
    if (!Array.isArray(chunks) || chunks.length === 0 || chunks.length > MAX_STREAM_WRITE) {
      throw new ValidationError(`chunks must be a list of 1 to ${MAX_STREAM_WRITE} chunks`, {
        field: "chunks",
      });
    }
    const encoded = chunks.map((chunk, i) => toJsonOrBytes(chunk, `chunks[${i}]`, this.context.limits));
    return this.append(executionId, name, encoded, options);
  }

  /** Closes the stream (making it, empty, if it has no chunk yet). Closing a closed stream does nothing. */
  async close(executionId: string, name: string): Promise<void> {
    await this.append(executionId, name, [], { close: true });
  }

  private async append(
    executionId: string,
    name: string,
    chunks: JsonOrBytes[],
    options: StreamWriteOptions = {},
  ): Promise<number> {
    const id = checkId(executionId, "executionId");
    checkText(name, "name");
    refuseUnknownKeys(options, WRITE_KEYS);
    const close = options.close === true;
    // The head row hands out the indexes: its update waits for any other writer of the stream to
    // commit, so indexes follow commit order without gaps. On a closed stream it updates nothing, so
    // nothing is inserted and no row comes back. The conflict clause takes the time from the proposed
    // row (its default, now()): Citus refuses a call of now() there. A close takes its place in the
    // order of the run's records (closed_recorded, migration 0033), which fork and rewind cut by.
    const { rows } = await this.context.db.query<{ first_index: number }>(
      `with head as (
         insert into ${this.q}.streams as s (execution_id, name, next_index, closed_at, closed_recorded)
         values ($1, $2, $3, case when $6::boolean then now() end,
                 case when $6::boolean then nextval('${this.q}.record_order') end)
         on conflict (execution_id, name) do update
           set next_index = s.next_index + excluded.next_index,
               closed_at = excluded.closed_at,
               closed_recorded = excluded.closed_recorded,
               updated_at = excluded.updated_at
           where s.closed_at is null
         returning next_index - $3 as first_index
       ),
       written as (
         insert into ${this.q}.stream_chunks (execution_id, stream, chunk_index, data, bytes)
         select $1, $2, head.first_index + c.n - 1, c.data, c.bytes
           from head, unnest($4::jsonb[], $5::bytea[]) with ordinality as c(data, bytes, n)
       )
       select first_index, pg_notify($7, $8) from head`,
      [
        id,
        name,
        chunks.length,
        chunks.map((chunk) => chunk.json),
        chunks.map((chunk) => chunk.bytes),
        close,
        streamsChannel(this.context.schema),
        notifyPayload(id, name),
      ],
      { prepare: true },
    );
    const row = rows[0];
    if (!row) {
      if (chunks.length === 0) return -1; // closing a closed stream
      throw new StreamClosedError(id, name);
    }
    return row.first_index;
  }

  /** Chunks from an index (negative: from the end), with the stream's tail and state, in one statement. */
  async read(executionId: string, name: string, options: StreamReadOptions = {}): Promise<StreamPage> {
    const id = checkId(executionId, "executionId");
    checkText(name, "name");
    refuseUnknownKeys(options, READ_KEYS);
    return this.readPage(id, name, checkFrom(options.from), checkLimit(options.limit, 100));
  }

  private async readPage(id: string, name: string, from: number, limit: number): Promise<StreamPage> {
    const start = "greatest(0, case when $3::int < 0 then s.next_index + $3::int else $3::int end)";
    const { rows } = await this.context.db.query<PageRow>(
      `select s.next_index, s.closed_at is not null as closed, ${start} as start, c.chunk_index, c.data, c.bytes
         from ${this.q}.streams s
         left join lateral (
           select chunk_index, data, bytes from ${this.q}.stream_chunks
            where execution_id = $1 and stream = $2 and chunk_index >= ${start}
            order by chunk_index
            limit $4
         ) c on true
        where s.execution_id = $1 and s.name = $2
        order by c.chunk_index`,
      [id, name, from, limit],
      { prepare: true },
    );
    const head = rows[0];
    if (!head) return { chunks: [], nextIndex: Math.max(0, from), tailIndex: -1, closed: false };
    const chunks: StreamChunk[] = [];
    for (const row of rows) {
      if (row.chunk_index !== null) chunks.push({ index: row.chunk_index, data: row.bytes ?? row.data });
    }
    const last = chunks[chunks.length - 1];
    return {
      chunks,
      nextIndex: last ? last.index + 1 : head.start,
      tailIndex: head.next_index - 1,
      closed: head.closed,
    };
  }

  /** The index of the last chunk (-1: none) and whether the stream is closed. */
  async info(executionId: string, name: string): Promise<StreamInfo> {
    const { rows } = await this.context.db.query<{ next_index: number; closed: boolean }>(
      `select next_index, closed_at is not null as closed from ${this.q}.streams
        where execution_id = $1 and name = $2`,
      [checkId(executionId, "executionId"), checkText(name, "name")],
    );
    const head = rows[0];
    return { tailIndex: (head?.next_index ?? 0) - 1, closed: head?.closed ?? false };
  }

  /** The names of an execution's streams, in order. */
  async list(executionId: string): Promise<string[]> {
    const { rows } = await this.context.db.query<{ name: string }>(
      `select name from ${this.q}.streams where execution_id = $1 order by name`,
      [checkId(executionId, "executionId")],
    );
    return rows.map((row) => row.name);
  }

  /**
   * Deletes one stream, or every stream of the execution when no name is given, with their chunks;
   * returns how many streams went. Retention does this for pruned executions.
   */
  async delete(executionId: string, name?: string): Promise<number> {
    const id = checkId(executionId, "executionId");
    if (name === undefined) return deleteStreamsOf(this.context, [id]);
    const { rowCount } = await this.context.db.query(
      `with chunks as (delete from ${this.q}.stream_chunks where execution_id = $1 and stream = $2)
       delete from ${this.q}.streams where execution_id = $1 and name = $2`,
      [id, checkText(name, "name")],
    );
    return rowCount;
  }

  /**
   * Every chunk from `from` on, in order, as they are written, until the stream is closed or `signal`
   * aborts (either ends the iteration). It reads through the store, outside any transaction, so on a
   * transaction it still sees what others commit; where the transaction holds the store's only
   * connection (PGlite, a pool of one) that read would wait for it forever, and it is refused.
   */
  tail(executionId: string, name: string, options: StreamTailOptions = {}): AsyncIterable<StreamChunk> {
    refuseUnknownKeys(options, TAIL_KEYS);
    if (this.context.db.inTransaction && !anotherConnection(this.context.driver)) {
      throw new ValidationError(
        "streams.tail reads through the store, whose only connection this transaction holds: it would wait for the transaction's end forever; call it on the store, outside the transaction",
        { field: "transaction" },
      );
    }
    const id = checkId(executionId, "executionId");
    checkText(name, "name");
    const from = checkFrom(options.from);
    const batchSize = checkInteger(options.batchSize ?? 100, "batchSize", 1, 1000);
    const pollIntervalMs = checkInteger(options.pollIntervalMs ?? 1_000, "pollIntervalMs", 1, MAX_INT);
    const { driver, logger, schema } = this.context;
    const reader = new Streams({ ...this.context, db: driver });
    const payload = notifyPayload(id, name);
    return tailChunks(
      {
        read: (start, limit) => reader.readPage(id, name, start, limit),
        listen: async (wake): Promise<Unlisten | undefined> => {
          if (!driver.capabilities.listen) return undefined;
          return driver
            .listen(streamsChannel(schema), (message) => {
              // An empty message: notifications may have been missed (LISTEN reconnected).
              if (message === payload || message === "") wake();
            })
            .catch((error: unknown) => {
              logger.warn({ error: String(error) }, "flowstore: stream tail cannot LISTEN; polling");
              return undefined;
            });
        },
      },
      { from, signal: options.signal, pollIntervalMs, batchSize },
    );
  }
}

/** Retention: deletes the streams of these executions with their chunks; returns how many streams. */
export async function deleteStreamsOf({ db, q }: SqlContext, executionIds: string[]): Promise<number> {
  const { rowCount } = await db.query(
    `with chunks as (delete from ${q}.stream_chunks where execution_id = any(${idBatch(1, "uuid")}))
     delete from ${q}.streams where execution_id = any(${idBatch(1, "uuid")})`,
    [executionIds],
  );
  return rowCount;
}

/** The least UUID: where a sweep of orphaned streams starts. */
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * Retention: deletes the streams (with their chunks) passed on before `floor` (the lowest id of the
 * cut's millisecond): those whose owner is a UUIDv8 of that time and no execution, a page of up to
 * `limit` in the owners' order after `after`, over the partial index of migration 0041, which holds
 * them alone. Such a stream is one a run passed on, read by its name alone, as the Workflow SDK 4.x
 * World keeps a step's ReadableStream (adapters/workflow/spec3.ts); the streams of runs are under
 * other ids, and a UUIDv8 no run has. Each owner goes whole; `next` is where the following page starts,
 * or undefined after the last. In three statements without a lock, as on Citus, whose multi-shard reads
 * take none: a delete finds gone what another prune deleted meanwhile, and that is all it can find.
 */
export async function deletePassedStreams(
  context: SqlContext,
  floor: string,
  limit: number,
  after: string = NIL_UUID,
): Promise<{ deleted: number; next: string | undefined }> {
  const { db, q } = context;
  const { rows } = await db.query<{ id: string }>(
    `select s.execution_id as id from ${q}.streams s
      where s.execution_id > $1::uuid and s.execution_id < $2::uuid
        and substr(s.execution_id::text, 15, 1) = '8'
      order by s.execution_id limit $3`,
    [after, floor, limit],
  );
  const next = rows.length < limit ? undefined : rows[rows.length - 1]?.id;
  const owners = [...new Set(rows.map((row) => row.id))];
  if (owners.length === 0) return { deleted: 0, next };
  const { rows: live } = await db.query<{ id: string }>(
    `select id from ${q}.executions where id = any(${idBatch(1, "uuid")})`,
    [owners],
  );
  const runs = new Set(live.map((row) => row.id));
  const orphans = owners.filter((id) => !runs.has(id));
  return { deleted: orphans.length ? await deleteStreamsOf(context, orphans) : 0, next };
}
