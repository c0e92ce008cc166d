/**
 * A process killed between an S3 upload and its record. On one connection (PGlite, or a pool of one)
 * a put inside a transaction uploads at once but can record the object only once the transaction
 * ends; a SIGKILL in between leaves an object no table names. collectGarbage() must still find it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type StoreOptions } from "../../src/index.js";
import { fixtureScript } from "../support/fixture-process.js";
import { EMBEDDED_TESTED, fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { type LocalS3, startLocalS3 } from "../support/local-s3.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const FIXTURE = fixtureScript("blob-put-and-hold.ts");
const BUCKET = "flowstore-crash";
let local: LocalS3;
const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  local = await startLocalS3([BUCKET]);
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await local?.close();
});

/** No server in the environment, so a data directory means the embedded store. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR", "S3_BUCKET"]) {
    delete env[name];
  }
  return env;
}

/** Runs the fixture until it has uploaded inside its open transaction, then SIGKILLs it. */
async function uploadThenKill(where: string, schema: string, prefix: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, FIXTURE, where, schema, local.endpoint, BUCKET, prefix],
    {
      env: childEnv(),
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  children.push(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the child exited with ${code} before uploading`)));
  });
  expect(JSON.parse(line)).toEqual({ uploaded: true });
  child.kill("SIGKILL");
  await exited;
}

const objects = (prefix: string) => local.keys(BUCKET, prefix);

/** Kills a put between its upload and its record, then checks a new store removes the object. */
async function orphanIsCollected(connection: Pick<StoreOptions, "connection" | "dataDir">, where: string) {
  const schema = uniqueSchema("crash");
  const prefix = `${schema}/`;
  await uploadThenKill(where, schema, prefix);
  expect(await objects(prefix)).toHaveLength(1);
  const store = await openStore({
    ...connection,
    env: childEnv(),
    schema,
    blobs: local.backend({ bucket: BUCKET, prefix }),
  });
  try {
    expect(await store.blobs.exists("doomed")).toBe(false);
    expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(1);
    expect(await objects(prefix)).toEqual([]);
  } finally {
    await store.close();
  }
}

describe.skipIf(!EMBEDDED_TESTED)("pglite", () => {
  it("an object uploaded in a transaction of a process killed before it could record it is collected", {
    timeout: 60_000,
  }, async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "flowstore-crash-"));
    dirs.push(dataDir);
    await orphanIsCollected({ dataDir }, dataDir);
  });
});

describe("postgres", () => {
  it("the same on a pool of one connection, whose only connection the transaction holds", {
    timeout: 60_000,
  }, async () => {
    const url = await fileDatabaseUrl();
    await orphanIsCollected({ connection: url }, url);
  });
});
