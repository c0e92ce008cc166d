/**
 * The command's small errors say what is wrong in its own words: a number flag given a word names the
 * flag, a retry that retries nothing says why, and an id that is not one is refused as the command's
 * argument, before anything is done. A misspelt flag is named, with the flag it most likely meant,
 * before any required flag it leaves missing; a URL mistyped is answered with the URL it meant.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { runCli } from "../support/cli-run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-args-"));
const schema = uniqueSchema("args");
let url: string;
const flowstore = (args: string[]) => runCli(["--url", url, "--schema", schema, ...args], { cwd: work });

beforeAll(async () => {
  url = await fileDatabaseUrl();
  await (await openStore({ connection: url, schema })).close();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("names the flag whose number is not one", { timeout: 60_000 }, async () => {
  for (const args of [
    ["jobs", "list", "--limit", "abc"],
    ["executions", "list", "--limit", "0"],
    ["kv", "list", "settings", "--limit", "1.5"],
    ["prune", "--older-than", "30d", "--batch-size", "many"],
  ]) {
    const run = await flowstore(args);
    const flag = args.find((a) => a.startsWith("--") && a !== "--older-than") as string;
    expect(run.code, args.join(" ")).toBe(1);
    expect(run.stderr, args.join(" ")).toMatch(
      new RegExp(`^error: option '${flag} <n>' argument '.*' is invalid`),
    );
    expect(run.stderr).not.toContain("NaN");
  }
});

it("says why a job was not retried or cancelled, and refuses an id that is not one", {
  timeout: 60_000,
}, async () => {
  const store = await openStore({ connection: url, schema, migrate: false });
  let waiting: string;
  try {
    [waiting] = (await store.jobs.enqueue([{ queue: "args", name: "x" }])) as [string];
  } finally {
    await store.close();
  }
  const missing = "0192f0c4-8a1e-7c3d-9f00-5b6e2d4c1a77";
  const retry = await flowstore(["jobs", "retry", waiting, missing]);
  expect(retry.code).toBe(1);
  expect(retry.stdout).toBe(
    `retried 0 of 2 job(s)\n${waiting}: waiting, not dead (only a dead job is retried)\n${missing}: no such job\n`,
  );
  const json = await flowstore(["jobs", "retry", waiting, "--json"]);
  expect(JSON.parse(json.stdout)).toEqual({
    retried: [],
    notRetried: [{ id: waiting, reason: "waiting, not dead (only a dead job is retried)" }],
  });
  const cancel = await flowstore(["jobs", "cancel", missing]);
  expect(cancel).toMatchObject({ code: 1, stdout: `cancelled 0 of 1 job(s)\n${missing}: no such job\n` });

  for (const command of ["retry", "cancel"]) {
    const bad = await flowstore(["jobs", command, waiting, "not-a-uuid"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `flowstore: ValidationError: "not-a-uuid" is not a job id (a UUID, as flowstore jobs list shows them): nothing was ${command === "retry" ? "retried" : "cancelled"}\n`,
    );
  }
  const after = await openStore({ connection: url, schema, migrate: false });
  try {
    expect((await after.jobs.get(waiting)).status).toBe("waiting");
  } finally {
    await after.close();
  }
});

it("names a misspelt flag, with the one meant, before the required flag it left out", {
  timeout: 60_000,
}, async () => {
  const id = "0192f0c4-8a1e-7c3d-9f00-5b6e2d4c1a77";
  const fork = await flowstore(["executions", "fork", id, "--from-stp", "2"]);
  expect(fork.code).toBe(1);
  expect(fork.stderr).toMatch(/^error: unknown option '--from-stp'\n\(Did you mean --from-step\?\)\n/);
  expect(fork.stderr).not.toContain("required option");
  const rewind = await flowstore(["executions", "rewind", id, "--to-stp", "2", "--json"]);
  expect(rewind.code).toBe(1);
  expect(JSON.parse(rewind.stderr)).toEqual({
    error: {
      name: "UsageError",
      code: "USAGE",
      message: "unknown option '--to-stp'\n(Did you mean --to-step?)",
    },
  });
  // With every flag spelt right, the one left out is still named.
  const missing = await flowstore(["executions", "fork", id]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^error: required option '--from-step <n>' not specified\n/);
});

it("answers a URL mistyped with the URL it meant, its password left out", { timeout: 60_000 }, async () => {
  const run = await runCli(["status", "--url", "postgress//app:s3cret@localhost/app"], { cwd: work });
  expect(run.code).toBe(1);
  expect(run.stderr).toContain("did you mean postgres://app:***@localhost/app?");
  expect(run.stderr).not.toContain("s3cret");
});
