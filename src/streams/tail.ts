/**
 * A live tail: reads a stream from an index, yields each chunk in order, and waits for more until the
 * stream is closed. A writer's NOTIFY (sent when its transaction commits) wakes it at once; without one
 * (no LISTEN on this driver, or its connection is being made again) it reads again every poll interval.
 */

import type { Unlisten } from "../db/driver.js";
import type { StreamChunk, StreamPage } from "./types.js";

export interface TailSource {
  /** One read of at most `limit` chunks from `from` (negative: from the end). */
  read(from: number, limit: number): Promise<StreamPage>;
  /** Calls `wake` on each notification for this stream; undefined when the driver cannot listen. */
  listen(wake: () => void): Promise<Unlisten | undefined>;
}

export interface TailSettings {
  from: number;
  signal: AbortSignal | undefined;
  pollIntervalMs: number;
  batchSize: number;
}

export async function* tailChunks(
  source: TailSource,
  { from, signal, pollIntervalMs, batchSize }: TailSettings,
): AsyncGenerator<StreamChunk, void, undefined> {
  // Set by a notification (or an abort) that came after the last read began: read again before sleeping.
  let woken = false;
  let wakeSleeper: (() => void) | undefined;
  const wake = () => {
    woken = true;
    wakeSleeper?.();
  };
  // Subscribed before the first read, so no chunk committed after that read goes unannounced.
  const unlisten = await source.listen(wake);
  signal?.addEventListener("abort", wake);
  try {
    let next = from;
    while (!signal?.aborted) {
      woken = false;
      const page = await source.read(next, batchSize);
      for (const chunk of page.chunks) {
        if (signal?.aborted) return;
        yield chunk;
      }
      next = page.nextIndex;
      if (page.closed && next > page.tailIndex) return;
      if (woken || page.chunks.length === batchSize) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollIntervalMs);
        wakeSleeper = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeSleeper = undefined;
    }
  } finally {
    signal?.removeEventListener("abort", wake);
    await unlisten?.();
  }
}
