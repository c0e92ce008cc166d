/**
 * openStore configured from `env`: S3_* variables send blobs to s3rver (a real S3 HTTP server on
 * 127.0.0.1), DATABASE_MAX_CONNECTIONS sizes the pool, ENABLE_STATEMENT_LOGGING logs statements, and
 * explicit options win over all of them.
 */
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { s3 } from "../../src/blobs/s3.js";
import { type Logger, openStore, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { type LocalS3, startLocalS3 } from "../support/local-s3.js";

const BUCKETS = ["env-postgres", "env-pglite", "explicit-postgres", "explicit-pglite"];

let local: LocalS3;
let endpoint: string;
let client: S3Client;

beforeAll(async () => {
  local = await startLocalS3(BUCKETS);
  ({ endpoint, client } = local);
});

afterAll(async () => {
  await local?.close();
});

/** The variables of a deployment keeping blobs in `bucket` on s3rver. */
function s3Env(bucket: string): NodeJS.ProcessEnv {
  return {
    S3_ENDPOINT: endpoint,
    S3_REGION: "us-east-1",
    S3_BUCKET: bucket,
    S3_ACCESS_KEY_ID: "S3RVER",
    S3_SECRET_ACCESS_KEY: "S3RVER",
    S3_USE_PATH_STYLE: "true",
  };
}

async function objectKeys(bucket: string): Promise<string[]> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((o) => o.Key ?? "");
}

/** A logger that counts the statements it is given. */
function countingLogger(): Logger & { statements: number } {
  const logger = {
    statements: 0,
    debug(object: Record<string, unknown>) {
      if (typeof object.sql === "string") logger.statements++;
    },
    info() {},
    warn() {},
    error() {},
  };
  return logger;
}

describe("openStore rejects a bad environment before connecting", () => {
  for (const [env, field] of [
    [{ DATABASE_MAX_CONNECTIONS: "abc" }, "DATABASE_MAX_CONNECTIONS"],
    [{ DATABASE_MAX_CONNECTIONS: "2", DATABASE_MIN_CONNECTIONS: "3" }, "DATABASE_MIN_CONNECTIONS"],
    [{ S3_BUCKET: "b", S3_USE_PATH_STYLE: "maybe" }, "S3_USE_PATH_STYLE"],
    [{ S3_ENDPOINT: "http://127.0.0.1:9", S3_SECRET_ACCESS_KEY: "hunter2" }, "S3_BUCKET"],
    [{ ENABLE_STATEMENT_LOGGING: "loud" }, "ENABLE_STATEMENT_LOGGING"],
  ] as const) {
    it(`${Object.keys(env).join(", ")} -> ${field}`, async () => {
      // An unreachable server: validation must fail first, naming the variable.
      const failure = await openStore({
        env: { DATABASE_URL: "postgres://nobody:pw@127.0.0.1:9/none", ...env },
      }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ValidationError);
      expect((failure as ValidationError).field).toBe(field);
      expect((failure as ValidationError).message).toContain(field);
      expect((failure as ValidationError).message).not.toContain("hunter2");
    });
  }
});

forEachDriver((driver) => {
  describe("openStore from the environment", () => {
    it("keeps blobs in the S3 bucket named by S3_BUCKET, and closes the client it made", async () => {
      const bucket = `env-${driver.name}`;
      const store = await driver.open({ env: s3Env(bucket) });
      const data = Buffer.from(`blob through ${driver.name}`);
      await store.blobs.put("from-env", data, { contentType: "text/plain" });
      expect(await store.blobs.head("from-env")).toMatchObject({ backend: "s3", size: data.length });
      expect((await store.blobs.get("from-env")).equals(data)).toBe(true);
      expect(await objectKeys(bucket)).toHaveLength(1);
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.blob_chunks`,
      );
      expect(rows[0]?.n).toBe(0);

      const destroy = vi.spyOn(S3Client.prototype, "destroy");
      try {
        await store.close();
        expect(destroy).toHaveBeenCalledTimes(1);
      } finally {
        destroy.mockRestore();
      }
    });

    it("keeps blobs in PostgreSQL without S3_BUCKET", async () => {
      const store = await driver.open({ env: {} });
      await store.blobs.put("k", Buffer.from("v"));
      expect((await store.blobs.head("k")).backend).toBe("postgres");
    });

    it("lets an explicit blob backend win over S3_BUCKET", async () => {
      const explicit = `explicit-${driver.name}`;
      const backend = s3({
        endpoint,
        region: "us-east-1",
        bucket: explicit,
        credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
        forcePathStyle: true,
      });
      // The environment's S3 settings are not even read: this half of them would be refused.
      const store = await driver.open({ blobs: backend, env: { S3_ENDPOINT: endpoint } });
      await store.blobs.put("k", Buffer.from("v"));
      expect(await objectKeys(explicit)).toHaveLength(1);
      await store.close();
    });

    it("sizes the pool from DATABASE_MAX_CONNECTIONS, below an explicit pool.max", async () => {
      const env = { DATABASE_MAX_CONNECTIONS: "7", DATABASE_MIN_CONNECTIONS: "1" };
      const fromEnv = await driver.open({ env });
      const explicit = await driver.open({ env, pool: { max: 3 } });
      // PGlite is one connection whatever the setting; the pool is ours only on a server.
      expect(fromEnv.driver.maxConnections).toBe(driver.name === "postgres" ? 7 : 1);
      expect(explicit.driver.maxConnections).toBe(driver.name === "postgres" ? 3 : 1);
    });

    it("logs statements with ENABLE_STATEMENT_LOGGING=true, unless logStatements says otherwise", async () => {
      const on = countingLogger();
      const logging = await driver.open({ logger: on, env: { ENABLE_STATEMENT_LOGGING: "true" } });
      const before = on.statements;
      await logging.query("select 1");
      await logging.query("select 2");
      expect(on.statements - before).toBe(2);

      const off = countingLogger();
      const quiet = await driver.open({
        logger: off,
        logStatements: false,
        env: { ENABLE_STATEMENT_LOGGING: "true" },
      });
      await quiet.query("select 1");
      expect(off.statements).toBe(0);

      const unset = countingLogger();
      await (await driver.open({ logger: unset, env: {} })).query("select 1");
      expect(unset.statements).toBe(0);
    });
  });
});
