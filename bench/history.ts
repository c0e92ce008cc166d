/**
 * npm run bench -- history
 *
 * History that scales, on one server in one run:
 * 1. Seeds a store with 1,000,000 finished runs (BENCH_RUNS) over 10 days of its ranges, each with 5
 *    events, 5 step checkpoints, an event head and a completed-job record: 10 million rows of events
 *    and steps, 13 million in all. Prints the size on disk per run.
 * 2. Times the hot paths (append, step record, executions.get, claim + complete, a history read) on
 *    that store and on one of 1,000 runs, taking turns in blocks of rounds, and prints p50 and p99 of
 *    each with the ratio (goal: within 1.2x).
 * 3. Copies the full database (CREATE DATABASE … TEMPLATE) and prunes the oldest tenth (the first day,
 *    100,000 runs) from each copy: by dropping its range's partitions (`store.prune`), and by the
 *    batched row DELETE (`store.prune({ partitions: false })`, 500 runs a batch, as prune has always
 *    done). Prints seconds, WAL written, the tables' and indexes' size after, and the VACUUM each leaves
 *    to do (goal: the drop at least 50x faster).
 * The same code prunes both copies; only the way it removes the rows differs.
 * 4. Big values out of the row (history/offload.ts): the size per run with values in their rows and
 *    offloaded to the blob store, the reads of those values, and a large state changed by `update`
 *    against `mergeState`.
 * 5. Counts without scans (history/counts.ts): jobs.stats() at a million jobs against the GROUP BY it
 *    replaced, and statusCounts() against countByStatus() on the runs of part 1.
 * BENCH_HISTORY names the parts to run: "scale" (1 to 3), "offload", "counts" (default all three).
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { openStore, type Store } from "../src/index.js";
import type { HistoryRange } from "../src/partitions/index.js";
import { measureCounts } from "./history/counts.js";
import { OPERATIONS, pagesPerRead, round, side } from "./history/latency.js";
import { measureOffload } from "./history/offload.js";
import { dropBreakdown, measureRetention, type RetentionFigures } from "./history/retention.js";
import { HISTORY_ROWS_PER_RUN, runId, seedHistory } from "./history/seed.js";
import { type BenchContext, log, percentiles, type Row, statementCounter, table } from "./lib.js";

const DAYS = 10;
const SCHEMA = "flowstore";
const BLOCK = 100;
const MB = 1024 * 1024;

async function open(url: string): Promise<Store> {
  return openStore({ connection: url, schema: SCHEMA, partitions: { days: 1, aheadDays: DAYS + 1 } });
}

/** The first `DAYS` ranges after the first (legacy) one, which the seeding fills. */
async function seededDays(store: Store): Promise<HistoryRange[]> {
  const days = (await store.listPartitions()).filter((range) => range.startsAt !== null).slice(0, DAYS);
  if (days.length < DAYS) throw new Error(`the store made ${days.length} ranges ahead, not ${DAYS}`);
  return days;
}

async function schemaBytes(store: Store): Promise<number> {
  const { rows } = await store.query<{ bytes: string }>(
    `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint as bytes
       from pg_class c where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'm')`,
    [SCHEMA],
  );
  return Number(rows[0]?.bytes ?? 0);
}

async function copyDatabase(context: BenchContext, from: string): Promise<string> {
  const admin = new pg.Client({ connectionString: context.server.url });
  await admin.connect();
  try {
    const name = `history_copy_${Date.now()}`;
    await admin.query(`create database "${name}" template "${new URL(from).pathname.slice(1)}"`);
    const url = new URL(from);
    url.pathname = `/${name}`;
    return url.toString();
  } finally {
    await admin.end();
  }
}

export async function run(context: BenchContext): Promise<void> {
  const parts = process.env.BENCH_HISTORY ?? "scale,offload,counts";
  // With part 1's million runs at hand, the counts of executions are timed on them too.
  if (parts.includes("scale")) await measureScale(context, parts.includes("counts"));
  else if (parts.includes("counts")) await measureCounts(context);
  if (parts.includes("offload")) await measureOffload(context);
}

