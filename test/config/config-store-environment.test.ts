/**
 * readStoreEnvironment (src/config/store-environment.ts): where to connect, pool size, statement logging
 * and S3 settings from the environment; and resolvePoolOptions (src/config/pool.ts), which lays explicit
 * pool options over the environment's.
 */
import { describe, expect, it } from "vitest";
import { POOL_DEFAULTS, resolvePoolOptions } from "../../src/config/pool.js";
import { readStoreEnvironment } from "../../src/config/store-environment.js";
import { validationError } from "../support/config-fixtures.js";

const S3 = { S3_BUCKET: "bucket" };

describe("readStoreEnvironment", () => {
  it("reads nothing from an empty environment", () => {
    expect(readStoreEnvironment({})).toEqual({ pool: {}, logStatements: undefined, s3: undefined });
    expect(readStoreEnvironment({ DATABASE_MAX_CONNECTIONS: "", S3_ENDPOINT: "", S3_BUCKET: "" })).toEqual({
      pool: {},
      logStatements: undefined,
      s3: undefined,
    });
  });

  it("reads DATABASE_MAX_CONNECTIONS and DATABASE_MIN_CONNECTIONS", () => {
    expect(
      readStoreEnvironment({ DATABASE_MAX_CONNECTIONS: "25", DATABASE_MIN_CONNECTIONS: " 2 " }).pool,
    ).toEqual({ max: 25, min: 2 });
    expect(readStoreEnvironment({ DATABASE_MIN_CONNECTIONS: "0" }).pool).toEqual({ min: 0 });
  });

  it("rejects connection counts that are not integers in range, naming the variable", () => {
    for (const [name, value] of [
      ["DATABASE_MAX_CONNECTIONS", "abc"],
      ["DATABASE_MAX_CONNECTIONS", "0"],
      ["DATABASE_MAX_CONNECTIONS", "10.5"],
      ["DATABASE_MAX_CONNECTIONS", "-3"],
      ["DATABASE_MAX_CONNECTIONS", "1e3"],
      ["DATABASE_MIN_CONNECTIONS", "some"],
      ["DATABASE_MAX_CONNECTIONS", "99999999999999999999"],
    ] as const) {
      const error = validationError(() => readStoreEnvironment({ [name]: value }));
      expect(error.field, `${name}=${value}`).toBe(name);
      expect(error.message).toContain(name);
      expect(error.message).toContain(value);
    }
  });

  it("rejects DATABASE_MIN_CONNECTIONS above DATABASE_MAX_CONNECTIONS", () => {
    const error = validationError(() =>
      readStoreEnvironment({ DATABASE_MAX_CONNECTIONS: "4", DATABASE_MIN_CONNECTIONS: "5" }),
    );
    expect(error.field).toBe("DATABASE_MIN_CONNECTIONS");
    expect(error.message).toContain("DATABASE_MAX_CONNECTIONS (4)");
    expect(error.message).toContain("DATABASE_MIN_CONNECTIONS (5)");
  });

  it("reads ENABLE_STATEMENT_LOGGING, below FLOWSTORE_LOG_STATEMENTS", () => {
    for (const on of ["true", "TRUE", "1", "yes", "on"]) {
      expect(readStoreEnvironment({ ENABLE_STATEMENT_LOGGING: on }).logStatements, on).toBe(true);
    }
    for (const off of ["false", "0", "no", "off"]) {
      expect(readStoreEnvironment({ ENABLE_STATEMENT_LOGGING: off }).logStatements, off).toBe(false);
    }
    expect(
      readStoreEnvironment({ ENABLE_STATEMENT_LOGGING: "true", FLOWSTORE_LOG_STATEMENTS: "0" }).logStatements,
    ).toBe(false);
    expect(readStoreEnvironment({ FLOWSTORE_LOG_STATEMENTS: "1" }).logStatements).toBe(true);
    const error = validationError(() => readStoreEnvironment({ ENABLE_STATEMENT_LOGGING: "sometimes" }));
    expect(error.field).toBe("ENABLE_STATEMENT_LOGGING");
    expect(error.message).toContain("ENABLE_STATEMENT_LOGGING");
  });

  it("reads every S3_* variable", () => {
    expect(
      readStoreEnvironment({
        S3_BUCKET: "b",
        S3_ENDPOINT: "http://127.0.0.1:9000",
        S3_REGION: "eu-west-3",
        S3_ACCESS_KEY_ID: "key-id",
        S3_SECRET_ACCESS_KEY: "s3cret",
        S3_USE_PATH_STYLE: "false",
      }).s3,
    ).toEqual({
      bucket: "b",
      endpoint: "http://127.0.0.1:9000",
      region: "eu-west-3",
      credentials: { accessKeyId: "key-id", secretAccessKey: "s3cret" },
      forcePathStyle: false,
    });
  });

  it("leaves what is unset to the SDK; path-style by default only with an endpoint", () => {
    expect(readStoreEnvironment(S3).s3).toEqual({
      bucket: "bucket",
      endpoint: undefined,
      region: undefined,
      credentials: undefined,
      forcePathStyle: false,
    });
    expect(readStoreEnvironment({ ...S3, S3_ENDPOINT: "https://minio.local" }).s3?.forcePathStyle).toBe(true);
    expect(readStoreEnvironment({ ...S3, S3_USE_PATH_STYLE: "1" }).s3?.forcePathStyle).toBe(true);
  });

  it("falls back to the AWS_* variables of an explicit environment, S3_* first", () => {
    const aws = {
      AWS_REGION: "ap-south-1",
      AWS_DEFAULT_REGION: "ca-central-1",
      AWS_ACCESS_KEY_ID: "aws-id",
      AWS_SECRET_ACCESS_KEY: "aws-secret",
      AWS_SESSION_TOKEN: "aws-token",
      AWS_ENDPOINT_URL: "http://global:1",
      AWS_ENDPOINT_URL_S3: "http://s3-only:2",
    };
    expect(readStoreEnvironment({ ...S3, ...aws }).s3).toEqual({
      bucket: "bucket",
      region: "ap-south-1",
      endpoint: "http://s3-only:2",
      credentials: { accessKeyId: "aws-id", secretAccessKey: "aws-secret", sessionToken: "aws-token" },
      forcePathStyle: true,
    });
    const { AWS_REGION: _, AWS_ENDPOINT_URL_S3: __, ...rest } = aws;
    expect(readStoreEnvironment({ ...S3, ...rest }).s3).toMatchObject({
      region: "ca-central-1",
      endpoint: "http://global:1",
    });
    expect(
      readStoreEnvironment({
        ...S3,
        ...aws,
        S3_REGION: "r",
        S3_ENDPOINT: "http://mine:3",
        S3_ACCESS_KEY_ID: "id",
        S3_SECRET_ACCESS_KEY: "secret",
      }).s3,
    ).toMatchObject({
      region: "r",
      endpoint: "http://mine:3",
      credentials: { accessKeyId: "id", secretAccessKey: "secret" },
    });
    // Half a pair of AWS keys is ignored, as the SDK ignores it.
    expect(readStoreEnvironment({ ...S3, AWS_ACCESS_KEY_ID: "only-id" }).s3?.credentials).toBeUndefined();
  });

  it("leaves the AWS_* variables the SDK reads itself to the SDK when the environment is process.env", () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, {
        S3_BUCKET: "b",
        AWS_ACCESS_KEY_ID: "aws-id",
        AWS_SECRET_ACCESS_KEY: "aws-secret",
        AWS_ENDPOINT_URL: "http://global:1",
        AWS_DEFAULT_REGION: "ca-central-1",
      });
      expect(readStoreEnvironment(process.env).s3).toEqual({
        bucket: "b",
        region: "ca-central-1",
        endpoint: undefined,
        credentials: undefined,
        forcePathStyle: true,
      });
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });

  it("says when S3 settings are given without S3_BUCKET", () => {
    const one = validationError(() => readStoreEnvironment({ S3_ENDPOINT: "http://127.0.0.1:9000" }));
    expect(one.field).toBe("S3_BUCKET");
    expect(one.message).toContain("S3_ENDPOINT is set but S3_BUCKET is not");
    const several = validationError(() =>
      readStoreEnvironment({ S3_REGION: "r", S3_ACCESS_KEY_ID: "id", S3_SECRET_ACCESS_KEY: "hunter2" }),
    );
    expect(several.message).toContain("S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY are set");
    expect(several.message).not.toContain("hunter2");
    // The AWS_* variables serve other AWS clients too: alone they do not ask for S3.
    expect(readStoreEnvironment({ AWS_REGION: "r", AWS_ENDPOINT_URL: "http://x" }).s3).toBeUndefined();
  });

  it("asks for both S3 keys or neither", () => {
    const noSecret = validationError(() => readStoreEnvironment({ ...S3, S3_ACCESS_KEY_ID: "id" }));
    expect(noSecret.field).toBe("S3_SECRET_ACCESS_KEY");
    const noId = validationError(() => readStoreEnvironment({ ...S3, S3_SECRET_ACCESS_KEY: "hunter2" }));
    expect(noId.field).toBe("S3_ACCESS_KEY_ID");
    expect(noId.message).not.toContain("hunter2");
  });

  it("rejects a bad S3_USE_PATH_STYLE or endpoint, naming the variable and hiding secrets", () => {
    const style = validationError(() => readStoreEnvironment({ ...S3, S3_USE_PATH_STYLE: "maybe" }));
    expect(style.field).toBe("S3_USE_PATH_STYLE");
    expect(style.message).toContain('"maybe"');
    const endpoint = validationError(() =>
      readStoreEnvironment({
        ...S3,
        S3_ENDPOINT: "minio:hunter2",
        S3_ACCESS_KEY_ID: "id",
        S3_SECRET_ACCESS_KEY: "hunter2",
      }),
    );
    expect(endpoint.field).toBe("S3_ENDPOINT");
    expect(endpoint.message).not.toContain("hunter2");
    expect(validationError(() => readStoreEnvironment({ ...S3, AWS_ENDPOINT_URL_S3: "ftp://x" })).field).toBe(
      "AWS_ENDPOINT_URL_S3",
    );
  });

  it("with { s3: false } does not read the S3 variables at all", () => {
    expect(
      readStoreEnvironment({ S3_ENDPOINT: "http://x", S3_USE_PATH_STYLE: "maybe" }, { s3: false }).s3,
    ).toBe(undefined);
  });
});

