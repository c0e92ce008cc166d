/**
 * The flowstore command reads the store's environment as openStore does: S3_* send `blobs put` to
 * s3rver, and a half-configured S3 is refused, naming the variable. Run as JavaScript transpiled from source (test/support/cli-build.ts).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_MAIN } from "../support/cli-run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { type LocalS3, startLocalS3 } from "../support/local-s3.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const BUCKET = "cli-env";
const schema = uniqueSchema("clienv");
const work = mkdtempSync(path.join(tmpdir(), "flowstore-cli-env-"));

let local: LocalS3;
let endpoint: string;
let client: S3Client;
let url: string;

beforeAll(async () => {
  url = await fileDatabaseUrl();
  local = await startLocalS3([BUCKET]);
  ({ endpoint, client } = local);
});

afterAll(async () => {
  await local?.close();
  rmSync(work, { recursive: true, force: true });
});

function flowstore(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, FLOWSTORE_DATA_DIR: path.join(work, ".flowstore") };
  for (const key of Object.keys(base)) if (/^(S3_|AWS_|DATABASE_)/.test(key)) delete base[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, CLI_MAIN, "--schema", schema, ...args],
      { cwd: work, env: { ...base, DATABASE_URL: url, ...env }, encoding: "utf8" },
      (error, _stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stderr });
      },
    );
  });
}

describe("flowstore configured from the environment", () => {
  it("puts blobs in the bucket named by S3_BUCKET", async () => {
    const file = path.join(work, "hello.txt");
    writeFileSync(file, "hello from the command");
    const s3Env = {
      S3_ENDPOINT: endpoint,
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY_ID: "S3RVER",
      S3_SECRET_ACCESS_KEY: "S3RVER",
      S3_USE_PATH_STYLE: "true",
    };
    expect(await flowstore(["migrate"], {})).toMatchObject({ code: 0 });
    const put = await flowstore(["blobs", "put", "greeting", file], s3Env);
    expect(put.code, put.stderr).toBe(0);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(listed.Contents ?? []).toHaveLength(1);
  });

  it("refuses S3 settings without S3_BUCKET, naming the variables and no secret", async () => {
    const run = await flowstore(["blobs", "ls"], {
      S3_ENDPOINT: endpoint,
      S3_SECRET_ACCESS_KEY: "hunter2",
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "ValidationError: S3_ENDPOINT, S3_SECRET_ACCESS_KEY are set but S3_BUCKET is not",
    );
    expect(run.stderr).not.toContain("hunter2");
  });
});
