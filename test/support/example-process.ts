/**
 * Runs an example as a user runs it (`npx tsx examples/<file>`, flowstore imported by name), in a new
 * directory: on the embedded default, or on the server `databaseUrl` names through DATABASE_URL.
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
import { EMBEDDED_TESTED, fileDatabaseUrl } from "./harness.js";
import { NODE_FLAGS } from "./node-flags.js";

const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;

export function runExampleFile(
  file: string,
  databaseUrl?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: path.resolve("tsconfig.json") };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR"]) delete env[name];
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  const child = spawn(process.execPath, [...NODE_FLAGS, "--import", TSX, path.resolve("examples", file)], {
    cwd: mkdtempSync(path.join(tmpdir(), `flowstore-example-${path.basename(file, ".ts")}-`)),
    env,
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    out.stderr += chunk.toString();
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, ...out })));
}

/**
 * The two cases of an example's test: it prints `prints` (and nothing on stderr) and exits 0, on the
 * embedded default (where the embedded store is tested) and on the test server through DATABASE_URL.
 */
export function itRunsExample(file: string, prints: RegExp): void {
  it.runIf(EMBEDDED_TESTED)("runs on the embedded default", { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await runExampleFile(file);
    expect(stderr).toBe("");
    expect(stdout).toMatch(prints);
    expect(code).toBe(0);
  });

  it("runs on a server through DATABASE_URL", { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await runExampleFile(file, await fileDatabaseUrl());
    expect(stderr).toBe("");
    expect(stdout).toMatch(prints);
    expect(code).toBe(0);
  });
}
