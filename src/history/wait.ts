/**
 * Waiting for an execution's next events: LISTEN on the execution's channel first, then read; if
 * nothing is there, sleep until a notification, the next poll or the deadline, and read again. A
 * notification sent between the read and the sleep is not lost (it cuts the sleep short), and one
 * lost altogether (the LISTEN connection down, an append without `notify`) costs at most one poll.
 */

import type { StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import type { Unlisten } from "../db/driver.js";
import { eventsChannel } from "./append.js";
import type { HistoryEvent } from "./types.js";

export const DEFAULT_POLL_INTERVAL_MS = 1_000;

export interface WaitPlan {
  executionId: string;
  /** Absolute deadline (Date.now() scale); Infinity for none. */
  deadline: number;
  pollIntervalMs: number;
  signal: AbortSignal | undefined;
  /** Reads the events the caller waits for. */
  read: () => Promise<HistoryEvent[]>;
}

/** A positive number of milliseconds, when given. */
export function optionalDuration(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new ValidationError(`${field} must be a number of milliseconds from 0 to ${2 ** 31 - 1}`, {
      field,
    });
  }
  return value;
}

export async function waitForEvents(context: StoreContext, plan: WaitPlan): Promise<HistoryEvent[]> {
  const { signal } = plan;
  signal?.throwIfAborted();
  let notified = false;
  let wake: (() => void) | undefined;
  let unlisten: Unlisten | undefined;
  if (context.driver.capabilities.listen) {
    unlisten = await context.driver
      .listen(eventsChannel(context.schema, plan.executionId), () => {
        notified = true;
        wake?.();
      })
      .catch((error: unknown) => {
        context.logger.warn({ error: String(error) }, "flowstore events.wait: LISTEN failed; polling");
        return undefined;
      });
  }
  try {
    for (;;) {
      notified = false;
      const events = await plan.read();
      if (events.length > 0) return events;
      const leftMs = plan.deadline - Date.now();
      if (leftMs <= 0) return [];
      signal?.throwIfAborted();
      if (notified) continue;
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", aborted);
          wake = undefined;
        };
        const aborted = () => {
          done();
          reject(signal?.reason);
        };
        const timer = setTimeout(
          () => {
            done();
            resolve();
          },
          Math.min(plan.pollIntervalMs, leftMs),
        );
        wake = () => {
          done();
          resolve();
        };
        signal?.addEventListener("abort", aborted, { once: true });
      });
    }
  } finally {
    await unlisten?.().catch(() => {});
  }
}
