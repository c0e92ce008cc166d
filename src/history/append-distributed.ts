/**
 * An append on a schema distributed with Citus. The one statement of append.ts (its CTEs reading each
 * other's rows) is not one Citus can send to the run's shard: it plans each CTE apart and passes their
 * rows through the coordinator, several round trips and intermediate results for one append. Here the
 * same steps go as statements Citus routes whole to the run's shard, in one transaction: the run
 * locked (key share), its head moved on, the events inserted as rows of values, then the NOTIFY (sent
 * at commit, as the statement's is). The same rows and the same refusals: nothing is appended when the
 * run is missing or its history is not at the expected number.
 */

import type { SqlContext } from "../core/context.js";
import { TERMINAL_SQL } from "../core/run-status.js";
import type { Queryable } from "../db/driver.js";
import { type AppendColumns, EVENT_COLUMNS, type EventRow } from "./append.js";

/** Moves the head on by `count` events; the new last number, or undefined when `expected` does not hold. */
async function moveHead(
  db: Queryable,
  q: string,
  executionId: string,
  count: number,
  expected: number | null,
): Promise<number | undefined> {
  // Expecting events, the head must be there already, at the number expected.
  const { rows } =
    expected !== null && expected > 0
      ? await db.query<{ last_seq: string }>(
          `update ${q}.event_heads set last_seq = last_seq + $2
            where execution_id = $1 and last_seq = $3 returning last_seq`,
          [executionId, count, expected],
        )
      : await db.query<{ last_seq: string }>(
          `insert into ${q}.event_heads as h (execution_id, last_seq) values ($1, $2)
           on conflict (execution_id) do update set last_seq = h.last_seq + excluded.last_seq
            where $3::bigint is null or h.last_seq = $3::bigint
           returning last_seq`,
          [executionId, count, expected],
        );
  return rows[0] ? Number(rows[0].last_seq) : undefined;
}

/**
 * The events appended (in sequence order), or none when nothing was. `unfinished`: nothing is appended
 * to a run that has finished either (a signal's delivery).
 */
export async function appendOnCitus(
  { db, q }: SqlContext,
  executionId: string,
  columns: AppendColumns,
  expected: number | null,
  channelPrefix: string | null,
  unfinished = false,
): Promise<{ rows: EventRow[] }> {
  const [types, payloads, bytes, correlations] = columns;
  return db.transaction(async (tx) => {
    const run = await tx.query(
      `select 1 from ${q}.executions
        where id = $1 ${unfinished ? `and status not in ${TERMINAL_SQL}` : ""} for key share`,
      [executionId],
    );
    if (run.rows.length === 0) return { rows: [] };
    const last = await moveHead(tx, q, executionId, types.length, expected);
    if (last === undefined) return { rows: [] };
    const values: unknown[] = [executionId];
    const rows = types.map((type, i) => {
      const at = values.push(last - types.length + 1 + i, type, payloads[i], bytes[i], correlations[i]);
      return `($1, $${at - 4}::bigint, $${at - 3}::text, $${at - 2}::jsonb, $${at - 1}::bytea, $${at}::text)`;
    });
    const inserted = await tx.query<EventRow>(
      `insert into ${q}.events (execution_id, seq, type, payload, payload_bytes, correlation_id)
       values ${rows.join(", ")} returning ${EVENT_COLUMNS}`,
      values,
    );
    if (channelPrefix !== null) {
      await tx.query("select pg_notify($1, $2)", [
        `${channelPrefix}${executionId.toLowerCase().replaceAll("-", "")}`,
        String(last),
      ]);
    }
    return { rows: inserted.rows.sort((a, b) => Number(a.seq) - Number(b.seq)) };
  });
}
