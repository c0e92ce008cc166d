/**
 * Step records made outside a transaction share statements: while one statement is on its way, the
 * records that arrive wait and then go together in the next, one insert of many rows and one commit.
 * Each caller's promise still settles only once its own record has committed, so every step is as
 * durable as when it went alone; what changes is that sixteen workflows recording at once cost one
 * commit (one WAL flush) instead of sixteen.
 */

import type { StoreContext } from "../context.js";
import type { StepRow } from "./steps.js";

/** One record, checked and converted, as the statement takes it. */
export interface StepInput {
  executionId: string;
  number: number;
  name: string;
  outputJson: string | null;
  outputBytes: Uint8Array | null;
  error: string | null;
}

/** A stored checkpoint row and whether this statement wrote it. */
export type RecordedRow = StepRow & { created: boolean };

/** How many records one statement carries at most. */
const BATCH_MAX = 500;

interface Waiting {
  input: StepInput;
  resolve(row: RecordedRow | undefined): void;
  reject(error: unknown): void;
}

export class StepBatcher {
  private waiting: Waiting[] = [];
  private inFlight = false;

  constructor(
    private readonly context: StoreContext,
    private readonly columns: string,
  ) {}

  /**
   * The stored row for this record once its statement has committed; undefined when a concurrent
   * writer's row slipped past the statement's snapshot (the caller then tries on its own).
   */
  record(input: StepInput): Promise<RecordedRow | undefined> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    if (this.inFlight || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0, BATCH_MAX);
    this.inFlight = true;
    this.send(batch.map((w) => w.input))
      .then(
        (rows) => {
          for (const [i, w] of batch.entries()) w.resolve(rows[i]);
        },
        (error: unknown) => {
          for (const w of batch) w.reject(error);
        },
      )
      .finally(() => {
        this.inFlight = false;
        this.flush();
      });
  }

  /** One statement for the batch; the rows come back in the batch's order (a key given twice shares its row). */
  private async send(inputs: StepInput[]): Promise<Array<RecordedRow | undefined>> {
    const t = `${this.context.q}.steps`;
    // In key order, the order in which every batch takes its rows: two batches that share keys wait
    // for each other instead of deadlocking.
    const sql = `with input as (
        select * from unnest($1::uuid[], $2::int[], $3::text[], $4::jsonb[], $5::bytea[], $6::jsonb[])
          with ordinality as i(execution_id, step_number, name, output, output_bytes, error, ord)
      ),
      inserted as (
        insert into ${t} (execution_id, step_number, name, output, output_bytes, error)
        select distinct on (execution_id, step_number) execution_id, step_number, name, output, output_bytes, error
          from input order by execution_id, step_number, ord
        on conflict (execution_id, step_number) do nothing
        returning *
      )
      select ${this.columns}, true as created from inserted
      union all
      select ${this.columns}, false from ${t} s
       where (s.execution_id, s.step_number) in (select execution_id, step_number from input)
         and not exists (select 1 from inserted x
                          where x.execution_id = s.execution_id and x.step_number = s.step_number)`;
    const { rows } = await this.context.db.query<RecordedRow>(
      sql,
      [
        inputs.map((i) => i.executionId),
        inputs.map((i) => i.number),
        inputs.map((i) => i.name),
        inputs.map((i) => i.outputJson),
        inputs.map((i) => (i.outputBytes ? asBuffer(i.outputBytes) : null)),
        inputs.map((i) => i.error),
      ],
      { prepare: true },
    );
    const byKey = new Map(rows.map((row) => [`${row.execution_id}/${row.step_number}`, row]));
    const claimed = new Set<string>();
    return inputs.map((input) => {
      const key = `${input.executionId.toLowerCase()}/${input.number}`;
      const row = byKey.get(key);
      if (!row) return undefined;
      // A key given twice in one batch: the first of them wrote it, the second finds it written.
      if (claimed.has(key)) return { ...row, created: false };
      claimed.add(key);
      return row;
    });
  }
}

/** The driver writes a Buffer in an array as bytea; a plain Uint8Array it would not. No copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