describe("readStoreEnvironment: where to connect", () => {
  it("resolves the server from the connection option over the environment", () => {
    expect(readStoreEnvironment({}).server).toBeUndefined();
    const env = { DATABASE_URL: "postgres://u@env-host/db", FLOWSTORE_DATA_DIR: "/data" };
    expect(readStoreEnvironment(env)).toMatchObject({ server: { host: "env-host" }, dataDir: "/data" });
    expect(readStoreEnvironment(env, { connection: "postgres://u@given-host/db" }).server).toMatchObject({
      host: "given-host",
    });
    expect(readStoreEnvironment({ FLOWSTORE_DATA_DIR: "" }).dataDir).toBeUndefined();
  });

  it("leaves the connection variables unread for a store that connects otherwise", () => {
    const env = { DATABASE_URL: "postgres://h?x=1", PGHOST: "h", PGPORT: "x" };
    expect(() => readStoreEnvironment(env)).toThrow();
    expect(readStoreEnvironment(env, { connection: null }).server).toBeUndefined();
  });
});

describe("resolvePoolOptions with the environment", () => {
  it("is the explicit options over the defaults when the environment sets nothing", () => {
    expect(resolvePoolOptions({ max: 3 }, {})).toEqual({ ...POOL_DEFAULTS, max: 3 });
    expect(resolvePoolOptions(undefined, {})).toEqual(POOL_DEFAULTS);
  });

  it("puts explicit fields above the environment's, field by field", () => {
    expect(resolvePoolOptions({ max: 3, idleTimeoutMs: 1 }, { max: 30, min: 2 })).toEqual({
      ...POOL_DEFAULTS,
      max: 3,
      min: 2,
      idleTimeoutMs: 1,
    });
    expect(resolvePoolOptions({ max: undefined }, { max: 30 })).toEqual({ ...POOL_DEFAULTS, max: 30 });
  });

  it("names the variable when a min and a max from different places clash", () => {
    const envMin = validationError(() => resolvePoolOptions({ max: 3 }, { min: 5 }));
    expect(envMin.field).toBe("DATABASE_MIN_CONNECTIONS");
    expect(envMin.message).toBe("DATABASE_MIN_CONNECTIONS (5) must not exceed pool.max (3)");
    const envMax = validationError(() => resolvePoolOptions({ min: 8 }, { max: 4 }));
    expect(envMax.field).toBe("DATABASE_MAX_CONNECTIONS");
    expect(envMax.message).toBe("pool.min (8) must not exceed DATABASE_MAX_CONNECTIONS (4)");
    expect(validationError(() => resolvePoolOptions(undefined, { min: 11 })).message).toContain(
      "the default max (10)",
    );
    const explicit = validationError(() => resolvePoolOptions({ min: 11 }, {}));
    expect(explicit.message).toBe("pool.min (11) must not exceed pool.max (10)");
    expect(explicit.field).toBe("pool.min");
  });
});
