/**
 * npm run bench -- queue
 *
 * flowstore's job queue, with its defaults and with graphile-worker's prefetch, against graphile-worker
 * and pg-boss, each configured for throughput as its own documentation recommends, and against the
 * raw-SQL ceiling of a leased queue; all on one server in one
 * run, each on a fresh database. For each: bulk enqueue of N no-op jobs, a drain with concurrency 8 in
 * this process, idle pick-up latency over sequential jobs, and the table + index size left behind.
 */
import { performance } from "node:perf_hooks";
import { makeWorkerUtils, run as runGraphileWorker } from "graphile-worker";
import pg from "pg";
import PgBoss from "pg-boss";
import { openStore } from "../src/index.js";
import {
  type BenchContext,
  benchRounds,
  log,
  median,
  POLL_MARK,
  percentiles,
  type StatementCounter,
  type StatementCounts,
  startCpuCount,
  statementCounter,
  table,
} from "./lib.js";

/** One system's figures from one round. Latency and size are measured in the first round only. */
interface Run {
  enqueue: number;
  drain: number;
  /** CPU time per job drained, in µs: this process's (the system's client side) and the server's. */
  cpu: DrainCpu;
  latency?: { p50: number; p99: number };
  leftBehind?: string;
}

interface System {
  name: string;
  run(url: string, jobs: number, latencySamples: number, cpu: CpuMeter): Promise<Run>;
}

/** Where a drain's time went, per job drained. */
interface DrainCpu {
  /** This process's CPU time, in µs: the system's client side (worker, driver, handlers). */
  node: number;
  /** The server's CPU time, in µs: every PostgreSQL process. */
  server: number;
  /** Statements the server ran in the system's database (the bench's own polls left out). */
  statements: number;
  /** Their execution time on the server, in µs (pg_stat_statements; planning, commits' WAL flush waits not counted). */
  executing: number;
  /** The statements themselves, for the breakdown. */
  counts: StatementCounts;
}

/** Starts counting; the function it resolves to gives what was used since, per job. */
type CpuMeter = () => Promise<(jobs: number) => Promise<DrainCpu>>;

function cpuMeter(context: BenchContext, counter: StatementCounter, url: string): CpuMeter {
  return async () => {
    await counter.reset(url);
    const cpuUsed = await startCpuCount(context);
    return async (jobs) => {
      const used = await cpuUsed();
      const counts = await counter.read(url);
      return {
        node: (used.clientMs * 1000) / jobs,
        server: (used.serverMs * 1000) / jobs,
        statements: counts.total / jobs,
        executing: (counts.ms * 1000) / jobs,
        counts,
      };
    };
  };
}

const CONCURRENCY = 8;

