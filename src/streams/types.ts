/** The shapes of streams: chunks, what a read returns, and the options of each call. */

export interface StreamChunk {
  /** Its position in the stream: 0, 1, 2... with no gaps. */
  index: number;
  /** Bytes as a Buffer, JSON as its value. */
  data: unknown;
}

export interface StreamInfo {
  /** The index of the last chunk; -1 while the stream has none (or does not exist). */
  tailIndex: number;
  /** True once the stream is closed: no chunk will follow the tail. */
  closed: boolean;
}

/** One read: chunks in index order, and the stream's tail and state as of the same moment. */
export interface StreamPage extends StreamInfo {
  chunks: StreamChunk[];
  /** Where the next read goes on: after the last chunk returned (or where this read started). */
  nextIndex: number;
}

export interface StreamReadOptions {
  /**
   * The first index to read (default 0). Negative counts from the end: -1 is the last chunk, -3 on a
   * stream of 10 chunks starts at 7; a start before the first chunk starts at 0.
   */
  from?: number;
  /** At most this many chunks (default 100, at most 1000). */
  limit?: number;
}

export interface StreamWriteOptions {
  /** Close the stream in the same statement, after these chunks. */
  close?: boolean;
}

export interface StreamTailOptions {
  /** The first index to yield (default 0); negative counts from the end, as in `read`. */
  from?: number;
  /** Ends the iteration (quietly, as a closed stream does). */
  signal?: AbortSignal;
  /**
   * How often to read when no notification came (default 1000 ms): the fallback when LISTEN is not
   * available or its connection is being made again.
   */
  pollIntervalMs?: number;
  /** Chunks fetched per read (default 100, at most 1000). */
  batchSize?: number;
}