/** Parts 1 to 3: a million runs, their hot paths, and retention by drop against DELETE. */
async function measureScale(context: BenchContext, withCounts: boolean): Promise<void> {
  const runs = Math.max(DAYS, Math.round(Number(process.env.BENCH_RUNS ?? 1_000_000) || 1_000_000));
  const perDay = Math.floor(runs / DAYS);
  const rounds = Math.max(BLOCK, Math.round(2_000 * context.scale));
  log(
    `${(perDay * DAYS).toLocaleString("en-US")} finished runs (BENCH_RUNS) over ${DAYS} days of ranges, each with ` +
      `${HISTORY_ROWS_PER_RUN} rows of history (events and steps), an event head and a completed-job record`,
  );

  // 1. The full store, and a small one to hold it against.
  const fullUrl = await context.freshDatabase();
  let full = await open(fullUrl);
  const days = await seededDays(full);
  const seconds = await seedHistory(fullUrl, SCHEMA, days, perDay);
  log(`seeded in ${seconds.toFixed(0)} s`);
  const smallUrl = await context.freshDatabase();
  const small = await open(smallUrl);
  const smallDays = (await seededDays(small)).slice(0, 1);
  await seedHistory(smallUrl, SCHEMA, smallDays, 1_000);
  const bytes = await schemaBytes(full);
  table("Size on disk (tables, indexes and TOAST of the schema)", [
    {
      store: "full",
      runs: perDay * DAYS,
      MB: bytes / MB,
      "bytes per run": bytes / (perDay * DAYS),
    },
  ]);

  // 2. The hot paths, full against small.
  const pick = (list: HistoryRange[], n: number) => () => {
    const day = list[Math.floor(Math.random() * list.length)] as HistoryRange;
    return runId(day.startsAt as Date, Math.floor(Math.random() * n), n);
  };
  const sides = [side(full, pick(days, perDay)), side(small, pick(smallDays, 1_000))];
  log(`\n${rounds} rounds per store, in blocks of ${BLOCK} taking turns; ${BLOCK} warm-up rounds each first`);
  for (const s of sides) for (let i = 0; i < BLOCK; i++) await round(s, i);
  for (const s of sides) for (const op of OPERATIONS) s.times[op].length = 0;
  for (let done = 0; done < rounds; done += BLOCK) {
    for (const s of sides) for (let i = done; i < done + BLOCK; i++) await round(s, i);
  }
  const rows: Row[] = OPERATIONS.map((op) => {
    const big = percentiles(sides[0]?.times[op] ?? []);
    const little = percentiles(sides[1]?.times[op] ?? []);
    return {
      operation: op,
      "p50 1k runs (ms)": little.p50,
      [`p50 ${(perDay * DAYS) / 1e6}M runs (ms)`]: big.p50,
      "p50 ratio": big.p50 / little.p50,
      "p99 1k runs (ms)": little.p99,
      [`p99 ${(perDay * DAYS) / 1e6}M runs (ms)`]: big.p99,
      "p99 ratio": big.p99 / little.p99,
    };
  });
  table(
    "Hot paths at 10 million rows of history against a store of 1,000 runs (goal: ratio within 1.2)",
    rows,
  );
  // The pages behind the history read's ratio: one run's events, on each store, read after the rounds.
  const pages = await Promise.all(sides.map((s) => pagesPerRead(s, SCHEMA, 200)));
  table(
    "Pages a history read touches (200 seeded runs at random, EXPLAIN (ANALYZE, BUFFERS))",
    pages.map((p, i) => ({
      store: i === 0 ? `${(perDay * DAYS).toLocaleString("en-US")} runs` : "1,000 runs",
      "in shared buffers": p.hit,
      "read from the kernel": p.read,
      total: p.hit + p.read,
    })),
  );
  await small.close();
  await context.dropDatabase(smallUrl);
  if (withCounts) await measureCounts(context, full);

  // 3. Retention of the oldest tenth, by drop and by DELETE, each on its own copy.
  await full.close();
  const copyUrl = await copyDatabase(context, fullUrl);
  full = await open(fullUrl);
  const copy = await open(copyUrl);
  const first = days[0] as HistoryRange;
  const cut = new Date(first.endsAt.getTime() + 2 * 60_000);
  // The first range (legacy, before the seeded days) holds nothing: dropped before the timing.
  await full.prune({ finishedBefore: first.startsAt as Date });
  log(
    `\nretention: every run finished before ${cut.toISOString()} (the first seeded day, ${perDay.toLocaleString("en-US")} runs)`,
  );
  const figures: [string, RetentionFigures][] = [];
  const counter = await statementCounter(context);
  let dropped = 0;
  figures.push([
    "drop partitions",
    await measureRetention(
      fullUrl,
      SCHEMA,
      async () => {
        const result = await full.prune({ finishedBefore: cut });
        dropped = result.executions;
        log(
          `  drop: ${result.partitions} range(s), ${result.executions.toLocaleString("en-US")} runs (${result.movedExecutions} moved)`,
        );
      },
      counter,
    ),
  ]);
  let deleted = 0;
  figures.push([
    "batched DELETE",
    await measureRetention(copyUrl, SCHEMA, async () => {
      const started = performance.now();
      const result = await copy.prune({
        finishedBefore: cut,
        partitions: false,
        onProgress: (p) => {
          if (p.batches % 50 === 0)
            log(
              `  DELETE: ${p.executions.toLocaleString("en-US")} runs, ${((performance.now() - started) / 1000).toFixed(0)} s`,
            );
        },
      });
      deleted = result.executions;
    }),
  ]);
  if (dropped !== deleted) throw new Error(`the drop removed ${dropped} runs, the DELETE ${deleted}`);
  table(
    `Retention of the oldest tenth (${dropped.toLocaleString("en-US")} runs), the same runs either way`,
    figures.map(([how, f]) => ({
      how,
      seconds: f.seconds,
      "WAL MB": f.walBytes / MB,
      "size before MB": f.sizeBefore / MB,
      "size after MB": f.sizeAfter / MB,
      "VACUUM after (s)": f.vacuumSeconds,
      "size after VACUUM MB": f.sizeAfterVacuum / MB,
    })),
  );
  await counter.close();
  const [drop, del] = figures.map(([, f]) => f) as [RetentionFigures, RetentionFigures];
  const steps = dropBreakdown(drop.statements ?? { total: 0, ms: 0, statements: [] });
  const server = steps.reduce((sum, step) => sum + step.ms, 0);
  table("Where the drop's time goes (the server's time per step, from pg_stat_statements)", [
    ...steps.map((step) => ({ step: step.step, statements: step.statements, "server ms": step.ms })),
    {
      step: "the rest: round trips, and the commit removing the range's files",
      statements: 0,
      "server ms": drop.seconds * 1000 - server,
    },
  ]);
  log(
    `drop ${drop.seconds.toFixed(2)} s against DELETE ${del.seconds.toFixed(2)} s: ${(del.seconds / drop.seconds).toFixed(0)}x faster (goal 50x), ${(del.walBytes / Math.max(1, drop.walBytes)).toFixed(0)}x less WAL`,
  );
  await full.close();
  await copy.close();
  await context.dropDatabase(fullUrl);
  await context.dropDatabase(copyUrl);
}
