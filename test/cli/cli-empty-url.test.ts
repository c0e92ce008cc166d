/**
 * The flowstore command reads an empty DATABASE_URL, or `--url ""`, as no URL, as openStore reads an
 * empty DATABASE_URL: the embedded store, not a server on localhost:5432. An empty FLOWSTORE_DATA_DIR
 * is the default directory, not the working directory itself. Run as JavaScript transpiled from source (test/support/cli-build.ts).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI_MAIN } from "../support/cli-run.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const work = realpathSync(mkdtempSync(path.join(tmpdir(), "flowstore-cli-empty-")));
const dataDir = path.join(work, "data");
// A command that only reads creates no store: both directories are there, empty, as after a mkdir.
mkdirSync(dataDir);
mkdirSync(path.join(work, ".flowstore"));

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** `flowstore status --json` with only `env` configuring where the store is. */
function status(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; json?: { connection: string } }> {
  const base = { ...process.env };
  for (const key of Object.keys(base))
    if (/^(DATABASE_URL|PG|POSTGRES_|FLOWSTORE_)/.test(key)) delete base[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, CLI_MAIN, ...args, "status", "--json"],
      { cwd: work, env: { ...base, ...env }, encoding: "utf8" },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, ...(code === 0 ? { json: JSON.parse(stdout) } : { stderr }) });
      },
    );
  });
}

describe("pglite", () => {
  describe("flowstore with empty settings", () => {
    it("an empty DATABASE_URL is no URL: the embedded store", { timeout: 60_000 }, async () => {
      const run = await status([], { DATABASE_URL: "", FLOWSTORE_DATA_DIR: dataDir });
      expect(run).toMatchObject({ code: 0, json: { connection: `embedded PGlite (${dataDir})` } });
    });

    it('--url "" is no URL: the embedded store', { timeout: 60_000 }, async () => {
      const run = await status(["--url", ""], { FLOWSTORE_DATA_DIR: dataDir });
      expect(run).toMatchObject({ code: 0, json: { connection: `embedded PGlite (${dataDir})` } });
    });

    it("an empty FLOWSTORE_DATA_DIR is the default directory, ./.flowstore", {
      timeout: 60_000,
    }, async () => {
      const run = await status([], { FLOWSTORE_DATA_DIR: "" });
      expect(run).toMatchObject({
        code: 0,
        json: { connection: `embedded PGlite (${path.join(work, ".flowstore")})` },
      });
    });
  });
});
