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
 * write of a batch whose statement was refused for one row's sake (a constraint, a deadlock): it wrote
 * nothing, and each write then goes alone.
 */

import { sqlStateOf } from "../errors.js";

/** How many writes one statement carries at most. */
const BATCH_MAX = 500;

/**
 * SQLSTATE classes and codes that a single row can cause: integrity constraints (23), data exceptions
 * (22) and a deadlock or serialization failure between two batches (40). Any other failure (a lost
 * connection, a server shutting down) is every write's.
 */
const ONE_ROWS_FAULT = /^(22|23|40)/;

interface Waiting<I, R> {
  input: I;
  resolve(row: R | undefined): void;
  reject(error: unknown): void;
}

export class WriteBatcher<I, R> {
  private waiting: Waiting<I, R>[] = [];
  private inFlight = false;

  /**
   * @param send one statement for the batch, returning for each input its row, or undefined when it
   *   wrote none
   * @param keyOf two writes with one key never share a batch: the second waits for the next
   */
  constructor(
    private readonly send: (inputs: I[]) => Promise<Array<R | undefined>>,
    private readonly keyOf: (input: I) => string,
  ) {}

  /** The written row once its statement has committed; undefined when the caller must write alone. */
  write(input: I): Promise<R | undefined> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    if (this.inFlight || this.waiting.length === 0) return;
    const batch = this.take();
    this.inFlight = true;
    this.send(batch.map((w) => w.input))
      .then(
        (rows) => {
          for (const [i, w] of batch.entries()) w.resolve(rows[i]);
        },
        (error: unknown) => {
          const alone = ONE_ROWS_FAULT.test(sqlStateOf(error) ?? "");
          for (const w of batch) alone ? w.resolve(undefined) : w.reject(error);
        },
      )
      .finally(() => {
        this.inFlight = false;
        this.flush();
      });
  }

  /** Up to BATCH_MAX waiting writes with distinct keys, in arrival order; the rest keep waiting. */
  private take(): Waiting<I, R>[] {
    const keys = new Set<string>();
    const batch: Waiting<I, R>[] = [];
    const rest: Waiting<I, R>[] = [];
    for (const w of this.waiting) {
      const key = this.keyOf(w.input);
      if (batch.length < BATCH_MAX && !keys.has(key)) {
        keys.add(key);
        batch.push(w);
      } else {
        rest.push(w);
      }
    }
    this.waiting = rest;
    return batch;
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
