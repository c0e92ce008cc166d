/**
 * examples/mastra.ts runs as a user runs it (`npx tsx examples/mastra.ts`, flowstore imported by name),
 * on the embedded default in a new directory and on a server through DATABASE_URL, and prints what its
 * comments say: the run suspended, resumed with both parallel steps' amounts, listed, and the thread.
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
import { EMBEDDED_TESTED, fileDatabaseUrl } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { NODE_FLAGS } from "../../support/node-flags.js";

const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;
const PRINTS =
  /^run suspended, waiting for approval of \{"total":45\}\nrun success: \{"total":45,"approvedBy":"ann"\}\norder runs: 1, latest success\nthread: user: Where is my order\? \/ assistant: It was approved and ships today\.\n$/;

function runExample(databaseUrl?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: path.resolve("tsconfig.json") };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR"]) delete env[name];
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, "--import", TSX, path.resolve("examples/mastra.ts")],
    {
      cwd: mkdtempSync(path.join(tmpdir(), "flowstore-mastra-example-")),
      env,
    },
  );
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    out.stderr += chunk.toString();
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, ...out })));
}

describeMastra("examples/mastra.ts", () => {
  it.runIf(EMBEDDED_TESTED)("runs on the embedded default", { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await runExample();
    expect(stderr).toBe("");
    expect(stdout).toMatch(PRINTS);
    expect(code).toBe(0);
  });

  it("runs on a server through DATABASE_URL", { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await runExample(await fileDatabaseUrl());
    expect(stderr).toBe("");
    expect(stdout).toMatch(PRINTS);
    expect(code).toBe(0);
  });
});
