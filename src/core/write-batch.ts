/**
 * Writes made outside a transaction share statements: while one statement of a kind is on its way, the
 * writes of that kind that arrive wait and then go together in the next, one statement of many rows and
 * one commit. Each caller's promise settles only once its own row has committed, so every write is as
 * durable as when it went alone; what changes is that sixteen workflows writing at once cost one commit
 * (one WAL flush) instead of sixteen.
 *
 * A batch's statement returns the rows it wrote; a write that got no row back (it lost a race, broke a
 * constraint, found another version) resolves undefined and its caller runs its own statement alone,
 * which gives it the answer or the error it would have had without batching. The same goes for every
 * write of a batch whose statement was refused for one row's sake (a constraint, a deadlock), or for
 * its size (a server limit that none of its writes reaches alone): it wrote nothing, and each write
 * then goes alone.
 */

import { answer, Batches, bytesOfCall, type Call, callIn } from "./batches.js";
import { sqlStateOf } from "./errors.js";

/** How many writes one statement carries at most. */
const BATCH_MAX = 500;

/**
 * About how many bytes of values one statement carries at most (see approximateBytes), unless one write
 * alone is larger. The server holds a batch's one JSON parameter to 256 MB (jsonb's limit) and a
 * message to 1 GB; a write may carry 4 MiB per field by default, and 500 of them would be 2 GB. Past
 * a few megabytes a statement's fixed cost is nothing beside its values, so a smaller batch costs no
 * speed.
 */
export const BATCH_BYTES = 32 * 1024 * 1024;

/**
 * SQLSTATE classes and codes that a single row can cause: integrity constraints (23), data exceptions
 * (22) and a deadlock or serialization failure between two batches (40). Any other failure (a lost
 * connection, a server shutting down) is every write's.
 */
const ONE_ROWS_FAULT = /^(22|23|40)/;

/**
 * A statement refused for its size, or its complexity (SQLSTATE class 54, program limit exceeded:
 * jsonb's 256 MB, an array's 1 GB). Batches are kept well below those limits (BATCH_BYTES), but the
 * byte count is an estimate: a batch that still reaches one goes write by write.
 */
const TOO_LARGE = /^54/;

export class WriteBatcher<I, R> {
  /**
   * One statement at a time. A batch takes the waiting writes with distinct keys, in arrival order, up
   * to BATCH_MAX of them and BATCH_BYTES; the rest keep waiting. The oldest always goes, however large:
   * alone it is answered as it would be alone.
   */
  private readonly batches: Batches<Call<I, R | undefined>>;

  /**
   * @param send one statement for the batch, returning for each input its row, or undefined when it
   *   wrote none
   * @param keyOf two writes with one key never share a batch: the second waits for the next
   * @param sizeOf about how many bytes an input adds to the statement (see BATCH_BYTES)
   */
  constructor(
    private readonly send: (inputs: I[]) => Promise<Array<R | undefined>>,
    keyOf: (input: I) => string,
    private readonly sizeOf: (input: I) => number = approximateBytes,
  ) {
    this.batches = new Batches({
      send: (batch) => this.sendBatch(batch),
      maxRows: BATCH_MAX,
      maxBytes: BATCH_BYTES,
      bytesOf: bytesOfCall,
      keyOf: (call) => keyOf(call.input),
    });
  }

  /** The written row once its statement has committed; undefined when the caller must write alone. */
  write(input: I): Promise<R | undefined> {
    return callIn(this.batches, input, this.sizeOf(input));
  }

  private sendBatch(batch: Call<I, R | undefined>[]): Promise<void> {
    return this.send(batch.map((call) => call.input)).then(
      (rows) => answer(batch, rows),
      (error: unknown) => {
        const state = sqlStateOf(error) ?? "";
        const alone = ONE_ROWS_FAULT.test(state) || TOO_LARGE.test(state);
        for (const call of batch) alone ? call.resolve(undefined) : call.reject(error);
      },
    );
  }
}

/**
 * A batch's rows as one JSON array, for `jsonb_to_recordset($1::jsonb) as x(column type, ...)`. The
 * server estimates the rows of that function the same (100) whatever the batch, so a prepared batch
 * statement settles on one cached plan; arrays through unnest() are estimated at their length, and a
 * batch smaller than ten would be planned again at every run. Keys are the column names; JSON values
 * travel as text (in a column of type text, cast), so a JSON null stays apart from SQL NULL.
 */
export function recordsJson(rows: readonly object[]): string {
  return JSON.stringify(rows);
}

/**
 * About how many bytes `value` (a batch's input, its values already serialized) adds to the batch's
 * JSON, from lengths it already has: a string's, bytes' as base64. Nothing is serialized to know it.
 * A UTF-16 unit is at most three bytes of UTF-8, and the values are JSON text already, which a second
 * escaping at most doubles, so the real size stays within about three times this: BATCH_BYTES leaves
 * room for that.
 */
export function approximateBytes(value: unknown, depth = 0): number {
  if (typeof value === "string") return value.length + 3;
  if (value instanceof Uint8Array) return Math.ceil(value.byteLength / 3) * 4 + 3;
  // Inputs hold their values a few levels down at most (a write's events: columns of values).
  if (value === null || typeof value !== "object" || depth >= 4) return 8;
  let bytes = 2;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    bytes += approximateBytes(item, depth + 1) + 1;
  }
  return bytes;
}
