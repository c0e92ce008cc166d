/**
 * npm run bench -- firststart
 *
 * What the embedded store's first start costs against a later one: each start in a process of its own
 * (time and CPU of the open, peak resident memory), the cache of templates in a directory of the run's
 * (XDG_CACHE_HOME), so the machine's own is neither used nor filled:
 *   machine's first      openStore on a new directory with no template anywhere: makes the template
 *                        (initdb and migrations, once per machine) into the cache, then starts from it
 *   first open           openStore on a new directory, the template in the cache
 *   later open           openStore on that directory again
 *   createTestStore()    an in-memory store, from the template
 *   no template, first   PGlite makes the database (initdb) and openStore migrates it, as every first
 *                        start did before templates
 *   no template, memory  the same in memory, as createTestStore() did
 * Ratios are each row's median over the later open's. The server the runner starts is not used.
 * The stores are made in .bench-data/ of the working copy, on the disk an application's ./.flowstore
 * is on, rather than in the temporary directory, which may be a tmpfs or (on some virtual machines) a
 * directory where creating a file costs many times what it does elsewhere on the same disk; or in
 * BENCH_FIRSTSTART_DIR, to measure another file system (see fileCreateMs for why it matters).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { benchRounds, CHILD_IMPORTS, log, median, table } from "./lib.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CHILD = path.join(ROOT, "bench/firststart/child.ts");

type Figures = Record<string, number>;

async function start(cache: string, ...args: string[]): Promise<Figures> {
  // The previous start's writes go to disk first: left to the kernel's writeback, they slow whichever
  // start comes next, and by as much as the start itself takes.
  await promisify(execFile)("sync");
  // The store would otherwise follow a DATABASE_URL or FLOWSTORE_DATA_DIR of the shell's.
  const { DATABASE_URL: _url, FLOWSTORE_DATA_DIR: _dir, ...env } = process.env;
  const { stdout } = await promisify(execFile)(process.execPath, [...CHILD_IMPORTS, CHILD, ...args], {
    env: { ...env, XDG_CACHE_HOME: cache },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) as string) as Figures;
}

/**
 * What creating a file costs in `dir` now, in ms: a first start creates the ~600 files of a data
 * directory. The probe's files stay until the run ends: on ext4 without a journal (this machine's root
 * file system), an inode freed less than about 30 s before is skipped when a new file is made, each
 * one looked up again for every file created in its block group, so removing the probe here would make
 * the first open that follows pay for it (measured: 0.07 ms a file before 2,000 files nearby were
 * removed, 0.34 ms just after).
 */
function fileCreateMs(dir: string): number {
  const probe = mkdtempSync(path.join(dir, "create-probe-"));
  const page = Buffer.alloc(8192, 1);
  const count = 200;
  const started = performance.now();
  for (let i = 0; i < count; i++) writeFileSync(path.join(probe, String(i)), page);
  return (performance.now() - started) / count;
}

export async function run(): Promise<void> {
  const rounds = benchRounds(1, 3);
  const parent = process.env.BENCH_FIRSTSTART_DIR || path.join(ROOT, ".bench-data");
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(path.join(parent, "firststart-"));
  log(`stores made in ${work} (BENCH_FIRSTSTART_DIR)`);
  const cache = path.join(work, "cache");
  const results = new Map<string, Figures[]>();
  const creates: number[] = [];
  const record = (name: string, figures: Figures) => {
    results.set(name, [...(results.get(name) ?? []), figures]);
    log(
      `  ${name.padEnd(20)} ${Math.round(figures["open ms"] ?? 0)} ms, ${Math.round(figures["peak MB"] ?? 0)} MB`,
    );
  };
  try {
    log(`${rounds} rounds (BENCH_ROUNDS); each start in a process of its own`);
    record("machine's first", await start(cache, "open", path.join(work, "machine")));
    for (let round = 0; round < rounds; round++) {
      log(`\nround ${round + 1} of ${rounds}`);
      const dir = path.join(work, `store-${round}`);
      const createMs = fileCreateMs(work);
      creates.push(createMs);
      log(`  creating a file here costs ${createMs.toFixed(3)} ms now`);
      record("first open", await start(cache, "open", dir));
      record("later open", await start(cache, "open", dir));
      record("createTestStore()", await start(cache, "test-store"));
      record("no template, first", await start(cache, "no-template", path.join(work, `plain-${round}`)));
      record("no template, memory", await start(cache, "no-template", "memory"));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const medianOf = (name: string, figure: string) =>
    median((results.get(name) ?? []).map((figures) => figures[figure] ?? Number.NaN));
  table(
    "median of rounds, and as a share of a later open",
    [...results.keys()].map((name) => ({
      start: name,
      "open ms": medianOf(name, "open ms"),
      "time ratio": medianOf(name, "open ms") / medianOf("later open", "open ms"),
      "open cpu ms": medianOf(name, "open cpu ms"),
      "process ms": medianOf(name, "process ms"),
      "peak MB": medianOf(name, "peak MB"),
      "memory ratio": medianOf(name, "peak MB") / medianOf("later open", "peak MB"),
    })),
  );
  log(
    `\ncreating a file in the run's directory cost ${creates.map((ms) => ms.toFixed(3)).join(", ")} ms ` +
      "before each round's first open (a first open creates the ~600 files of a data directory)",
  );
}
