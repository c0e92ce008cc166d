#!/usr/bin/env node
/**
 * The version matrix: the test suite's server side (FLOWSTORE_TEST_DRIVERS=postgres; PGlite is the
 * same whatever the server) on each PostgreSQL major the package supports besides the one `npm test`
 * runs, and on each Node.js LTS line besides the one running this script. Each run is one vitest run
 * with its own server; what each needs is installed first (scripts/matrix-tools.mjs).
 *
 * A run takes the files whose statements cover every statement on the store's tables the suite sent
 * in the last whole `npm test` (scripts/matrix-cover.mjs), or, with --whole or without that record,
 * every file it may. Every run records the statements its server ran (test/support/statement-log.ts).
 * Once all have run, each is compared with the statements of that `npm test` run, test file by test
 * file: a statement on the store's tables that a file sent there and never ran here has not been shown
 * to run on that version, and fails the matrix; one that only files the run leaves out sent is listed.
 *
 *   node scripts/test-matrix.mjs [--only <label>,...] [--whole] [--list] [--install]
 *
 * --install installs what the runs need (PostgreSQL's and Node.js's binaries, from npm) and exits, so
 * that can happen while something else runs: it is mostly waiting on the network.
 *
 * Prints a table of the runs (server, Node.js, files, tests passed, failed and skipped, seconds) and
 * exits non-zero if any test failed, any statement went unrun, or any run could not start.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { printHelpAndExit } from "./help.mjs";
import { planRun } from "./matrix-cover.mjs";
import {
  byFileName,
  leftOutOf,
  MATRIX,
  MATRIX_FILES,
  MATRIX_LEFT_OUT,
  STATEMENTS_DIR,
  unprovenStatements,
} from "./matrix-plan.mjs";
import { installNode, installPostgres } from "./matrix-tools.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) printHelpAndExit(import.meta.url);
const onlyAt = args.indexOf("--only");
const only = onlyAt === -1 ? undefined : (args[onlyAt + 1] ?? "").split(",");
const runs = MATRIX.filter((run) => !only || only.includes(run.label));
if (args.includes("--list")) {
  for (const run of MATRIX) process.stdout.write(`${run.label}: ${run.why}\n`);
  for (const left of MATRIX_LEFT_OUT) {
    const except = left.except ? ` (taken by ${left.except.join(", ")})` : "";
    process.stdout.write(`left out, ${left.reason}: ${left.glob}${except}: ${left.why}\n`);
  }
  process.exit(0);
}
if (runs.length === 0) {
  process.stderr.write(`no run named ${only?.join(", ")}: see --list\n`);
  process.exit(2);
}

const say = (line) => process.stdout.write(`test-matrix: ${line}\n`);
/** Installs what `run` needs (once); returns the `node` it runs on. */
function install(run) {
  if (run.postgres !== "system") installPostgres(run.postgres, say);
  return run.node ? installNode(run.node, say) : process.execPath;
}
if (args.includes("--install")) {
  for (const run of runs) install(run);
  say(`installed what ${runs.map((run) => run.label).join(", ")} need`);
  process.exit(0);
}
mkdirSync(STATEMENTS_DIR, { recursive: true });
const reference = path.join(STATEMENTS_DIR, "npm-test.txt");
const results = [];

for (const run of runs) {
  const started = Date.now();
  const node = install(run);
  const statements = path.join(STATEMENTS_DIR, `${run.label}.txt`);
  const report = path.join(STATEMENTS_DIR, `${run.label}.vitest.json`);
  const plan = args.includes("--whole") ? undefined : planRun(run, reference);
  const on = `on PostgreSQL ${run.postgres}, Node.js ${run.node ?? "of npm"}`;
  say(
    plan
      ? `${run.label}: ${plan.files.length} of its ${plan.of} files, which send all ${plan.statements} statements on the store's tables that npm test sent (about ${Math.round(plan.seconds)} s of ${Math.round(plan.allSeconds)} s by their last durations), ${on}`
      : `${run.label}: every file it takes ${on}${args.includes("--whole") ? "" : " (no whole npm test on record to choose by)"}`,
  );
  const vitest = spawnSync(
    node,
    [
      "node_modules/vitest/vitest.mjs",
      "run",
      "--reporter=dot",
      "--reporter=json",
      `--outputFile.json=${report}`,
      ...leftOutOf(run).map((left) => `--exclude=${left.glob}`),
      ...(plan?.files ?? MATRIX_FILES),
    ],
    {
      stdio: "inherit",
      env: {
        ...process.env,
        // npm and anything else a test starts by name run on this run's Node.js too.
        PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}`,
        FLOWSTORE_TEST_POSTGRES: run.postgres,
        FLOWSTORE_TEST_DRIVERS: "postgres",
        FLOWSTORE_TEST_STATEMENTS: statements,
        FLOWSTORE_TEST_LABEL: run.label,
      },
    },
  );
  const counts = existsSync(report) ? JSON.parse(readFileSync(report, "utf8")) : undefined;
  const testFiles = (counts?.testResults ?? []).map((file) => path.relative(ROOT, file.name));
  const { unrun, leftOut } =
    existsSync(byFileName(reference)) && existsSync(statements)
      ? unprovenStatements(reference, statements, testFiles)
      : { unrun: [], leftOut: [] };
  results.push({
    run,
    status: vitest.status ?? vitest.signal,
    counts,
    testFiles,
    unrun,
    leftOut,
    seconds: Math.round((Date.now() - started) / 1000),
    failedTests: (counts?.testResults ?? []).flatMap((file) =>
      file.assertionResults
        .filter((test) => test.status === "failed")
        .map((test) => `${path.relative(ROOT, file.name)} > ${test.fullName}`),
    ),
  });
}

const compared = existsSync(byFileName(reference));
const table = results.map(({ run, counts, testFiles, unrun, seconds }) => ({
  run: run.label,
  postgres: run.postgres,
  node: run.node ?? process.versions.node.split(".")[0],
  files: counts ? testFiles.length : "-",
  passed: counts?.numPassedTests ?? "-",
  failed: counts?.numFailedTests ?? "-",
  skipped: counts ? counts.numPendingTests + counts.numTodoTests : "-",
  unrun: compared ? unrun.length : "no npm test run",
  seconds,
}));
console.table(table);

let failed = false;
for (const { run, status, counts, failedTests, unrun, leftOut } of results) {
  if (!counts) {
    failed = true;
    say(`${run.label}: the run did not finish (exit ${status}, no report written)`);
  }
  if (failedTests.length > 0 || (counts && status !== 0)) {
    failed = true;
    say(
      `${run.label}: ${failedTests.length} failed on PostgreSQL ${run.postgres}, Node.js ${run.node ?? "of npm"}:`,
    );
    for (const name of failedTests) say(`  ${name}`);
  }
  if (unrun.length > 0) {
    failed = true;
    say(
      `${run.label}: ${unrun.length} statement(s) on the store's tables ran in npm test, never on PostgreSQL ${run.postgres}:`,
    );
    for (const statement of unrun.slice(0, 20)) say(`  ${statement.slice(0, 300)}`);
  }
  if (leftOut.length > 0) {
    say(`${run.label}: ${leftOut.length} statement(s) sent only by files this run leaves out (no failure):`);
    for (const statement of leftOut.slice(0, 20)) say(`  ${statement.slice(0, 300)}`);
  }
}
if (!compared)
  say(`no ${path.relative(ROOT, byFileName(reference))}: run npm test first to compare statements`);
process.exit(failed ? 1 : 0);
