/**
 * A command on the embedded store starts with what it needs and no more: node-postgres, the
 * OpenTelemetry API (when no SDK is registered) and the dashboard stay unloaded, since each costs
 * its start on every run. Shown by running the commands with those packages hidden (a process where
 * they cannot be resolved): they work as ever.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, expect, it } from "vitest";
import { CLI_MAIN } from "../support/cli-run.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const HIDE = pathToFileURL(path.resolve("test/fixtures/hide-packages.mjs")).href;
const work = mkdtempSync(path.join(tmpdir(), "flowstore-start-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function flowstore(
  args: string[],
  hide?: string,
  extra: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FLOWSTORE_DATA_DIR: path.join(work, ".flowstore"),
    ...extra,
  };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST"]) delete env[name];
  if (hide) env.HIDE_PACKAGES = hide;
  const preload = hide ? ["--import", HIDE] : [];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, ...preload, CLI_MAIN, ...args],
      { cwd: work, env, encoding: "utf8" },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

it("reads the embedded store without node-postgres or the OpenTelemetry API", {
  timeout: 120_000,
}, async () => {
  expect(await flowstore(["migrate"])).toMatchObject({ code: 0, stderr: "" });
  const hidden = "pg,@opentelemetry/";
  const status = await flowstore(["status", "--json"], hidden);
  expect(status).toMatchObject({ code: 0, stderr: "" });
  expect(JSON.parse(status.stdout)).toMatchObject({ driver: "pglite", pendingMigrations: 0 });
  expect(await flowstore(["jobs", "stats"], hidden)).toMatchObject({ code: 0, stderr: "" });
  expect(await flowstore(["kv", "set", "settings", "theme", "dark"], hidden)).toMatchObject({ code: 0 });
  // Where the time went, when asked.
  const timed = await flowstore(["jobs", "stats"], undefined, { FLOWSTORE_DEBUG_TIMING: "1" });
  expect(timed.stderr).toMatch(
    /^flowstore timing: start and modules \d+ ms, open \d+ ms, command \d+ ms, close \d+ ms; total \d+ ms\n$/,
  );
  // A server needs node-postgres: hidden, it is missing, said as such.
  const server = await flowstore(["status", "--url", "postgres://127.0.0.1:1/none"], hidden);
  expect(server.code).not.toBe(0);
  expect(server.stderr).toMatch(/pg/);
});
