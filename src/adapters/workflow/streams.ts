/**
 * The World's streams on flowstore's streams: chunks are bytes under (run, name), and a reader tails the
 * stream live (NOTIFY from each write's commit, a poll as the fallback) until it is closed or the
 * reader cancels. Streams are written for runs that do not exist yet, and for ids that are no run at
 * all, so the owner is the run's execution id where there is one and a hash of the id otherwise.
 */

import type { Streamer } from "@workflow/world";
import type { Store } from "../../index.js";
import { toWorldError, WorkflowWorldError } from "./errors.js";
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

/** A stream's calls on its owner and name, as both lines' streamers make them. */
export interface OwnedStreams {
  write(owner: string, name: string, chunk: string | Uint8Array): Promise<void>;
  writeMulti(owner: string, name: string, chunks: (string | Uint8Array)[]): Promise<void>;
  close(owner: string, name: string): Promise<void>;
  get(owner: string, name: string, startIndex?: number): Promise<ReadableStream<Uint8Array>>;
  list(owner: string): Promise<string[]>;
  getChunks(owner: string, name: string, options?: { limit?: number; cursor?: string }): Promise<ChunkPage>;
  getInfo(owner: string, name: string): Promise<{ tailIndex: number; done: boolean }>;
}

interface ChunkPage {
  data: { index: number; data: Uint8Array }[];
  cursor: string | null;
  hasMore: boolean;
  done: boolean;
}

export function ownedStreams(ready: Promise<Store>, pollIntervalMs: number): OwnedStreams {
  return {
    async write(owner, name, chunk) {
      const store = await ready;
      await store.streams.write(owner, name, bytesOf(chunk));
    },

    async writeMulti(owner, name, chunks) {
      if (chunks.length === 0) return;
      const store = await ready;
      await store.streams.writeMany(owner, name, chunks.map(bytesOf));
    },

    async close(owner, name) {
      const store = await ready;
      await store.streams.close(owner, name);
    },

    async get(owner, name, startIndex) {
      const store = await ready;
      const abort = new AbortController();
      const chunks = store.streams
        .tail(owner, name, { from: startIndex ?? 0, signal: abort.signal, pollIntervalMs })
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

    async list(owner) {
      const store = await ready;
      return store.streams.list(owner);
    },

    async getChunks(owner, name, options) {
      const store = await ready;
      const from = options?.cursor ? Number(options.cursor) : 0;
      const page = await store.streams.read(owner, name, {
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

    async getInfo(owner, name) {
      const store = await ready;
      const info = await store.streams.info(owner, name);
      return { tailIndex: info.tailIndex, done: info.closed };
    },
  };
}

/** A writer's session (World spec 6–7's StreamWriteSession; local for the reason runs-many.ts gives). */
export interface WriteSession {
  write(chunkSeq: number, chunks: (string | Uint8Array)[]): Promise<void>;
  close(): Promise<void>;
  dispose(): void;
}

/**
 * One writer's session on a stream: its groups go one after another, each in one statement, so a
 * writer's chunks land in its order whatever the caller awaits. `chunkSeq` counts this writer's chunks:
 * a group that starts below what is written already (a retried group) skips the chunks written, and one
 * that starts above it (a hole) is refused. Holds nothing between calls, so dispose has nothing to do.
 */
export function writeSession(streams: OwnedStreams, owner: string, name: string): WriteSession {
  let written = 0;
  let queue: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const turn = queue.then(fn).catch((error: unknown) => {
      throw toWorldError(error);
    });
    queue = turn.catch(() => {});
    return turn;
  };
  return {
    write(chunkSeq, chunks) {
      return inTurn(async () => {
        if (!Number.isInteger(chunkSeq) || chunkSeq < 0 || chunkSeq > written) {
          throw new WorkflowWorldError(
            `stream ${name}: chunk ${chunkSeq} does not follow the ${written} this writer wrote`,
            { status: 400 },
          );
        }
        const fresh = chunks.slice(written - chunkSeq);
        await streams.writeMulti(owner, name, fresh);
        written += fresh.length;
      });
    },
    close: () => inTurn(() => streams.close(owner, name)),
    dispose() {},
  };
}

/** Spec 5's `world.streams`: the run's id first, the owner the run (or a hash of the id). */
export function createStreams(streams: OwnedStreams): Streamer["streams"] {
  return {
    write: (runId, name, chunk) => streams.write(streamOwnerOf(runId), name, chunk),
    writeMulti: (runId, name, chunks) => streams.writeMulti(streamOwnerOf(runId), name, chunks),
    close: (runId, name) => streams.close(streamOwnerOf(runId), name),
    get: (runId, name, startIndex) => streams.get(streamOwnerOf(runId), name, startIndex),
    list: (runId) => streams.list(streamOwnerOf(runId)),
    getChunks: (runId, name, options) => streams.getChunks(streamOwnerOf(runId), name, options),
    getInfo: (runId, name) => streams.getInfo(streamOwnerOf(runId), name),
  };
}
