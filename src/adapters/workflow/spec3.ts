/**
 * Spec 3's streams (workflow 4.x): flat calls with the stream's name first, and a read by the name
 * alone (`readFromStream(name)` has no run id). So the owner of a stream comes from its name: the run's
 * own stream (`getWritable()`, `run.getReadable()`) is named `strm_<the run's ULID>_user...` and
 * belongs to the run, as spec 5 has it; any other belongs to an owner made from its name, and the run
 * that wrote it records the name by an empty, closed stream of its own, so `listStreamsByRunId` finds
 * it (and the record goes when the run is pruned).
 *
 * A stream a step passes on or returns (a ReadableStream) is named `strm_<a ULID made as it was>`: its
 * owner is a UUIDv8 of that ULID's time and a hash of the name (passedStreamOwner). No run has that id,
 * and store.prune() sweeps the stream once the cut has passed its time; with partitions it sits in the
 * range of its day, dropped with it. Any other name (a health check's) belongs to a plain hash of it.
 */

import type { Store } from "../../index.js";
import { executionIdOf, hashedUuid, passedStreamOwner, streamOwnerOf, ulidTime } from "./ids.js";
import type { OwnedStreams } from "./streams.js";

/** The Streamer of @workflow/world 4.5 (spec 3), as this adapter implements it. */
export interface FlatStreamer {
  writeToStream(name: string, runId: string, chunk: string | Uint8Array): Promise<void>;
  writeToStreamMulti(name: string, runId: string, chunks: (string | Uint8Array)[]): Promise<void>;
  closeStream(name: string, runId: string): Promise<void>;
  readFromStream(name: string, startIndex?: number): Promise<ReadableStream<Uint8Array>>;
  listStreamsByRunId(runId: string): Promise<string[]>;
  getStreamChunks(
    name: string,
    runId: string,
    options?: { limit?: number; cursor?: string },
  ): ReturnType<OwnedStreams["getChunks"]>;
  getStreamInfo(name: string, runId: string): ReturnType<OwnedStreams["getInfo"]>;
}

const RUN_STREAM = /^strm_([0-9A-HJKMNP-TV-Z]{26})_user/;
const PASSED_STREAM = /^strm_([0-9A-HJKMNP-TV-Z]{26})$/;

/**
 * The owner of a stream by its name: the run it is the stream of; for a stream a step passes on, a
 * UUIDv8 of its ULID's time and a hash of the name; else a hash of the name.
 */
export function nameOwnerOf(name: string): string {
  const run = RUN_STREAM.exec(name);
  const owner = run && executionIdOf(`wrun_${run[1]}`);
  if (owner) return owner;
  const passed = PASSED_STREAM.exec(name);
  const madeAt = passed ? ulidTime(passed[1] as string) : undefined;
  return madeAt === undefined
    ? hashedUuid("stream name", name)
    : passedStreamOwner(madeAt, "stream name", name);
}

/** Names recorded per process, so that a stream's later writes cost nothing more. */
const MAX_RECORDED = 10_000;

export function createFlatStreamer(streams: OwnedStreams, ready: Promise<Store>): FlatStreamer {
  const recorded = new Set<string>();

  /** Records under the run a stream it wrote that belongs to its name, once. */
  async function record(name: string, runId: string): Promise<void> {
    const run = executionIdOf(runId);
    if (!run || run === nameOwnerOf(name)) return;
    const key = `${run}\u0000${name}`;
    if (recorded.has(key)) return;
    const store = await ready;
    await store.streams.close(run, name);
    if (recorded.size >= MAX_RECORDED) recorded.clear();
    recorded.add(key);
  }

  return {
    async writeToStream(name, runId, chunk) {
      await record(name, runId);
      await streams.write(nameOwnerOf(name), name, chunk);
    },

    async writeToStreamMulti(name, runId, chunks) {
      await record(name, runId);
      await streams.writeMulti(nameOwnerOf(name), name, chunks);
    },

    async closeStream(name, runId) {
      await record(name, runId);
      await streams.close(nameOwnerOf(name), name);
    },

    readFromStream: (name, startIndex) => streams.get(nameOwnerOf(name), name, startIndex),
    listStreamsByRunId: (runId) => streams.list(streamOwnerOf(runId)),
    getStreamChunks: (name, _runId, options) => streams.getChunks(nameOwnerOf(name), name, options),
    getStreamInfo: (name) => streams.getInfo(nameOwnerOf(name), name),
  };
}
