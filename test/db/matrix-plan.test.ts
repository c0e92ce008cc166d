/**
 * The version matrix's plan (scripts/matrix-plan.mjs): statements compare alike whichever version
 * recorded them, and each run leaves out what its reasons say. No database.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { filesOf, matches, statementCover } from "../../scripts/matrix-cover.mjs";
import {
  byFileName,
  genericStatement,
  leftOutOf,
  MATRIX,
  MATRIX_LEFT_OUT,
  touchesStoreTables,
  unprovenStatements,
} from "../../scripts/matrix-plan.mjs";

/** The paths a left-out glob names: `{a,b}` expanded, and a folder for `dir/**`. */
function namedPaths(glob: string): string[] {
  const braces = /\{([^}]*)\}/.exec(glob);
  if (braces) {
    return braces[1]?.split(",").flatMap((part) => namedPaths(glob.replace(braces[0], part))) ?? [];
  }
  return [glob.replace(/\/\*\*$/, "")];
}

describe("the version matrix's plan", () => {
  it("writes a statement alike as PostgreSQL 14 and 18 record it", () => {
    // 14 records extract's field as a constant; 18 keeps the keyword.
    const on14 = `select (extract($1 from j.run_at) * $2)::bigint from "flowstore".jobs j where j.id = $3`;
    const on18 = `select (extract(epoch from j.run_at) * $1)::bigint from "flowstore".jobs j where j.id = $2`;
    expect(genericStatement(on14)).toBe(genericStatement(on18));
    expect(genericStatement(on18)).toContain("extract($ from j.run_at)");
    // A test's schema, quoted or written unquoted with its process id, is a name like any other.
    expect(genericStatement("select 1 from t_10434_1.items")).toBe(
      genericStatement('select 1 from "s".items'),
    );
    expect(touchesStoreTables(genericStatement(on18))).toBe(true);
    expect(touchesStoreTables(genericStatement('select 1 from "t".orders'))).toBe(false);
  });

  it("takes a statement recorded with other parentheses for the same one, and nothing else", () => {
    // pg_stat_statements keeps the text that ran first of those that parse alike: which is timing.
    const bare = genericStatement(
      `select key from "s".langgraph_store where scope = $1 and (value -> $2) = $3::jsonb`,
    );
    const wrapped = genericStatement(
      `select key from "s".langgraph_store where scope = $1 and ((value -> $2) = $3::jsonb)`,
    );
    const other = genericStatement(`select key from "s".langgraph_store where scope = $1 and (value ? $2)`);
    // A constant condition, bare and in parentheses (which the list rule writes `($...)`).
    const constant = genericStatement(`select key from "s".langgraph_store where scope = $1 and true`);
    const wrappedConstant = genericStatement(
      `select key from "s".langgraph_store where scope = $1 and (false)`,
    );
    const dir = mkdtempSync(path.join(tmpdir(), "matrix-plan-"));
    const reference = path.join(dir, "npm-test.txt");
    writeFileSync(byFileName(reference), JSON.stringify({ "test/a.test.ts": [bare, other, constant] }));
    const run = path.join(dir, "run.txt");
    writeFileSync(run, `${wrapped}\n${wrappedConstant}\n`);
    expect(unprovenStatements(reference, run, ["test/a.test.ts"])).toEqual({ unrun: [other], leftOut: [] });
  });

  it("leaves out each file for a reason, and takes the package test on every other Node.js line", () => {
    for (const left of MATRIX_LEFT_OUT) {
      expect(["elsewhere", "covered"]).toContain(left.reason);
      expect(left.why.length).toBeGreaterThan(20);
      // A name that matches no file would leave out nothing while saying it does.
      for (const name of namedPaths(left.glob)) expect(existsSync(name), name).toBe(true);
    }
    for (const run of MATRIX) {
      const leavesOutPackageTest = leftOutOf(run).some((left) => left.glob.includes("store/package"));
      expect(leavesOutPackageTest, run.label).toBe(run.node === undefined);
    }
  });

  it("takes the files that send every statement at the least time, and those a run must take", () => {
    const on = (table: string) => `select * from "?".${table} where id = $`;
    const byFile = {
      "test/big.test.ts": [on("jobs"), on("kv"), on("timers")],
      "test/jobs.test.ts": [on("jobs")],
      "test/kv.test.ts": [on("kv"), 'select * from "?".orders'],
      "test/timers.test.ts": [on("timers"), on("jobs")],
      "test/none.test.ts": ["select 1"],
    };
    const files = Object.keys(byFile);
    // The big file is slower than the two that send its statements between them.
    const slow = new Map([
      ["test/big.test.ts", 30],
      ["test/jobs.test.ts", 1],
      ["test/kv.test.ts", 2],
      ["test/timers.test.ts", 3],
    ]);
    expect(statementCover(byFile, slow, files)).toEqual({
      files: ["test/kv.test.ts", "test/timers.test.ts"],
      statements: 3,
    });
    // Fast, it alone sends them all; a file a run must take comes first whatever it sends.
    const fast = new Map([...slow, ["test/big.test.ts", 1]]);
    expect(statementCover(byFile, fast, files, ["test/none.test.ts"]).files).toEqual([
      "test/none.test.ts",
      "test/big.test.ts",
    ]);
    // A statement on the store's tables that no file sent is none to cover.
    expect(statementCover(byFile, slow, ["test/none.test.ts"])).toEqual({ files: [], statements: 0 });
  });

  it("offers a run every file but those it leaves out, and makes it take those its Node.js line needs", () => {
    expect(matches("test/cli/cli.test.ts", "test/{cli/cli,db/outage}.test.ts")).toBe(true);
    expect(matches("test/cli/cli-status.test.ts", "test/{cli/cli,db/outage}.test.ts")).toBe(false);
    expect(matches("test/testing/deep/x.test.ts", "test/testing/**")).toBe(true);
    const mastra = "test/adapters/mastra/mastra-workflows.test.ts";
    const files = [mastra, "test/store/package.test.ts", "test/testing/x.test.ts", "test/kv/kv.test.ts"];
    for (const run of MATRIX) {
      const { candidates, always } = filesOf(run, files);
      // The runs on Node.js 22 and later take the package test, and Mastra's, which npm test skips.
      const newer = run.node === undefined ? [] : [mastra, "test/store/package.test.ts"];
      expect(candidates, run.label).toEqual([mastra, ...newer.slice(1), "test/kv/kv.test.ts"]);
      expect(always, run.label).toEqual(newer);
    }
  });
});
