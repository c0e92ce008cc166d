/**
 * Wake-ups: enqueues, releases and retries send one NOTIFY naming the queues that got work, on a
 * channel per schema; workers listening for a queue claim at once instead of at their next poll.
 * Timers share the rule when they move due timers into the queue; streams wake their tails on a
 * channel of their own.
 */

import { createHash } from "node:crypto";
import type { Queryable } from "../db/driver.js";

/** A NOTIFY channel of one area of a schema; hashed because a channel name has at most 63 bytes. */
export function schemaChannel(area: string, schema: string): string {
  return `flowstore_${area}_${createHash("sha256").update(schema).digest("hex").slice(0, 16)}`;
}

/** The NOTIFY channel for a schema's queue. */
export function jobsChannel(schema: string): string {
  return schemaChannel("jobs", schema);
}

/**
 * NOTIFY refuses payloads of 8000 bytes or more. A wake-up names the queues that got work as a JSON
 * array (a queue name may hold any character), and past this size it names none, which wakes every
 * worker instead.
 */
const WAKE_PAYLOAD_MAX_BYTES = 7_000;

function wakePayload(queues: string[]): string {
  const named = JSON.stringify([...new Set(queues)]);
  return Buffer.byteLength(named) < WAKE_PAYLOAD_MAX_BYTES ? named : "";
}

/** The same rule in SQL: a NOTIFY on `channel` naming the distinct queues of `rows`, sent only if any. */
export function wakeStatement(channel: string, rows: string): string {
  return `select pg_notify(${channel}, case when octet_length(q) < ${WAKE_PAYLOAD_MAX_BYTES} then q else '' end)
           from (select json_agg(distinct queue)::text as q from ${rows} having count(*) > 0) agg`;
}

/** Whether a wake-up's payload concerns `queue`: it names it, or names none (a wake-up for all). */
export function wakesQueue(payload: string, queue: string): boolean {
  if (payload === "") return true;
  try {
    const queues: unknown = JSON.parse(payload);
    return !Array.isArray(queues) || queues.includes(queue);
  } catch {
    return true; // not ours to read: better a claim that finds nothing than a job left waiting
  }
}

/** Wakes the workers of `queues` now (or when the enclosing transaction commits). */
export async function wakeQueues(db: Queryable, schema: string, queues: string[]): Promise<void> {
  if (queues.length) await db.query("select pg_notify($1, $2)", [jobsChannel(schema), wakePayload(queues)]);
}
