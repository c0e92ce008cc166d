/**
 * `flowstore executions fork|rewind`, run from source as a child process against this file's database
 * on the test server: the JSON and the text they print, a running run refused unless --force, and
 * --read-only refused before anything is opened.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { runCli } from "../support/cli-run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { recordedRun } from "../support/run-records.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-cli-cut-"));
const schema = uniqueSchema("cli_cut");
let url: string;
let store: Store;

function flowstore(args: string[]) {
  return runCli(["--url", url, "--schema", schema, ...args], { cwd: work });
}

beforeAll(async () => {
  url = await fileDatabaseUrl();
  store = await openStore({ connection: url, schema });
});

afterAll(async () => {
  await store.close();
  rmSync(work, { recursive: true, force: true });
});

// Each command is a process of its own: seconds apiece on a loaded machine.
describe("flowstore executions fork|rewind", { timeout: 90_000 }, () => {
  it("forks and rewinds a finished run, as JSON and as text", async () => {
    const id = await recordedRun(store);
    const forked = await flowstore(["executions", "fork", id, "--from-step", "2", "--json"]);
    expect(forked).toMatchObject({ code: 0, stderr: "" });
    const fork = JSON.parse(forked.stdout);
    expect(fork).toMatchObject({ status: "pending", forkOf: id, forkStep: 2 });
    expect((await store.steps.list(fork.id)).map((s) => s.name)).toEqual(["load", "charge"]);

    const version = (await store.executions.get(id)).version;
    const rewound = await flowstore(["executions", "rewind", id, "--to-step", "1"]);
    expect(rewound).toEqual({
      code: 0,
      stdout: `rewound to step 1: execution ${id}, pending, version ${version + 1}\n`,
      stderr: "",
    });
    expect((await store.steps.list(id)).map((s) => s.name)).toEqual(["load"]);
  });

  it("refuses a running run unless --force, and bad arguments, writing nothing", async () => {
    const id = await recordedRun(store, "running");
    const refused = await flowstore(["executions", "rewind", id, "--to-step", "1"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(/^flowstore: ConflictError: execution .* is running.*force/);
    const badStep = await flowstore(["executions", "fork", id, "--from-step", "-1"]);
    expect(badStep.code).not.toBe(0);
    expect(badStep.stderr).toMatch(/from-step/);
    const past = await flowstore(["executions", "fork", id, "--from-step", "9", "--force"]);
    expect(past.code).not.toBe(0);
    expect(past.stderr).toMatch(/ValidationError: fromStep 9 is past/);
    expect((await store.steps.list(id)).length).toBe(4);

    const forced = await flowstore(["executions", "rewind", id, "--to-step", "1", "--force", "--json"]);
    expect(forced).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(forced.stdout)).toMatchObject({ id, status: "pending" });
    expect((await store.steps.list(id)).length).toBe(1);
  });

  it("refuses both with --read-only before opening the store", async () => {
    const id = await recordedRun(store);
    for (const command of [
      ["fork", id, "--from-step", "1"],
      ["rewind", id, "--to-step", "1"],
    ]) {
      const run = await flowstore(["executions", ...command, "--read-only"]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(
        new RegExp(`^flowstore: ReadOnlyError: flowstore executions ${command[0]} changes the store`),
      );
    }
    expect((await store.steps.list(id)).length).toBe(4);
  });
});
