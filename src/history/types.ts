/** What an execution's event history is made of, and what callers pass to append, read and wait. */

import { optionKeys } from "../core/input.js";
import type { PageOptions } from "../core/key-cursor.js";

export interface HistoryEvent {
  executionId: string;
  /** The event's place in its execution's history: 1, 2, 3... with no gap, in commit order. */
  sequence: number;
  type: string;
  /** The JSON value appended, or the bytes (a Uint8Array) when bytes were appended; null when none. */
  payload: unknown;
  correlationId: string | null;
  /** The database clock when the event was appended (within an execution, in sequence order). */
  createdAt: Date;
}

export interface NewHistoryEvent {
  /** What happened, e.g. "step_completed" (at most 255 bytes). */
  type: string;
  /** Any JSON value, or bytes (a Uint8Array). */
  payload?: unknown;
  /** What the event is about (a step, a hook, a message), to find it by (at most 1,024 bytes). */
  correlationId?: string | null;
}

export interface AppendOptions {
  /**
   * Append only if the history's last sequence number is this (0: no events yet); otherwise a
   * ConflictError, and nothing is written.
   */
  expectedLastSequence?: number;
  /**
   * Send a NOTIFY on the execution's channel when the append commits, so `events.wait` in any process
   * wakes at once (default false: a waiter finds the events at its next poll). Signal deliveries
   * always notify.
   */
  notify?: boolean;
}

export interface EventListOptions extends PageOptions {
  /** Only events after this sequence number. */
  afterSequence?: number;
  /** Only events before this sequence number. */
  beforeSequence?: number;
  /** By sequence number, "asc" (the default) or "desc". */
  order?: "asc" | "desc";
}

export interface EventCorrelationOptions extends PageOptions {
  /** Only the events of this execution (default: of every execution). */
  executionId?: string;
  /** "asc" (default): oldest first; "desc": newest first, each next page older. */
  order?: "asc" | "desc";
}

export interface EventWaitOptions {
  /** Return the events after this sequence number (default 0: any event). */
  afterSequence?: number;
  /** At most this many events (default 100, at most 1000). */
  limit?: number;
  /** Give up after this long and return no events (default: wait until `signal` aborts). */
  timeoutMs?: number;
  /** Abort the wait: it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Look again this often when no notification comes (default 1 s). */
  pollIntervalMs?: number;
}

// The keys each of these takes, refused otherwise (refuseUnknownKeys): a misspelt
// expectedLastSequence would append without its compare-and-set.
export const APPEND_OPTION_KEYS = optionKeys<AppendOptions>({ expectedLastSequence: true, notify: true });
export const LIST_KEYS = optionKeys<EventListOptions>({
  limit: true,
  cursor: true,
  afterSequence: true,
  beforeSequence: true,
  order: true,
});
export const ITERATE_KEYS = optionKeys<{ afterSequence?: number; pageSize?: number }>({
  afterSequence: true,
  pageSize: true,
});
export const CORRELATION_KEYS = optionKeys<EventCorrelationOptions>({
  limit: true,
  cursor: true,
  executionId: true,
  order: true,
});
export const WAIT_KEYS = optionKeys<EventWaitOptions>({
  afterSequence: true,
  limit: true,
  timeoutMs: true,
  signal: true,
  pollIntervalMs: true,
});
