/**
 * Pausing a queue: while a queue has a row in queue_pauses no claim takes its jobs (claims test the
 * row in the same statement), whoever claims, and jobs still go in, are cancelled and retried as
 * usual. Resuming deletes the row and wakes the queue's workers at once.
 */

import type { StoreContext } from "../core/context.js";
import { checkText } from "../core/payload.js";
import { wakeQueues } from "../core/wake.js";
import type { QueuePause } from "./types.js";

/** The condition a claim adds so that a paused queue gives nothing: `$queue` names the queue parameter. */
export function notPaused(context: Pick<StoreContext, "q">, queue: string): string {
  return `not exists (select 1 from ${context.q}.queue_pauses p where p.queue = ${queue})`;
}

/** True when this call paused the queue; false when it was paused already. */
export async function pause(context: StoreContext, queue: string, by?: string): Promise<boolean> {
  checkText(queue, "queue");
  const pausedBy = by === undefined ? null : checkText(by, "by");
  const { rowCount } = await context.db.query(
    `insert into ${context.q}.queue_pauses (queue, paused_by) values ($1, $2) on conflict (queue) do nothing`,
    [queue, pausedBy],
  );
  return rowCount === 1;
}

/** True when this call resumed the queue; false when it was not paused. */
export async function resume(context: StoreContext, queue: string): Promise<boolean> {
  checkText(queue, "queue");
  const { rowCount } = await context.db.query(`delete from ${context.q}.queue_pauses where queue = $1`, [
    queue,
  ]);
  // Its workers wait for a wake or their next poll: woken, they claim what waited at once.
  if (rowCount === 1) await wakeQueues(context.db, context.schema, [queue]);
  return rowCount === 1;
}

/** The paused queues, by name. */
export async function paused(context: StoreContext): Promise<QueuePause[]> {
  const { rows } = await context.db.query<{ queue: string; paused_at: Date; paused_by: string | null }>(
    `select queue, paused_at, paused_by from ${context.q}.queue_pauses order by queue`,
  );
  return rows.map((row) => ({ queue: row.queue, pausedAt: row.paused_at, pausedBy: row.paused_by }));
}