export async function run(context: BenchContext): Promise<void> {
  const jobs = Math.round(50_000 * context.scale);
  const samples = Math.round(1_000 * context.scale);
  const rounds = benchRounds(1);
  log(
    `${jobs} no-op jobs per system, drained with concurrency ${CONCURRENCY}; latency over ${samples} sequential jobs`,
  );
  log(
    `${rounds} rounds (BENCH_ROUNDS), each system on a fresh database every round (dropped after), the order rotating; ` +
      "throughput is the median round, latency and size come from the first round; a warm-up drain of a tenth first, not counted",
  );
  log("configurations:");
  log(
    "  flowstore:       work({ concurrency: 8 }): its defaults (prefetch growing with the backlog up to 1,000;",
  );
  log("                   durable commits, as graphile-worker's and pg-boss's)");
  log(
    "  flowstore, 500:  work({ concurrency: 8, batchSize: 500 }): the same prefetch as graphile-worker's local queue",
  );
  log(
    '  fs relaxed:      the defaults with openStore({ queueCommits: "relaxed" }): claims, completions and start',
  );
  log("                   marks commit without waiting for the WAL flush (compared with raw, relaxed only)");
  log('  fs 500 relaxed:  batchSize 500 with queueCommits: "relaxed"');
  log(
    "  graphile-worker: 0.17, concurrency 8, preset.worker.localQueue.size 500, completeJobBatchDelay 0 (its docs' throughput settings)",
  );
  log(
    "  pg-boss:         10.x, 8 work() subscriptions, batchSize 500, pollingIntervalSeconds 0.5 (its minimum); latency over 100 jobs",
  );
  log(
    "  raw ceiling:     UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT 500) RETURNING + DELETE by id and token, 4 connections",
  );
  log(
    "  raw, relaxed:    the same claim; DELETE … WHERE id = any($1) AND lease_token = any($2); synchronous_commit off,",
  );
  log('                   as flowstore\'s run with queueCommits: "relaxed"');
  log(
    "  every system's drain ends when its last completion has committed (for graphile-worker and pg-boss, polled",
  );
  log("  once their handlers have all returned)");
  log(
    "  CPU per job drained: this process's (the system's client side: worker, driver, handlers) and the server's",
  );
  log("  (every PostgreSQL process), over the drain, the polls for committed completions included");

  const systems: System[] = [
    { name: "flowstore", run: (url, n, latencySamples, cpu) => flowstore(url, n, latencySamples, cpu, {}) },
    {
      name: "flowstore, 500",
      run: (url, n, latencySamples, cpu) => flowstore(url, n, latencySamples, cpu, { batchSize: 500 }),
    },
    {
      name: "fs relaxed",
      run: (url, n, _, cpu) => flowstore(url, n, 0, cpu, { relaxed: true }),
    },
    {
      name: "fs 500 relaxed",
      run: (url, n, _, cpu) => flowstore(url, n, 0, cpu, { batchSize: 500, relaxed: true }),
    },
    { name: "graphile-worker", run: graphile },
    {
      name: "pg-boss",
      run: (url, n, latencySamples, cpu) => pgBoss(url, n, Math.min(latencySamples, 100), cpu),
    },
    { name: "raw SQL ceiling", run: (url, n, _, cpu) => rawCeiling(url, n, false, cpu) },
    { name: "raw, relaxed", run: (url, n, _, cpu) => rawCeiling(url, n, true, cpu) },
  ];
  const runs = new Map<string, Run[]>(systems.map((system) => [system.name, []]));
  const counter = await statementCounter(context);
  /** One drain of `system`, on a fresh database dropped after. */
  const drain = async (system: System, count: number, latencySamples: number): Promise<Run> => {
    const url = await context.freshDatabase();
    const result = await system.run(url, count, latencySamples, cpuMeter(context, counter, url));
    await context.dropDatabase(url);
    return result;
  };
  try {
    // Every system drains a tenth as many jobs once, not counted, before the rounds: the first system to
    // run in this process otherwise paid for compiling the code all of them share (node-postgres), and
    // the first round's first system is always a flowstore one.
    const warmUp = Math.round(jobs / 10);
    log(`\nwarm-up: each system drains ${warmUp.toLocaleString("en-US")} jobs once, not counted`);
    for (const system of systems) await drain(system, warmUp, 0);
    for (let round = 0; round < rounds; round++) {
      log(`\nround ${round + 1} of ${rounds}`);
      for (let k = 0; k < systems.length; k++) {
        const system = systems[(round + k) % systems.length] as System;
        const result = await drain(system, jobs, round === 0 ? samples : 0);
        log(`  ${system.name.padEnd(16)} drain ${Math.round(result.drain).toLocaleString("en-US")} jobs/s`);
        runs.get(system.name)?.push(result);
      }
    }
  } finally {
    await counter.close();
  }

  const summary = systems.map((system) => {
    const list = runs.get(system.name) as Run[];
    const drains = list.map((r) => r.drain);
    const first = list[0] as Run;
    return {
      system: system.name,
      "enqueue jobs/s": median(list.map((r) => r.enqueue)),
      "drain jobs/s": median(drains),
      "drain range": `${Math.round(Math.min(...drains)).toLocaleString("en-US")}–${Math.round(Math.max(...drains)).toLocaleString("en-US")}`,
      "client CPU µs/job": median(list.map((r) => r.cpu.node)),
      "server CPU µs/job": median(list.map((r) => r.cpu.server)),
      "statements/job": median(list.map((r) => r.cpu.statements)),
      "executing µs/job": median(list.map((r) => r.cpu.executing)),
      "p50 ms": first.latency?.p50 ?? Number.NaN,
      "p99 ms": first.latency?.p99 ?? Number.NaN,
      "left behind": first.leftBehind ?? "-",
    };
  });
  table("queue (median of rounds)", summary);
  log(
    "executing: the statements' execution time on the server (pg_stat_statements); the server's CPU beyond it is parsing,",
  );
  log("planning, the protocol, commits and the WAL writer");
  for (const name of ["flowstore", "graphile-worker", "raw SQL ceiling"]) {
    const first = runs.get(name)?.[0];
    if (first) statementBreakdown(name, first.cpu.counts, jobs);
  }

  const drainOf = (name: string) =>
    summary.find((row) => row.system === name)?.["drain jobs/s"] ?? Number.NaN;
  /** The ratio of two systems' drains within each round (each round runs every system once). */
  const roundRatios = (ours: string, theirs: string) =>
    (runs.get(ours) ?? []).map((run, round) => run.drain / (runs.get(theirs)?.[round]?.drain ?? Number.NaN));
  const compare = (label: string, ours: string, against: string, theirs: string, goal: string) => {
    const ratios = roundRatios(ours, theirs);
    return {
      flowstore: label,
      against,
      "their jobs/s": drainOf(theirs),
      ratio: drainOf(ours) / drainOf(theirs),
      "worst round": Math.min(...ratios),
      "best round": Math.max(...ratios),
      goal,
    };
  };
  table("flowstore drain throughput relative to (medians, and the ratio within each round)", [
    compare("defaults", "flowstore", "graphile-worker", "graphile-worker", ">= 1.5 every round"),
    compare("prefetch 500", "flowstore, 500", "graphile-worker", "graphile-worker", "-"),
    compare("defaults", "flowstore", "pg-boss", "pg-boss", ">= 5"),
    compare("defaults", "flowstore", "raw SQL ceiling", "raw SQL ceiling", ">= 0.6"),
    compare(
      "relaxed, defaults",
      "fs relaxed",
      "graphile-worker (durable; for reference)",
      "graphile-worker",
      "-",
    ),
    compare("relaxed, prefetch 500", "fs 500 relaxed", "raw, relaxed", "raw, relaxed", ">= 0.6"),
  ]);
  table("flowstore p50 latency relative to graphile-worker", [
    {
      flowstore: summary[0]?.["p50 ms"] ?? Number.NaN,
      "graphile-worker": summary.find((row) => row.system === "graphile-worker")?.["p50 ms"] ?? Number.NaN,
      goal: "flowstore <= graphile-worker",
    },
  ]);
}

