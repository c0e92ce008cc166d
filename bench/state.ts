/**
 * npm run bench -- state
 * durableState and kv against the same statements sent with raw `pg` (same server, same run,
 * concurrency 8), then blob put/get throughput and peak resident memory on both backends.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pg from "pg";
import S3rver from "s3rver";
import { s3 } from "../src/blobs/s3.js";
import { openStore, type Store } from "../src/index.js";
import { type BenchContext, log, type Row, sideBySide, table } from "./lib.js";
import { run as runWorkflow } from "./workflow.js";

const CONCURRENCY = 8;
const MiB = 1024 * 1024;
/** Single-row calls here vary most from run to run: the best of three runs of each side. */
const BEST_OF_THREE = { concurrency: CONCURRENCY, rounds: 3 };

async function stateAndKv(context: BenchContext): Promise<void> {
  const url = await context.freshDatabase();
  const store = await openStore({ connection: url, pool: { max: CONCURRENCY } });
  const pool = new pg.Pool({ connectionString: url, max: CONCURRENCY });
  const q = `"${store.schema}"`;
  const writes = Math.round(3000 * context.scale);
  const reads = Math.round(12000 * context.scale);
  const payload = randomBytes(256);
  const ids = 1000;
  // Each operation writes a new version of one of `ids` actors; versions only grow, as in real use.
  let rawVersion = 0;
  let ourVersion = 0;
  const rows: Row[] = [];
  try {
    rows.push(
      await sideBySide(
        "durableState.write",
        writes,
        (i) =>
          pool.query(
            `insert into ${q}.durable_state as s (persistence_id, version, payload, manifest, "timestamp", shard)
             values ($1, $2, $3, $4, now(), 0)
             on conflict (persistence_id) do update
               set version = excluded.version, payload = excluded.payload, manifest = excluded.manifest,
                   "timestamp" = excluded."timestamp"
               where s.version < excluded.version`,
            [`raw-${i % ids}`, ++rawVersion, payload, "Bench"],
          ),
        (i) =>
          store.durableState.write({
            persistenceId: `ours-${i % ids}`,
            version: ++ourVersion,
            payload,
            manifest: "Bench",
          }),
        BEST_OF_THREE,
      ),
    );
    rows.push(
      await sideBySide(
        "durableState.latest",
        reads,
        (i) =>
          pool.query(
            `select persistence_id, version, payload, manifest, "timestamp", shard
             from ${q}.durable_state where persistence_id = $1`,
            [`raw-${i % ids}`],
          ),
        (i) => store.durableState.latest(`ours-${i % ids}`),
        BEST_OF_THREE,
      ),
    );
    rows.push(
      await sideBySide(
        "kv.set",
        writes,
        (i) =>
          pool.query(
            `insert into ${q}.kv as kv (prefix, key, value, version) values ($1, $2, $3, 1)
             on conflict (prefix, key) do update
               set value = excluded.value, version = kv.version + 1, expires_at = null, updated_at = now()
             returning version`,
            ["raw", `k${i % ids}`, payload],
          ),
        (i) => store.kv.set("ours", `k${i % ids}`, payload),
        BEST_OF_THREE,
      ),
    );
    rows.push(
      await sideBySide(
        "kv.get",
        reads,
        (i) =>
          pool.query(
            `select prefix, key, value, version, expires_at, updated_at from ${q}.kv
             where prefix = $1 and key = $2 and (expires_at is null or expires_at > now())`,
            ["raw", `k${i % ids}`],
          ),
        (i) => store.kv.get("ours", `k${i % ids}`),
        BEST_OF_THREE,
      ),
    );
  } finally {
    await pool.end();
    await store.close();
  }
  table(`durableState and kv, ${CONCURRENCY} in flight, durable commits`, rows);
}

/** Runs `fn`, sampling this process's resident memory meanwhile; returns seconds and the peak in MiB. */
async function measured(fn: () => Promise<unknown>): Promise<{ seconds: number; peakMiB: number }> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const started = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { seconds: (performance.now() - started) / 1000, peakMiB: peak / MiB };
}

/** `size` bytes as a stream of 64 KiB pieces, made as it is read (never all in memory). */
function source(size: number): Readable {
  const piece = randomBytes(64 * 1024);
  let left = size;
  return Readable.from(
    (function* () {
      while (left > 0) {
        const n = Math.min(left, piece.length);
        left -= n;
        yield Buffer.from(piece.subarray(0, n));
      }
    })(),
  );
}

async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream);
}

async function blobRows(store: Store, backend: string, scale: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [label, size, count] of [
    ["1 MiB", MiB, Math.max(5, Math.round(30 * scale))],
    ["100 MiB", 100 * MiB, 1],
  ] as const) {
    const put = await measured(async () => {
      for (let i = 0; i < count; i++) await store.blobs.put(`${label}-${i}`, source(size));
    });
    const get = await measured(async () => {
      for (let i = 0; i < count; i++) await drain(await store.blobs.stream(`${label}-${i}`));
    });
    const total = (size * count) / MiB;
    rows.push({
      backend,
      object: label,
      count,
      "put MiB/s": total / put.seconds,
      "get MiB/s": total / get.seconds,
      "peak RSS put MiB": put.peakMiB,
      "peak RSS get MiB": get.peakMiB,
    });
  }
  return rows;
}

async function blobs(context: BenchContext): Promise<void> {
  const rows: Row[] = [];
  const postgres = await openStore({ connection: await context.freshDatabase() });
  try {
    rows.push(...(await blobRows(postgres, "postgres", context.scale)));
  } finally {
    await postgres.close();
  }
  const directory = mkdtempSync(path.join(tmpdir(), "flowstore-bench-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: "bench" }],
  });
  const { port } = await server.run();
  const backend = s3({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    bucket: "bench",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    forcePathStyle: true,
  });
  const store = await openStore({ connection: await context.freshDatabase(), blobs: backend });
  try {
    rows.push(...(await blobRows(store, "s3 (s3rver)", context.scale)));
  } finally {
    await store.close();
    backend.close();
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  }
  table("blobs: put and get throughput, this process's peak resident memory while running", rows);
  log("s3rver writes to a local disk: the s3 figures measure the client path, not a real S3.");
}

/** The state benchmark: workflow state (bench/workflow.ts), then actor state, kv and blobs. */
export async function run(context: BenchContext): Promise<void> {
  await runWorkflow(context);
  await stateAndKv(context);
  await blobs(context);
}
