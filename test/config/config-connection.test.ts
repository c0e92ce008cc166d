/**
 * ConnectionConfig (src/config/connection-config.ts: redaction, URL form, toPgConfig) and the pool
 * options (src/config/pool.ts).
 */
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ConnectionConfig } from "../../src/config/connection-config.js";
import { type ConnectionFields, parseConnectionString } from "../../src/config/connection-string.js";
import { POOL_DEFAULTS, resolvePoolOptions } from "../../src/config/pool.js";
import { tlsOptions } from "../../src/config/tls.js";
import { config, validationError } from "../support/config-fixtures.js";

describe("ConnectionConfig keeps the password out of sight", () => {
  const password = "hunter2-Secret";
  const resolved = config({ host: "db", user: "app", password, database: "wf", sslMode: "require" });

  it("exposes it only through the getter and secrets()", () => {
    expect(resolved.password).toBe(password);
    expect(resolved.secrets()).toEqual([password]);
    expect(config().secrets()).toEqual([]);
    expect(Object.getOwnPropertyDescriptor(ConnectionConfig.prototype, "password")?.get).toBeTypeOf(
      "function",
    );
  });

  it("in String(), JSON, inspect (also nested), Object.keys and spread", () => {
    expect(String(resolved)).toBe("postgres://app:***@db:5432/wf?sslmode=require");
    expect(JSON.stringify(resolved)).not.toContain(password);
    expect(JSON.parse(JSON.stringify(resolved))).toMatchObject({ host: "db", password: "***" });
    expect(inspect(resolved)).not.toContain(password);
    expect(inspect(resolved)).toContain("ConnectionConfig");
    expect(inspect({ outer: { config: resolved } }, { depth: 10 })).not.toContain(password);
    expect(inspect([resolved], { showHidden: true })).not.toContain(password);
    expect(`${resolved}`).not.toContain(password);
    expect(Object.keys(resolved)).not.toContain("password");
    expect(JSON.stringify({ ...resolved })).not.toContain(password);
    expect(Object.values(resolved)).not.toContain(password);
  });

  it("writes a URL that parses back to the same fields", () => {
    const fields: ConnectionFields = {
      host: "db.example.com",
      port: 6543,
      user: "us er@x",
      database: "my/db",
      sslMode: "verify-full",
      sslRootCert: "/etc/ssl/my ca+.pem",
      sslCert: "/c.pem",
      sslKey: "/k.pem",
      applicationName: "my app",
    };
    expect(parseConnectionString(String(config(fields)))).toEqual(fields);
    expect(String(config({ host: "::1" }))).toBe("postgres://postgres@[::1]:5432/postgres?sslmode=prefer");
    const socket = String(config({ host: "/var/run/postgresql", port: 5433, database: "d" }));
    expect(parseConnectionString(socket)).toMatchObject({
      host: "/var/run/postgresql",
      port: 5433,
      database: "d",
    });
  });

  it("withoutTls() keeps everything but sslmode", () => {
    const plain = resolved.withoutTls();
    expect(plain.sslMode).toBe("disable");
    expect(plain.password).toBe(password);
    expect({ ...plain, sslMode: resolved.sslMode }).toEqual({ ...resolved });
    expect(tlsOptions(plain)).toBe(false);
  });

  it("toPgConfig() maps connection and pool options for node-postgres", () => {
    expect(resolved.toPgConfig(resolvePoolOptions())).toEqual({
      host: "db",
      port: 5432,
      user: "app",
      password,
      database: "wf",
      ssl: { rejectUnauthorized: false },
      application_name: "flowstore",
      statement_timeout: false,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
      maxLifetimeSeconds: 0,
      min: 0,
      max: 10,
    });
    const pool = resolvePoolOptions({
      max: 3,
      min: 1,
      maxLifetimeMs: 1_500,
      statementTimeoutMs: 30_000,
      applicationName: "pool-app",
    });
    expect(resolved.toPgConfig(pool)).toMatchObject({
      max: 3,
      min: 1,
      maxLifetimeSeconds: 2,
      statement_timeout: 30_000,
      application_name: "pool-app",
    });
    // A name in the DSN is more specific than the pool-wide one.
    expect(config({ applicationName: "dsn-app" }).toPgConfig(pool).application_name).toBe("dsn-app");
  });
});

describe("resolvePoolOptions", () => {
  it("fills the defaults", () => {
    expect(resolvePoolOptions()).toEqual({
      max: 10,
      min: 0,
      idleTimeoutMs: 10_000,
      maxLifetimeMs: 0,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 0,
      applicationName: "flowstore",
    });
    expect(resolvePoolOptions({})).toEqual(POOL_DEFAULTS);
    expect(Object.isFrozen(POOL_DEFAULTS)).toBe(true);
    expect(resolvePoolOptions({ max: 1, idleTimeoutMs: 0 })).toMatchObject({
      max: 1,
      min: 0,
      idleTimeoutMs: 0,
    });
  });

  it("rejects negative, fractional and non-numeric values, naming the option", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ max: 0 }, "pool.max"],
      [{ max: 2.5 }, "pool.max"],
      [{ min: -1 }, "pool.min"],
      [{ min: 5, max: 4 }, "pool.min"],
      [{ min: 11 }, "pool.min"],
      [{ idleTimeoutMs: -5 }, "pool.idleTimeoutMs"],
      [{ maxLifetimeMs: Number.NaN }, "pool.maxLifetimeMs"],
      [{ connectionTimeoutMs: Number.POSITIVE_INFINITY }, "pool.connectionTimeoutMs"],
      [{ statementTimeoutMs: "100" }, "pool.statementTimeoutMs"],
      [{ applicationName: 42 }, "pool.applicationName"],
      [{ maxConnections: 5 }, "pool.maxConnections"],
    ];
    for (const [options, field] of bad) {
      expect(validationError(() => resolvePoolOptions(options)).field).toBe(field);
    }
  });
});
