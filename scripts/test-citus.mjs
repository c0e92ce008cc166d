#!/usr/bin/env node
/**
 * The conformance suite on a Citus cluster: every test file that runs on each driver (forEachDriver),
 * on a coordinator and two workers started for the run (Debian's PostgreSQL 15 with Citus, built by
 * ../shared/citus/build.sh), each store's schema distributed as docs/scale-out.md says as it opens.
 * The tests that check a single server's planner or statements rather than what a call does are
 * skipped, each with its reason (test/support/citus-differs.ts).
 *
 *   node scripts/test-citus.mjs [file or directory ...]
 *
 * With no argument, every conformance file (about 40 minutes on 2 cores); with some, those among them.
 * A test's timeout is three minutes: three servers on the machine, and every write a distributed one.
 * Exits as vitest does.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { printHelpAndExit } from "./help.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) printHelpAndExit(import.meta.url);

/** The test files under `dir` that run their tests on each driver. */
function conformanceFiles(dir) {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".test.ts"))
    .map((file) => path.join(dir, file))
    .filter((file) => readFileSync(file, "utf8").includes("forEachDriver("))
    .sort();
}

const all = conformanceFiles("test");
const files =
  args.length === 0
    ? all
    : all.filter((file) => args.some((given) => file.startsWith(path.normalize(given))));
if (files.length === 0) {
  process.stderr.write(`no conformance test file under ${args.join(", ")}\n`);
  process.exit(2);
}
process.stdout.write(`${files.length} conformance files on a Citus cluster\n`);
const run = spawnSync(
  process.execPath,
  [path.join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "--testTimeout=180000", ...files],
  {
    stdio: "inherit",
    env: { ...process.env, FLOWSTORE_TEST_POSTGRES: "citus", FLOWSTORE_TEST_DRIVERS: "postgres" },
  },
);
process.exit(run.status ?? 1);