/** A drain's statements (round 1): calls per 1,000 jobs and execution µs per job, the costliest first. */
function statementBreakdown(name: string, counts: StatementCounts, jobs: number): void {
  const rows = [...counts.statements]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 8)
    .map((s) => ({
      statement: s.query.replace(/\s+/g, " ").slice(0, 90),
      "calls/1,000 jobs": (s.calls * 1000) / jobs,
      "executing µs/job": (s.ms * 1000) / jobs,
    }));
  table(`${name}: where the server's execution time went (round 1)`, rows);
}

async function sizeOf(url: string, relations: string[]): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>(
      "select coalesce(sum(pg_total_relation_size(r::regclass)), 0)::bigint as bytes from unnest($1::text[]) r where to_regclass(r) is not null",
      [relations],
    );
    return `${Math.round(Number(rows[0]?.bytes ?? 0) / 1024)} KiB`;
  } finally {
    await client.end();
  }
}

/** Waits until `done()` (polled every ms) and returns the elapsed seconds since `started`. */
async function waitUntil(done: () => boolean, started: number, timeoutMs = 600_000): Promise<number> {
  while (!done()) {
    if (performance.now() - started > timeoutMs) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return (performance.now() - started) / 1000;
}

/**
 * Once every handler has returned: polls until `unfinished` counts no job left, and returns the seconds
 * since `started`, so that a drain is counted when its last completion commits.
 */
async function committed(pool: pg.Pool, unfinished: string, started: number): Promise<number> {
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(unfinished);
    if (rows[0]?.n === 0) return (performance.now() - started) / 1000;
    if (performance.now() - started > 600_000) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Measures enqueue-to-handler-start for `samples` jobs, one at a time, with the worker idle in between;
 * undefined when asked for none.
 */
async function latency(
  samples: number,
  enqueue: () => Promise<unknown>,
  started: { at: number; seen: number },
) {
  if (samples === 0) return undefined;
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2)); // let the worker go idle
    const seenBefore = started.seen;
    const t0 = performance.now();
    await enqueue();
    while (started.seen === seenBefore) await new Promise((resolve) => setImmediate(resolve));
    times.push(started.at - t0);
  }
  return percentiles(times);
}

