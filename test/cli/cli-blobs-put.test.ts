/**
 * `flowstore blobs put` with something it cannot read: one line on stderr, a non-zero exit and no
 * blob. Run as JavaScript transpiled from source (test/support/cli-build.ts), as in cli.test.ts, against this file's database.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliRun as Run, runCli } from "../support/cli-run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-cli-put-"));
const schema = uniqueSchema("cliput");
let url: string;

const flowstore = (args: string[]) =>
  runCli(["--url", url, "--schema", schema, ...args], {
    cwd: work,
    env: { FLOWSTORE_DATA_DIR: path.join(work, ".flowstore") },
  });

async function blobKeys(): Promise<string[]> {
  const ls = await flowstore(["blobs", "ls", "--json"]);
  expect(ls).toMatchObject({ code: 0, stderr: "" });
  return JSON.parse(ls.stdout).items.map((b: { key: string }) => b.key);
}

/** The run failed with exactly one line on stderr that matches, and stored nothing. */
async function expectOneLineFailure(run: Run, pattern: RegExp): Promise<void> {
  expect(run.stderr).toMatch(/^flowstore: [^\n]+\n$/);
  expect(run.stderr).toMatch(pattern);
  expect(run.stdout).toBe("");
  expect(run.code).not.toBe(0);
  expect(await blobKeys()).toEqual([]);
}

beforeAll(async () => {
  url = await fileDatabaseUrl();
  expect(await flowstore(["migrate"])).toMatchObject({ code: 0, stderr: "" });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("flowstore blobs put, when the file cannot be read", () => {
  it("refuses a directory in one line", async () => {
    const dir = path.join(work, "a-directory");
    mkdirSync(dir);
    const run = await flowstore(["blobs", "put", "k/dir", dir]);
    await expectOneLineFailure(run, /a-directory is a directory/);
  });

  it("reports a missing file in one line", async () => {
    const run = await flowstore(["blobs", "put", "k/missing", path.join(work, "nothing-here.bin")]);
    await expectOneLineFailure(run, /cannot read .*nothing-here\.bin: no such file/);
  });

  it("reports a file that cannot be opened (a symlink loop) in one line", async () => {
    const loop = path.join(work, "loop");
    symlinkSync(loop, loop);
    const run = await flowstore(["blobs", "put", "k/loop", loop]);
    await expectOneLineFailure(run, /cannot read .*loop: /);
  });

  it.skipIf(process.getuid?.() === 0)("reports an unreadable file in one line", async () => {
    const secret = path.join(work, "secret.bin");
    writeFileSync(secret, "x");
    chmodSync(secret, 0o000);
    const run = await flowstore(["blobs", "put", "k/secret", secret]);
    await expectOneLineFailure(run, /cannot read .*secret\.bin: permission denied/);
  });

  it("still stores a readable file", async () => {
    const file = path.join(work, "ok.txt");
    writeFileSync(file, "hello");
    const run = await flowstore(["blobs", "put", "k/ok", file, "--json"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(run.stdout)).toMatchObject({ key: "k/ok", size: 5 });
    expect(await blobKeys()).toEqual(["k/ok"]);
  });
});
