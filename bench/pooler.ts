/**
 * A store behind PgBouncer (Debian's, transaction pooling) against the same store connected straight to
 * PostgreSQL, on one server in one run, each side on a fresh database:
 * - drain: 20,000 jobs enqueued, then one worker with the defaults runs them (an empty handler);
 *   seconds and jobs/s from the worker's start to the last job's handler;
 * - wake-up: with the worker idle, one job enqueued at a time; the time from the enqueue's return to
 *   the handler's start (p50, p95): a NOTIFY's path, or the poll's where LISTEN hears nothing.
 * Sides: direct; PgBouncer with listenConnection (LISTEN straight to the server); PgBouncer alone
 * (LISTEN through the pooler hears nothing, so the worker wakes at its poll, 1 s by default).
 * Durable commits on every side. Skipped where PgBouncer is not installed (apt-get install pgbouncer).
 */
import { performance } from "node:perf_hooks";
import { type Logger, openStore, type Store } from "../src/index.js";
import { pgBouncerMissing, startPgBouncer } from "../test/support/pgbouncer.js";
import { type BenchContext, log, percentiles, type Row, table } from "./lib.js";

const JOBS = 20_000;
const WAKE_UPS = 40;

interface Side {
  name: string;
  /** Wake-ups to time: a side that waits for its poll takes half a second each. */
  wakeUps: number;
  open(direct: string, pooled: string): Promise<Store>;
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const SIDES: Side[] = [
  { name: "direct", wakeUps: WAKE_UPS, open: (direct) => openStore({ connection: direct, logger: quiet }) },
  {
    name: "PgBouncer + listenConnection",
    wakeUps: WAKE_UPS,
    open: (direct, pooled) => openStore({ connection: pooled, listenConnection: direct, logger: quiet }),
  },
  {
    name: "PgBouncer alone",
    wakeUps: 10,
    open: (_, pooled) => openStore({ connection: pooled, logger: quiet }),
  },
];

async function drain(store: Store, total: number): Promise<number> {
  for (let i = 0; i < total; i += 1000) {
    const n = Math.min(1000, total - i);
    await store.jobs.enqueue(
      Array.from({ length: n }, (_, k) => ({ queue: "drain", name: "job", payload: { i: i + k } })),
    );
  }
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const started = performance.now();
  const worker = store.jobs.work({
    queue: "drain",
    handler: () => {
      if (++done === total) finish();
    },
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  return seconds;
}

async function wakeUps(store: Store, count: number): Promise<number[]> {
  let ran: (at: number) => void = () => {};
  const worker = store.jobs.work({ queue: "wake", handler: () => ran(performance.now()) });
  // The worker's first claims (at start, and once LISTEN is in place) find nothing before timing starts.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const handled = new Promise<number>((resolve) => {
      ran = resolve;
    });
    await store.jobs.enqueue({ queue: "wake", name: "ping" });
    const enqueued = performance.now();
    samples.push((await handled) - enqueued);
  }
  await worker.stop();
  return samples;
}

export async function run(context: BenchContext): Promise<void> {
  const missing = pgBouncerMissing();
  if (missing) {
    log(`pooler: skipped: ${missing}`);
    return;
  }
  const total = Math.round(JOBS * context.scale);
  log(
    `pooler: ${total.toLocaleString("en-US")} jobs drained by one worker (defaults), then wake-ups one job at a time; PgBouncer in transaction pooling`,
  );
  const rows: Row[] = [];
  for (const side of SIDES) {
    const direct = await context.freshDatabase();
    const bouncer = await startPgBouncer(direct, "transaction");
    try {
      const store = await side.open(direct, bouncer.url);
      try {
        const seconds = await drain(store, total);
        const { p50, p95 } = percentiles(await wakeUps(store, side.wakeUps));
        rows.push({
          side: side.name,
          "drain s": Number(seconds.toFixed(2)),
          "jobs/s": total / seconds,
          "wake-up p50 ms": Number(p50.toFixed(2)),
          "wake-up p95 ms": Number(p95.toFixed(2)),
        });
        log(`  ${side.name}: ${seconds.toFixed(2)} s, wake-up p50 ${p50.toFixed(1)} ms`);
      } finally {
        await store.close();
      }
    } finally {
      await bouncer.stop();
      await context.dropDatabase(direct);
    }
  }
  table("A store behind PgBouncer (transaction pooling) and direct", rows);
  const direct = rows[0];
  if (direct) {
    table(
      "relative to direct",
      rows.slice(1).map((row) => ({
        side: row.side as string,
        "drain jobs/s ratio": Number(((row["jobs/s"] as number) / (direct["jobs/s"] as number)).toFixed(2)),
        "wake-up p50 ratio": Number(
          ((row["wake-up p50 ms"] as number) / (direct["wake-up p50 ms"] as number)).toFixed(2),
        ),
      })),
    );
  }
}