async function flowstore(
  url: string,
  jobs: number,
  samples: number,
  cpuFrom: CpuMeter,
  settings: { batchSize?: number; relaxed?: boolean },
): Promise<Run> {
  const store = await openStore({
    connection: url,
    pool: { max: 12 },
    queueCommits: settings.relaxed ? "relaxed" : "durable",
  });
  const batch = Array.from({ length: jobs }, (_, i) => ({ queue: "bench", name: "noop", payload: { i } }));
  let t = performance.now();
  for (let i = 0; i < jobs; i += 5_000) await store.jobs.enqueue(batch.slice(i, i + 5_000));
  const enqueue = jobs / ((performance.now() - t) / 1000);

  const probe = { at: 0, seen: 0 };
  let measuring = false;
  const cpuSince = await cpuFrom();
  const worker = store.jobs.work({
    queue: "bench",
    concurrency: CONCURRENCY,
    batchSize: settings.batchSize,
    handler: () => {
      if (measuring) {
        probe.at = performance.now();
        probe.seen++;
      }
    },
  });
  t = performance.now();
  const drainSeconds = await waitUntil(() => worker.counts.completed >= jobs, t);
  const cpu = await cpuSince(jobs);
  const drain = jobs / drainSeconds;
  measuring = true;
  const lat = await latency(samples, () => store.jobs.enqueue({ queue: "bench", name: "ping" }), probe);
  await worker.stop();
  await store.close();
  return { enqueue, drain, cpu, latency: lat, leftBehind: await sizeOf(url, ["flowstore.jobs"]) };
}

async function graphile(url: string, jobs: number, samples: number, cpuFrom: CpuMeter): Promise<Run> {
  // One pool for enqueueing and the worker, as flowstore's store has: neither drain pays for connecting.
  const pgPool = new pg.Pool({ connectionString: url, max: 12 });
  // Errors of idle or connecting clients, as graphile-worker asks of a pool it is given; a drain would
  // fail loudly anyway.
  pgPool.on("error", () => {});
  pgPool.on("connect", (client) => client.on("error", () => {}));
  const utils = await makeWorkerUtils({ pgPool });
  await utils.migrate();
  let t = performance.now();
  for (let i = 0; i < jobs; i += 5_000) {
    const size = Math.min(5_000, jobs - i);
    await utils.addJobs(
      Array.from({ length: size }, (_, k) => ({ identifier: "noop", payload: { i: i + k } })),
    );
  }
  const enqueue = jobs / ((performance.now() - t) / 1000);

  let done = 0;
  const probe = { at: 0, seen: 0 };
  let measuring = false;
  const cpuSince = await cpuFrom();
  t = performance.now();
  const runner = await runGraphileWorker({
    pgPool,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    pollInterval: 2_000,
    logger: new (await import("graphile-worker")).Logger(() => () => {}),
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    taskList: {
      noop: async () => {
        done++;
      },
      ping: async () => {
        if (measuring) {
          probe.at = performance.now();
          probe.seen++;
        }
      },
    },
  });
  await waitUntil(() => done >= jobs, t);
  // Counted, as flowstore's drain is, once the last completion has committed: its jobs are deleted then.
  const drainSeconds = await committed(
    pgPool,
    `select ${POLL_MARK} count(*)::int as n from graphile_worker._private_jobs where task_id = (select id from graphile_worker._private_tasks where identifier = 'noop')`,
    t,
  );
  const cpu = await cpuSince(jobs);
  const drain = jobs / drainSeconds;
  measuring = true;
  const lat = await latency(samples, () => utils.addJob("ping", {}), probe);
  await runner.stop();
  await utils.release();
  await pgPool.end();
  return {
    enqueue,
    drain,
    cpu,
    latency: lat,
    leftBehind: await sizeOf(url, ["graphile_worker._private_jobs", "graphile_worker._private_job_queues"]),
  };
}

