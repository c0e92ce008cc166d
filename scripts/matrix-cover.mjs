/**
 * Which test files a run of the version matrix takes (scripts/test-matrix.mjs): few enough to keep CI
 * short, enough that every statement on the store's tables the whole suite sent in the last `npm test`
 * runs on the run's version too. A run's point is the statements: whether each parses, plans and runs
 * on that major as on the one npm test used. A file whose every statement other files the run takes
 * send as well adds time and no statement, so the run leaves it out.
 *
 * The files are picked greedily, cheapest per statement not yet covered first (a file's time is its
 * last duration in vitest's results cache, which npm test has just written), until none is left, and
 * then any file the later ones made redundant is dropped: the usual approximation of the smallest set
 * cover, within a small factor of the best. What the run's
 * check then asks (unprovenStatements) is what it always asked: that every statement the files taken
 * sent in npm test ran on its server, which is now every statement of every file it could take.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { byFileName, leftOutOf, MATRIX_LEFT_OUT, statementKey, touchesStoreTables } from "./matrix-plan.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Files npm test skips on the Node.js it runs on, so that no statement of theirs is on record to
 * cover: a run on a Node.js line that runs them takes them whole.
 */
export const SKIPPED_IN_NPM_TEST = [
  { glob: "test/adapters/mastra/**", node: 22, why: "@mastra/core needs Node.js 22.13 or newer" },
];

/** A file with no duration on record counts as this many seconds (a typical file's). */
const UNKNOWN_SECONDS = 2;

/**
 * The smallest-cost files whose statements cover those of every candidate: `byFile` maps a file to the
 * statements it sent (generic texts), `seconds` a file to its duration, `always` names files taken
 * whatever they send. Returns the files in the order picked, and the statements covered.
 */
export function statementCover(byFile, seconds, candidates, always = []) {
  const statementsOf = new Map(
    candidates.map((file) => [
      file,
      new Set((byFile[file] ?? []).filter(touchesStoreTables).map(statementKey)),
    ]),
  );
  const left = new Set([...statementsOf.values()].flatMap((set) => [...set]));
  const total = left.size;
  const taken = [];
  const take = (file) => {
    taken.push(file);
    for (const statement of statementsOf.get(file) ?? []) left.delete(statement);
  };
  for (const file of always) if (candidates.includes(file)) take(file);
  const costOf = (file) => Math.max(seconds.get(file) ?? UNKNOWN_SECONDS, 0.1);
  while (left.size > 0) {
    let best;
    let bestScore = 0;
    for (const [file, statements] of statementsOf) {
      if (taken.includes(file)) continue;
      let added = 0;
      for (const statement of statements) if (left.has(statement)) added++;
      const score = added / costOf(file);
      if (score > bestScore) {
        best = file;
        bestScore = score;
      }
    }
    take(best);
  }
  // A file picked early may have become redundant with those picked after it: the dearest go first.
  const counts = new Map();
  for (const file of taken)
    for (const statement of statementsOf.get(file)) counts.set(statement, (counts.get(statement) ?? 0) + 1);
  const dearestFirst = taken.filter((file) => !always.includes(file)).sort((a, b) => costOf(b) - costOf(a));
  for (const file of dearestFirst) {
    const statements = [...statementsOf.get(file)];
    if (statements.every((statement) => counts.get(statement) > 1)) {
      taken.splice(taken.indexOf(file), 1);
      for (const statement of statements) counts.set(statement, counts.get(statement) - 1);
    }
  }
  return { files: taken, statements: total };
}

/** The suite's test files, relative to the root (test/.../*.test.ts). */
export function testFiles() {
  return readdirSync(path.join(ROOT, "test"), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".test.ts"))
    .map((file) => path.join("test", file))
    .sort();
}

/**
 * What `run` may take (the suite but for what it leaves out) and must (the files left out of the
 * others that name it, as the package test is on each Node.js line, and those npm test skips that its
 * Node.js runs).
 */
export function filesOf(run, files = testFiles()) {
  const candidates = files.filter((file) => !leftOutOf(run).some((left) => matches(file, left.glob)));
  const always = candidates.filter(
    (file) =>
      MATRIX_LEFT_OUT.some((left) => left.except?.includes(run.label) && matches(file, left.glob)) ||
      SKIPPED_IN_NPM_TEST.some((skipped) => Number(run.node) >= skipped.node && matches(file, skipped.glob)),
  );
  return { candidates, always };
}

/** Whether `file` matches `glob`, as MATRIX_LEFT_OUT writes them: `**`, `*` and `{a,b}`. */
export function matches(file, glob) {
  const source = glob
    .replace(/[.+^$()|[\]\\]/g, "\\$&")
    .replace(/\{([^}]*)\}/g, (_, list) => `(?:${list.split(",").join("|")})`)
    .split("**")
    .map((part) => part.replace(/\*/g, "[^/]*"))
    .join(".*");
  return new RegExp(`^${source}$`).test(file);
}

/**
 * The files' last durations, in seconds, from vitest's results cache (node_modules/.vite/vitest, its
 * newest results.json): empty where there is none.
 */
export function lastDurations() {
  const cache = path.join(ROOT, "node_modules", ".vite", "vitest");
  const durations = new Map();
  if (!existsSync(cache)) return durations;
  const newest = readdirSync(cache)
    .map((dir) => path.join(cache, dir, "results.json"))
    .filter((file) => existsSync(file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!newest) return durations;
  for (const [key, result] of JSON.parse(readFileSync(newest, "utf8")).results ?? []) {
    // Keyed "<project>:<path>"; the path is relative to the root.
    const file = key.slice(key.indexOf(":") + 1);
    if (typeof result?.duration === "number") durations.set(file, result.duration / 1000);
  }
  return durations;
}

/**
 * The files `run` takes, from the statements of the last whole npm test (`referenceFile`, by file):
 * undefined when there is no such record (the run then takes every file it may).
 */
export function planRun(run, referenceFile) {
  if (!existsSync(byFileName(referenceFile))) return undefined;
  const byFile = JSON.parse(readFileSync(byFileName(referenceFile), "utf8"));
  const { candidates, always } = filesOf(run);
  const seconds = lastDurations();
  const cover = statementCover(byFile, seconds, candidates, always);
  const sum = (files) => files.reduce((total, file) => total + (seconds.get(file) ?? UNKNOWN_SECONDS), 0);
  return { ...cover, of: candidates.length, seconds: sum(cover.files), allSeconds: sum(candidates) };
}
