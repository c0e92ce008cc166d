/**
 * `world.streams` on flowstore's streams: chunks are bytes under (run, name), and a reader tails the
 * stream live (NOTIFY from each write's commit, a poll as the fallback) until it is closed or the
 * reader cancels. Streams are written for runs that do not exist yet, and for ids that are no run at
 * all, so the owner is the run's execution id where there is one and a hash of the id otherwise.
 */

import type { Streamer } from "@workflow/world";
import type { Store } from "../../index.js";
import { toWorldError } from "./errors.js";
import { streamOwnerOf } from "./ids.js";
import { limitOf } from "./storage.js";

const encoder = new TextEncoder();

function bytesOf(chunk: string | Uint8Array): Uint8Array {
  return typeof chunk === "string" ? encoder.encode(chunk) : chunk;
}

function asUint8Array(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // A chunk some other writer stored as JSON: its text.
  return encoder.encode(typeof data === "string" ? data : JSON.stringify(data));
}

export function createStreams(ready: Promise<Store>, pollIntervalMs: number): Streamer["streams"] {
  return {
    async write(runId, name, chunk) {
      const store = await ready;
      await store.streams.write(streamOwnerOf(runId), name, bytesOf(chunk));
    },

    async writeMulti(runId, name, chunks) {
      if (chunks.length === 0) return;
      const store = await ready;
      await store.streams.writeMany(streamOwnerOf(runId), name, chunks.map(bytesOf));
    },

    async close(runId, name) {
      const store = await ready;
      await store.streams.close(streamOwnerOf(runId), name);
    },

    async get(runId, name, startIndex) {
      const store = await ready;
      const abort = new AbortController();
      const chunks = store.streams
        .tail(streamOwnerOf(runId), name, { from: startIndex ?? 0, signal: abort.signal, pollIntervalMs })
        [Symbol.asyncIterator]();
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const next = await chunks.next();
            if (next.done) controller.close();
            else controller.enqueue(asUint8Array(next.value.data));
          } catch (error) {
            // Read after get() returned, outside the World's own conversion of each call's errors.
            controller.error(toWorldError(error));
          }
        },
        async cancel() {
          // Ends the tail (and its LISTEN) at once, even while it waits for the next chunk.
          abort.abort();
          await chunks.return?.(undefined);
        },
      });
    },

    async list(runId) {
      const store = await ready;
      return store.streams.list(streamOwnerOf(runId));
    },

    async getChunks(runId, name, options) {
      const store = await ready;
      const from = options?.cursor ? Number(options.cursor) : 0;
      const page = await store.streams.read(streamOwnerOf(runId), name, {
        from: Number.isInteger(from) ? from : 0,
        limit: limitOf(options, 100),
      });
      const hasMore = page.nextIndex <= page.tailIndex;
      return {
        data: page.chunks.map((chunk) => ({ index: chunk.index, data: asUint8Array(chunk.data) })),
        cursor: hasMore ? String(page.nextIndex) : null,
        hasMore,
        done: page.closed && !hasMore,
      };
    },

    async getInfo(runId, name) {
      const store = await ready;
      const info = await store.streams.info(streamOwnerOf(runId), name);
      return { tailIndex: info.tailIndex, done: info.closed };
    },
  };
}