async function pgBoss(url: string, jobs: number, samples: number, cpuFrom: CpuMeter): Promise<Run> {
  const boss = new PgBoss({ connectionString: url, max: 12, supervise: false, schedule: false });
  boss.on("error", () => {});
  await boss.start();
  await boss.createQueue("noop");
  await boss.createQueue("ping");
  let t = performance.now();
  for (let i = 0; i < jobs; i += 5_000) {
    const size = Math.min(5_000, jobs - i);
    await boss.insert(Array.from({ length: size }, (_, k) => ({ name: "noop", data: { i: i + k } })));
  }
  const enqueue = jobs / ((performance.now() - t) / 1000);

  let done = 0;
  const cpuSince = await cpuFrom();
  t = performance.now();
  for (let w = 0; w < CONCURRENCY; w++) {
    await boss.work("noop", { batchSize: 500, pollingIntervalSeconds: 0.5 }, async (batch) => {
      done += batch.length;
    });
  }
  await waitUntil(() => done >= jobs, t);
  // Counted once the last completion has committed: completed jobs stay, in state 'completed'.
  const client = new pg.Pool({ connectionString: url, max: 1 });
  const drainSeconds = await committed(
    client,
    `select ${POLL_MARK} count(*)::int as n from pgboss.job where name = 'noop' and state <> 'completed'`,
    t,
  );
  await client.end();
  const cpu = await cpuSince(jobs);
  const drain = jobs / drainSeconds;
  const probe = { at: 0, seen: 0 };
  await boss.work("ping", { batchSize: 1, pollingIntervalSeconds: 0.5 }, async () => {
    probe.at = performance.now();
    probe.seen++;
  });
  const lat = await latency(samples, () => boss.send("ping", {}), probe);
  await boss.stop({ graceful: true, wait: true, timeout: 5_000 });
  return {
    enqueue,
    drain,
    cpu,
    latency: lat,
    leftBehind: await sizeOf(url, ["pgboss.job", "pgboss.archive"]),
  };
}

/**
 * The ceiling: a bare leased queue in raw SQL, no handler, four connections claiming and deleting. Relaxed,
 * it commits as flowstore's claims and completions do with queueCommits: "relaxed" (synchronous_commit off) and deletes with the
 * form flowstore's completions use.
 */
async function rawCeiling(url: string, jobs: number, relaxed: boolean, cpuFrom: CpuMeter): Promise<Run> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    options: relaxed ? "-c synchronous_commit=off" : undefined,
  });
  await pool.query(`create table raw_jobs (
      id bigserial primary key, queue text not null, payload jsonb not null, run_at timestamptz not null default now(),
      lease_token uuid, lease_expires_at timestamptz)`);
  await pool.query("create index raw_jobs_ready on raw_jobs (queue, run_at, id) where lease_token is null");
  let t = performance.now();
  for (let i = 0; i < jobs; i += 5_000) {
    const size = Math.min(5_000, jobs - i);
    await pool.query(
      "insert into raw_jobs (queue, payload) select 'bench', jsonb_build_object('i', g) from generate_series(1, $1) g",
      [size],
    );
  }
  const enqueue = jobs / ((performance.now() - t) / 1000);
  let drained = 0;
  const cpuSince = await cpuFrom();
  t = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (;;) {
        // One lease token per claim, drawn once, as flowstore's claim draws it (a random UUID a row
        // costs the server about a microsecond).
        const { rows } = await pool.query<{ id: string; lease_token: string }>(
          `update raw_jobs set lease_token = (select gen_random_uuid()), lease_expires_at = now() + interval '30 seconds'
            where id in (select id from raw_jobs where queue = 'bench' and lease_token is null and run_at <= now()
                          order by run_at, id limit 500 for update skip locked)
           returning id, lease_token`,
        );
        if (rows.length === 0) return;
        await pool.query(
          relaxed
            ? "delete from raw_jobs where id = any($1::bigint[]) and lease_token = any($2::uuid[])"
            : "delete from raw_jobs j using unnest($1::bigint[], $2::uuid[]) as c(id, token) where j.id = c.id and j.lease_token = c.token",
          [rows.map((r) => r.id), rows.map((r) => r.lease_token)],
        );
        drained += rows.length;
      }
    }),
  );
  const drain = drained / ((performance.now() - t) / 1000);
  const cpu = await cpuSince(drained);
  await pool.end();
  return { enqueue, drain, cpu };
}
