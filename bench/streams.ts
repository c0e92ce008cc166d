/**
 * npm run bench -- streams
 *
 * How soon a live tail sees a chunk: from the writer's commit (its write call returning) to the tail
 * yielding the chunk, with the reader in another store of this process and in another process. The
 * readers poll once a minute, so what they see sooner was announced by NOTIFY. Two paces: one chunk at
 * a time with the reader idle in between (each chunk wakes it), and chunks written back to back, as a
 * model emits tokens. The goal is a p50 under 10 ms.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { openStore, type Store, uuidv7 } from "../src/index.js";
import { type BenchContext, CHILD_IMPORTS, log, percentiles, type Row, table } from "./lib.js";

const GOAL_MS = 10;
const TAIL_PROCESS = fileURLToPath(new URL("./streams/tail-process.ts", import.meta.url));
/** A poll once a minute: a chunk seen sooner came through NOTIFY. */
const POLL_MS = 60_000;

/** Milliseconds since the epoch, to a fraction of one, comparable between processes on one machine. */
const now = () => performance.timeOrigin + performance.now();

/** When a reader's tail yielded each chunk. */
class Arrivals {
  readonly at = new Map<number, number>();
  private readonly waiters = new Map<number, () => void>();

  record(index: number, time: number): void {
    this.at.set(index, time);
    this.waiters.get(index)?.();
    this.waiters.delete(index);
  }

  /** Resolves once chunk `index` has been yielded. */
  seen(index: number): Promise<void> {
    if (this.at.has(index)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(index, resolve));
  }
}

interface Reader {
  arrivals: Arrivals;
  /** Resolves when the tail has ended (the stream was closed) and the reader is shut. */
  ended: Promise<void>;
}

async function storeReader(url: string, executionId: string, name: string): Promise<Reader> {
  const store = await openStore({ connection: url, migrate: false, pool: { max: 2 } });
  const arrivals = new Arrivals();
  const ended = (async () => {
    for await (const chunk of store.streams.tail(executionId, name, { pollIntervalMs: POLL_MS })) {
      arrivals.record(chunk.index, now());
    }
  })().finally(() => store.close());
  return { arrivals, ended };
}

async function processReader(url: string, executionId: string, name: string): Promise<Reader> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...CHILD_IMPORTS, TAIL_PROCESS, url, "flowstore", executionId, name],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const arrivals = new Arrivals();
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    if (line === "ready") ready();
    const [index, time] = line.split(" ");
    if (time !== undefined) arrivals.record(Number(index), Number(time));
  });
  const ended = new Promise<void>((resolve, reject) =>
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`tail process exited ${code}`)))),
  );
  await Promise.race([isReady, ended]);
  return { arrivals, ended };
}

type Pace = "one at a time" | "back to back";

async function measure(
  writer: Store,
  url: string,
  readerKind: "store" | "process",
  pace: Pace,
  chunks: number,
): Promise<Row> {
  const executionId = uuidv7();
  const name = "tokens";
  const reader = await (readerKind === "store" ? storeReader : processReader)(url, executionId, name);
  // The first chunk is not measured: once it is through, the tail is live and listening.
  await writer.streams.write(executionId, name, "warm-up");
  await reader.arrivals.seen(0);
  const started = new Map<number, number>();
  const acked = new Map<number, number>();
  for (let i = 1; i <= chunks; i++) {
    if (pace === "one at a time") await new Promise((resolve) => setTimeout(resolve, 2));
    started.set(i, now());
    await writer.streams.write(executionId, name, `token ${i}`);
    acked.set(i, now());
    if (pace === "one at a time") await reader.arrivals.seen(i);
  }
  await writer.streams.close(executionId, name);
  await reader.ended;
  const fromCommit: number[] = [];
  const fromStart: number[] = [];
  const writes: number[] = [];
  for (let i = 1; i <= chunks; i++) {
    const at = reader.arrivals.at.get(i) as number;
    fromCommit.push(at - (acked.get(i) as number));
    fromStart.push(at - (started.get(i) as number));
    writes.push((acked.get(i) as number) - (started.get(i) as number));
  }
  const delay = percentiles(fromCommit);
  return {
    reader: readerKind === "store" ? "another store, this process" : "another process",
    pace,
    chunks,
    "p50 ms": delay.p50,
    "p95 ms": delay.p95,
    "p99 ms": delay.p99,
    "p50 from write start": percentiles(fromStart).p50,
    "p50 write ms": percentiles(writes).p50,
    goal: `p50 < ${GOAL_MS}`,
    met: delay.p50 < GOAL_MS ? "yes" : "NO",
  };
}

export async function run(context: BenchContext): Promise<void> {
  const chunks = Math.max(20, Math.round(1_000 * context.scale));
  log(
    `${chunks} chunks per row, each its own write (a commit); the reader's tail polls once a minute, so it ` +
      "hears of each chunk by NOTIFY",
  );
  log(
    "delay: from the writer's write call returning (its commit acknowledged) to the tail yielding the chunk; " +
      "NOTIFY leaves at the commit, before the acknowledgement, so a sample can be slightly negative",
  );
  const url = await context.freshDatabase();
  const writer = await openStore({ connection: url, pool: { max: 4 } });
  const rows: Row[] = [];
  try {
    for (const readerKind of ["store", "process"] as const) {
      for (const pace of ["one at a time", "back to back"] as const) {
        rows.push(await measure(writer, url, readerKind, pace, chunks));
      }
    }
  } finally {
    await writer.close();
    await context.dropDatabase(url);
  }
  table("stream tail delay (ms): write commit -> tail yields the chunk", rows);
}
