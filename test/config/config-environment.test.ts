/**
 * resolveConnection (src/config/environment.ts): explicit input, DATABASE_URL, PG* and POSTGRES_*
 * variables, and libpq's defaults.
 */
import { describe, expect, it } from "vitest";
import type { ConnectionFields } from "../../src/config/connection-string.js";
import { resolveConnection } from "../../src/config/environment.js";
import { config, validationError } from "../support/config-fixtures.js";

describe("resolveConnection", () => {
  it("returns undefined (embedded database) when nothing points at a server", () => {
    expect(resolveConnection(undefined, {})).toBeUndefined();
    expect(resolveConnection(undefined, { PGUSER: "u", PGPASSWORD: "p", POSTGRES_DB: "d" })).toBeUndefined();
    expect(resolveConnection(undefined, { DATABASE_URL: "", PGHOST: "" })).toBeUndefined();
  });

  it("fills libpq's defaults", () => {
    const resolved = config();
    expect(resolved).toMatchObject({
      host: "localhost",
      port: 5432,
      user: "postgres",
      database: "postgres",
      sslMode: "prefer",
    });
    expect(resolved.password).toBeUndefined();
    expect(config({ user: "alice" }).database).toBe("alice");
  });

  it("uses DATABASE_URL over PG* over POSTGRES_*, field by field", () => {
    const resolved = resolveConnection(undefined, {
      DATABASE_URL: "postgres://url-user@url-host/url-db",
      PGHOST: "pg-host",
      PGUSER: "pg-user",
      PGPORT: "6001",
      PGSSLMODE: "require",
      POSTGRES_PORT: "7001",
      POSTGRES_PASSWORD: "postgres-pw",
      POSTGRES_DB: "postgres-db",
    });
    expect(resolved).toMatchObject({
      host: "url-host",
      user: "url-user",
      database: "url-db",
      port: 6001,
      sslMode: "require",
    });
    expect(resolved?.password).toBe("postgres-pw");
  });

  it("reads every PG* variable", () => {
    const resolved = resolveConnection(undefined, {
      PGHOST: "pg-host",
      PGPORT: "6001",
      PGUSER: "pg-user",
      PGPASSWORD: "pg-pw",
      PGDATABASE: "pg-db",
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: "/ca",
      PGSSLCERT: "/c",
      PGSSLKEY: "/k",
      PGAPPNAME: "pg-app",
    });
    expect(resolved?.toJSON()).toEqual({
      host: "pg-host",
      port: 6001,
      user: "pg-user",
      password: "***",
      database: "pg-db",
      sslMode: "verify-full",
      sslRootCert: "/ca",
      sslCert: "/c",
      sslKey: "/k",
      applicationName: "pg-app",
    });
    expect(resolved?.password).toBe("pg-pw");
  });

  it("reads the POSTGRES_* variables (docker-compose style) below PG*", () => {
    const env = {
      POSTGRES_HOST: "db",
      POSTGRES_PORT: "5544",
      POSTGRES_USER: "app",
      POSTGRES_PASSWORD: "pw",
      POSTGRES_DB: "appdb",
    };
    const resolved = resolveConnection(undefined, env);
    expect(resolved).toMatchObject({ host: "db", port: 5544, user: "app", database: "appdb" });
    expect(resolved?.password).toBe("pw");
    expect(resolveConnection(undefined, { ...env, PGHOST: "other", PGUSER: "boss" })).toMatchObject({
      host: "other",
      user: "boss",
      database: "appdb",
    });
  });

  it("ignores DATABASE_URL entirely when an explicit input is given, but lets PG*/POSTGRES_* fill gaps", () => {
    const env = {
      DATABASE_URL: "postgres://url-user:url-pw@url-host:1111/url-db?sslmode=disable",
      PGPORT: "6001",
      POSTGRES_DB: "postgres-db",
    };
    const fromString = resolveConnection("postgres://explicit-host", env);
    expect(fromString).toMatchObject({
      host: "explicit-host",
      port: 6001,
      user: "postgres",
      database: "postgres-db",
      sslMode: "prefer",
    });
    expect(fromString?.password).toBeUndefined();

    const fromFields = resolveConnection({ host: "h", port: 7000, user: "u", password: "pw" }, env);
    expect(fromFields).toMatchObject({ host: "h", port: 7000, user: "u", database: "postgres-db" });
    expect(fromFields?.password).toBe("pw");
    expect(resolveConnection("host=kv-host dbname=kv", env)).toMatchObject({
      host: "kv-host",
      database: "kv",
    });
  });

  it("treats empty fields and variables as unset", () => {
    expect(resolveConnection({ host: "", user: "" }, { PGHOST: "pg-host", PGUSER: "" })).toMatchObject({
      host: "pg-host",
      user: "postgres",
    });
  });

  it("validates fields given as an object", () => {
    const unknown = validationError(() => resolveConnection({ ssl: true } as ConnectionFields, {}));
    expect(unknown.field).toBe("ssl");
    expect(unknown.message).toContain("sslMode");
    expect(validationError(() => resolveConnection({ port: 0 }, {})).field).toBe("port");
    expect(validationError(() => resolveConnection({ port: 5432.5 }, {})).field).toBe("port");
    expect(
      validationError(() => resolveConnection({ sslMode: "no-verify" as ConnectionFields["sslMode"] }, {}))
        .field,
    ).toBe("sslmode");
  });

  it("validates the variables", () => {
    expect(validationError(() => resolveConnection(undefined, { PGHOST: "h", PGPORT: "x" })).field).toBe(
      "port",
    );
    expect(
      validationError(() => resolveConnection(undefined, { POSTGRES_HOST: "h", POSTGRES_PORT: "0" })).field,
    ).toBe("port");
    const mode = validationError(() => resolveConnection(undefined, { PGHOST: "h", PGSSLMODE: "on" }));
    expect(mode.field).toBe("sslmode");
    expect(mode.message).toContain("PGSSLMODE");
    expect(
      validationError(() => resolveConnection(undefined, { DATABASE_URL: "postgres://h?x=1" })).field,
    ).toBe("x");
  });
});
