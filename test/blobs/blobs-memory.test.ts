/**
 * A 1 GiB blob through the postgres backend, in a child process so its peak resident memory is its
 * own. What is measured is the growth over the child's resident memory once its store is open (about
 * 120 MiB of Node, the tsx loader and the drivers, the same for any blob size). Slow (minutes with durable commits), so it runs only with FLOWSTORE_SLOW_TESTS=1; otherwise the
 * same check runs on 64 MiB, which still proves memory does not grow with the blob.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";

const FIXTURE = path.resolve("test/fixtures/blob-memory.ts");
const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;
const SLOW = process.env.FLOWSTORE_SLOW_TESTS === "1";
const MIB = SLOW ? 1024 : 64;
const RSS_LIMIT_MIB = 100;

function runChild(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, FIXTURE, ...args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (data: Buffer) => {
      out += data.toString();
    });
    child.on("error", reject);
    child.on("exit", () => {
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as Record<string, unknown>);
      } catch {
        reject(new Error(`the child printed no result: ${out}`));
      }
    });
  });
}

describe("blob memory (postgres backend, real server)", () => {
  it(
    `streams a ${MIB} MiB blob in and out with under ${RSS_LIMIT_MIB} MiB of resident memory`,
    async () => {
      const result = await runChild([await fileDatabaseUrl(), uniqueSchema("mem"), String(MIB)]);
      expect(result).toMatchObject({ ok: true, size: MIB * 1024 * 1024, sha256Matches: true });
      expect((result.maxRssMiB as number) - (result.baselineRssMiB as number)).toBeLessThan(RSS_LIMIT_MIB);
    },
    SLOW ? 900_000 : 120_000,
  );
});
