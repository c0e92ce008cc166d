/**
 * Event payloads over `limits.offloadAbove` go to the blob store (offload/): an append puts them there
 * before its statement and writes their references, and every read puts them back.
 */

import type { StoreContext } from "../core/context.js";
import { keepIfWritten, offload, referenceOf, resolveEach } from "../offload/index.js";
import type { AppendColumns } from "./append.js";
import type { HistoryEvent } from "./types.js";

/** What an append offloaded: each blob it put, by key, with its payload as the caller gave it. */
export type OffloadedPayloads = Map<string, unknown>;

/**
 * Puts the large payloads of a checked append in the blob store and writes their references into
 * `columns` in their place. `payloads`: the payloads as given, in the same order.
 */
export async function offloadPayloads(
  context: StoreContext,
  executionId: string,
  columns: AppendColumns,
  payloads: readonly unknown[],
): Promise<OffloadedPayloads> {
  const put: OffloadedPayloads = new Map();
  if (context.limits.offloadAbove === undefined) return put;
  for (let i = 0; i < columns[0].length; i++) {
    const { value, key } = await offload(
      context,
      executionId,
      {
        json: columns[1][i] ?? null,
        bytes: columns[2][i] ?? null,
      },
      "events",
    );
    if (key === undefined) continue;
    columns[1][i] = value.json;
    columns[2][i] = null;
    put.set(key, payloads[i]);
  }
  return put;
}

/** The appended events as the caller gave their payloads (no blob is read back). */
export function restorePayloads(events: HistoryEvent[], put: OffloadedPayloads): HistoryEvent[] {
  if (put.size === 0) return events;
  return events.map((event) => {
    const key = referenceOf(event.payload)?.key;
    return key !== undefined && put.has(key) ? { ...event, payload: put.get(key) } : event;
  });
}

/** Runs an append's write, and removes the blobs it put when the write fails or wrote nothing. */
export function appendedOrDiscarded<T>(
  context: StoreContext,
  put: OffloadedPayloads,
  write: () => Promise<T>,
  missed: (result: T) => boolean,
): Promise<T> {
  return keepIfWritten(context, [...put.keys()], write, missed);
}

/** Events read from their rows, with offloaded payloads read back from the blob store (in place). */
export async function resolvePayloads<T extends HistoryEvent>(
  context: StoreContext,
  events: T[],
): Promise<T[]> {
  await resolveEach(
    context,
    events,
    (event) => event.payload,
    (event, payload) => {
      event.payload = payload;
    },
  );
  return events;
}
