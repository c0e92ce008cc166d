/**
 * `flowstore migrate` tells how it goes: a line per migration on stderr (`applying 0012_events_signals
 * ... 35 ms`) on a terminal or with --verbose, nothing there otherwise, and under --json only the
 * result, with the migrations applied. Against this file's database, a fresh schema per run.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_MAIN, runCli } from "../support/cli-run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";

const MIGRATIONS = readdirSync("src/migrations/sql").filter((file) => file.endsWith(".sql")).length;
const LINE = /^applying \d{4}_[a-z0-9_]+ \.\.\. \d+ ms$/;
const work = mkdtempSync(path.join(tmpdir(), "flowstore-migrate-"));
let url: string;

beforeAll(async () => {
  url = await fileDatabaseUrl();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const flowstore = (args: string[]) => runCli(["--url", url, ...args], { cwd: work });

/** `script` (util-linux) runs a command on a pseudo-terminal: what a person at a terminal sees. */
function hasScript(): boolean {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("flowstore migrate", () => {
  it("prints each migration with its time under --verbose, then nothing more once up to date", async () => {
    const schema = uniqueSchema("progress");
    const first = await flowstore(["migrate", "--schema", schema, "--verbose"]);
    expect(first.code).toBe(0);
    const lines = first.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(MIGRATIONS);
    for (const line of lines) expect(line).toMatch(LINE);
    expect(lines[0]).toMatch(/^applying 0001_bookkeeping \.\.\. /);
    expect(first.stdout).toMatch(
      new RegExp(`^applied ${MIGRATIONS} migration\\(s\\) to schema ${schema}: 0001_`),
    );

    const again = await flowstore(["migrate", "--schema", schema, "--verbose"]);
    expect(again).toMatchObject({ code: 0, stderr: "" });
    expect(again.stdout).toBe(`schema ${schema} is up to date (version ${MIGRATIONS})\n`);
  });

  it("prints nothing on stderr when not asked and not on a terminal", async () => {
    const quiet = await flowstore(["migrate", "--schema", uniqueSchema("quiet")]);
    expect(quiet).toMatchObject({ code: 0, stderr: "" });
  });

  it("prints only the result under --json, with the migrations it applied", async () => {
    const schema = uniqueSchema("json");
    const run = await flowstore(["migrate", "--schema", schema, "--json", "--verbose"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ schema, version: MIGRATIONS });
    expect(result.applied).toHaveLength(MIGRATIONS);
    expect(result.applied[0]).toBe("0001_bookkeeping");
  });

  it.skipIf(!hasScript() && !process.env.CI)(
    "prints the progress on a terminal without being asked",
    async () => {
      const schema = uniqueSchema("tty");
      const command = [process.execPath, CLI_MAIN, "--url", url, "--schema", schema, "migrate"]
        .map((arg) => `'${arg.replaceAll("'", "'\\''")}'`)
        .join(" ");
      const output = await new Promise<string>((resolve, reject) =>
        execFile(
          "script",
          ["-qec", command, "/dev/null"],
          { cwd: work, encoding: "utf8" },
          (error, stdout) => (error ? reject(error) : resolve(stdout)),
        ),
      );
      const lines = output.replaceAll("\r", "").trimEnd().split("\n");
      expect(lines.filter((line) => LINE.test(line))).toHaveLength(MIGRATIONS);
      expect(lines.at(-1)).toMatch(new RegExp(`^applied ${MIGRATIONS} migration\\(s\\) to schema ${schema}`));
    },
  );
});
