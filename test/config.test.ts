import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createServer,
  type Server,
  type ConnectionOptions as TlsOptions,
  connect as tlsConnect,
} from "node:tls";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectionConfig,
  type ConnectionFields,
  POOL_DEFAULTS,
  parseConnectionString,
  resolveConnection,
  resolvePoolOptions,
  tlsOptions,
} from "../src/config.js";
import { ValidationError } from "../src/errors.js";

/** Runs fn and returns the ValidationError it threw (failing the test if it threw anything else). */
function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("expected a ValidationError, nothing was thrown");
}

function config(fields: ConnectionFields = {}): ConnectionConfig {
  const resolved = resolveConnection(fields, {});
  if (!resolved) throw new Error("unreachable: explicit input always resolves");
  return resolved;
}

describe("parseConnectionString: URL form", () => {
  it("reads every part of a full URL", () => {
    expect(
      parseConnectionString("postgres://alice:s3cret@db.example.com:6543/workflow?sslmode=verify-full"),
    ).toEqual({
      host: "db.example.com",
      port: 6543,
      user: "alice",
      password: "s3cret",
      database: "workflow",
      sslMode: "verify-full",
    });
  });

  it("accepts the postgresql:// scheme and leaves absent parts unset", () => {
    expect(parseConnectionString("postgresql://db.internal")).toEqual({ host: "db.internal" });
    expect(parseConnectionString("postgresql://u@h/d")).toEqual({ host: "h", user: "u", database: "d" });
  });

  it("decodes percent-encoded user, password and database", () => {
    expect(parseConnectionString("postgres://us%40er:p%40ss%3Aw%2Fo%20rd@h/my%20db")).toEqual({
      host: "h",
      user: "us@er",
      password: "p@ss:w/o rd",
      database: "my db",
    });
  });

  it("reads IPv6 hosts in brackets", () => {
    expect(parseConnectionString("postgres://u@[::1]:5433/d")).toEqual({
      host: "::1",
      port: 5433,
      user: "u",
      database: "d",
    });
    expect(parseConnectionString("postgres://[2001:db8::7]/d").host).toBe("2001:db8::7");
  });

  it("reads the TLS and application parameters from the query", () => {
    expect(
      parseConnectionString(
        "postgres://h/d?sslmode=verify-ca&sslrootcert=/etc/ca.pem&sslcert=/etc/c%20c.pem&sslkey=/etc/k.pem&application_name=my%20app",
      ),
    ).toEqual({
      host: "h",
      database: "d",
      sslMode: "verify-ca",
      sslRootCert: "/etc/ca.pem",
      sslCert: "/etc/c c.pem",
      sslKey: "/etc/k.pem",
      applicationName: "my app",
    });
  });

  it("reads a unix socket directory from host=, also with an empty authority", () => {
    expect(parseConnectionString("postgres:///workflow?host=/var/run/postgresql")).toEqual({
      host: "/var/run/postgresql",
      database: "workflow",
    });
    expect(parseConnectionString("postgres://u:pw@/workflow?host=/tmp")).toEqual({
      host: "/tmp",
      user: "u",
      password: "pw",
      database: "workflow",
    });
    expect(parseConnectionString("postgres://%2Fvar%2Frun%2Fpostgresql/workflow").host).toBe(
      "/var/run/postgresql",
    );
  });

  it("lets query parameters override the authority, as libpq does", () => {
    expect(parseConnectionString("postgres://u@h:5432/d?port=6000&user=v&dbname=e")).toEqual({
      host: "h",
      port: 6000,
      user: "v",
      database: "e",
    });
  });

  it("accepts connect_timeout and hostaddr", () => {
    expect(parseConnectionString("postgres://h/d?connect_timeout=10")).toEqual({ host: "h", database: "d" });
    expect(parseConnectionString("postgres://name.example/d?hostaddr=10.0.0.5").host).toBe("10.0.0.5");
  });

  it("rejects unknown query parameters, naming them", () => {
    const error = validationError(() => parseConnectionString("postgres://h/d?sslmode=require&foo=1"));
    expect(error.field).toBe("foo");
    expect(error.message).toContain('"foo"');
    const ssl = validationError(() => parseConnectionString("postgres://h/d?ssl=true"));
    expect(ssl.field).toBe("ssl");
    expect(ssl.message).toContain("sslmode=require");
  });

  it("rejects unknown sslmode values", () => {
    for (const mode of ["no-verify", "allow", "REQUIRE", "true"]) {
      const error = validationError(() => parseConnectionString(`postgres://h/d?sslmode=${mode}`));
      expect(error.field).toBe("sslmode");
    }
  });

  it("rejects ports that are not integers from 1 to 65535", () => {
    for (const port of ["0", "65536", "99999", "abc", "54x"]) {
      const error = validationError(() => parseConnectionString(`postgres://u@h:${port}/d`));
      expect(error.field).toBe("port");
    }
    expect(validationError(() => parseConnectionString("postgres://h/d?port=70000")).field).toBe("port");
    expect(validationError(() => parseConnectionString("postgres://h/d?connect_timeout=soon")).field).toBe(
      "connect_timeout",
    );
  });

  it("rejects malformed URLs, other schemes and several hosts", () => {
    expect(validationError(() => parseConnectionString("postgres://[::1/d")).field).toBe("connection");
    expect(validationError(() => parseConnectionString("postgres://h/d?x=%E0%A4%A")).field).toBe(
      "connection",
    );
    expect(validationError(() => parseConnectionString("mysql://u:p@h/d")).field).toBe("connection");
    expect(validationError(() => parseConnectionString("postgres://h1:5432,h2:5433/d")).field).toBe("host");
  });
});

describe("parseConnectionString: key=value form", () => {
  it("reads the libpq example with a quoted, escaped password", () => {
    expect(
      parseConnectionString(
        "host=localhost port=5432 user=postgres password='a b\\'c' dbname=workflow sslmode=disable",
      ),
    ).toEqual({
      host: "localhost",
      port: 5432,
      user: "postgres",
      password: "a b'c",
      database: "workflow",
      sslMode: "disable",
    });
  });

  it("allows spaces around = and any whitespace between pairs", () => {
    expect(parseConnectionString("  host = db\tport=\n5433   dbname  =  x  ")).toEqual({
      host: "db",
      port: 5433,
      database: "x",
    });
  });

  it("handles backslash escapes in quoted and unquoted values", () => {
    expect(parseConnectionString("password='back\\\\slash'").password).toBe("back\\slash");
    expect(parseConnectionString("password=a\\ b\\'c\\\\d").password).toBe("a b'c\\d");
    expect(parseConnectionString("application_name=''").applicationName).toBeUndefined();
  });

  it("reads every supported key", () => {
    expect(
      parseConnectionString(
        "hostaddr=10.1.2.3 user=u dbname=d sslmode=verify-full sslrootcert=/ca sslcert=/c sslkey=/k application_name=app connect_timeout=5",
      ),
    ).toEqual({
      host: "10.1.2.3",
      user: "u",
      database: "d",
      sslMode: "verify-full",
      sslRootCert: "/ca",
      sslCert: "/c",
      sslKey: "/k",
      applicationName: "app",
    });
  });

  it("treats an empty string as no settings", () => {
    expect(parseConnectionString("")).toEqual({});
  });

  it("rejects unknown keys, naming them", () => {
    const error = validationError(() => parseConnectionString("host=h database=x"));
    expect(error.field).toBe("database");
    expect(error.message).toContain('"database"');
  });

  it("rejects an unterminated quote and a missing =", () => {
    expect(validationError(() => parseConnectionString("host=h password='abc")).field).toBe("connection");
    expect(validationError(() => parseConnectionString("host=h password")).field).toBe("connection");
    expect(validationError(() => parseConnectionString("just-a-hostname")).field).toBe("connection");
  });

  it("rejects bad ports and sslmodes, naming the field", () => {
    expect(validationError(() => parseConnectionString("host=h port=0")).field).toBe("port");
    expect(validationError(() => parseConnectionString("host=h port=5432.5")).field).toBe("port");
    expect(validationError(() => parseConnectionString("host=h sslmode=verify")).field).toBe("sslmode");
  });
});

describe("error messages never contain the password", () => {
  const password = "Sup3r-s3cret!";
  const encoded = encodeURIComponent(password);
  const cases = [
    `postgres://u:${encoded}@h:99999/d`,
    `postgres://u:${encoded}@h:abc/d`,
    `postgres://u:${encoded}@[::1/d`,
    `postgres://u:${encoded}@h/d?sslmode=${encoded}`,
    `postgres://u:${encoded}@h/d?${encoded}=1`,
    `host=h password='${password}' port=${password}`,
    `port=${password} password=${password}`,
    `host=h password=${password} sslmode=${password}`,
    `host=h password=${password} ${password}=x`,
  ];
  for (const dsn of cases) {
    it(`in ${dsn.replaceAll(password, "<pw>").replaceAll(encoded, "<pw>")}`, () => {
      const error = validationError(() => parseConnectionString(dsn));
      expect(error.message).not.toContain(password);
      expect(error.message).not.toContain(encoded);
      expect(error.field).not.toContain(password);
    });
  }

  it("nor when the bad DSN comes from DATABASE_URL or the variables", () => {
    const fromUrl = validationError(() =>
      resolveConnection(undefined, { DATABASE_URL: `postgres://u:${encoded}@h:0/d` }),
    );
    expect(fromUrl.field).toBe("port");
    expect(fromUrl.message).toContain("DATABASE_URL");
    expect(fromUrl.message).not.toContain(password);
    const fromEnv = validationError(() =>
      resolveConnection(undefined, { PGHOST: "h", PGPASSWORD: password, PGPORT: password }),
    );
    expect(fromEnv.field).toBe("port");
    expect(fromEnv.message).not.toContain(password);
  });
});

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

describe("tlsOptions", () => {
  let dir: string;
  let ca: string;
  let otherCa: string;
  let serverCert: string;
  let serverKey: string;
  let clientCert: string;
  let clientKey: string;

  // Relative paths under `dir` (no spaces), so each command can be written as one string.
  const openssl = (command: string) =>
    execFileSync("openssl", command.split(" "), { cwd: dir, stdio: "pipe" });
  const newCa = (name: string) => {
    openssl(
      `req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${name}.key -out ${name}.crt ` +
        `-days 1 -subj /CN=${name} -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign`,
    );
    return join(dir, `${name}.crt`);
  };
  const newLeaf = (name: string, signer: string, altNames: string) => {
    openssl(
      `req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${name}.key -out ${name}.csr -subj /CN=${name}`,
    );
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${altNames}\n`);
    openssl(
      `x509 -req -in ${name}.csr -CA ${signer}.crt -CAkey ${signer}.key -CAcreateserial -out ${name}.crt ` +
        `-days 1 -extfile ${name}.ext`,
    );
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flowstore-tls-"));
    ca = newCa("test-ca");
    otherCa = newCa("other-ca");
    ({ cert: serverCert, key: serverKey } = newLeaf("server", "test-ca", "DNS:localhost,IP:127.0.0.1"));
    ({ cert: clientCert, key: clientKey } = newLeaf("client", "test-ca", "DNS:client"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const pem = (path: string) => readFileSync(path, "utf8");

  it("disable means no TLS, and so does a unix socket whatever the sslmode", () => {
    expect(tlsOptions(config({ sslMode: "disable" }))).toBe(false);
    expect(tlsOptions(config({ host: "/var/run/postgresql", sslMode: "verify-full" }))).toBe(false);
  });

  it("prefer and require encrypt without verifying", () => {
    expect(tlsOptions(config({ sslMode: "prefer" }))).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions(config({ sslMode: "require" }))).toEqual({ rejectUnauthorized: false });
  });

  it("require with sslrootcert behaves as verify-ca", () => {
    const options = tlsOptions(config({ sslMode: "require", sslRootCert: ca })) as TlsOptions;
    expect(options).toMatchObject({ rejectUnauthorized: true, ca: pem(ca) });
    expect(options.checkServerIdentity?.("anything", {} as never)).toBeUndefined();
  });

  it("verify-ca checks the chain against the root certificate, not the host name", () => {
    const options = tlsOptions(config({ host: "db.example.com", sslMode: "verify-ca", sslRootCert: ca }));
    expect(options).toEqual({
      rejectUnauthorized: true,
      ca: pem(ca),
      checkServerIdentity: expect.any(Function),
    });
    expect(validationError(() => tlsOptions(config({ sslMode: "verify-ca" }))).field).toBe("sslrootcert");
  });

  it("verify-full also checks the host name, with SNI only for names", () => {
    expect(tlsOptions(config({ host: "db.example.com", sslMode: "verify-full", sslRootCert: ca }))).toEqual({
      rejectUnauthorized: true,
      ca: pem(ca),
      servername: "db.example.com",
    });
    expect(tlsOptions(config({ host: "10.0.0.1", sslMode: "verify-full" }))).toEqual({
      rejectUnauthorized: true,
    });
    expect(tlsOptions(config({ host: "::1", sslMode: "verify-full" }))).toEqual({ rejectUnauthorized: true });
  });

  it("sends a client certificate and key when given", () => {
    const options = tlsOptions(config({ sslMode: "require", sslCert: clientCert, sslKey: clientKey }));
    expect(options).toEqual({ rejectUnauthorized: false, cert: pem(clientCert), key: pem(clientKey) });
    expect(validationError(() => tlsOptions(config({ sslMode: "require", sslCert: clientCert }))).field).toBe(
      "sslkey",
    );
    expect(validationError(() => tlsOptions(config({ sslMode: "require", sslKey: clientKey }))).field).toBe(
      "sslcert",
    );
  });

  it("names the field whose file cannot be read", () => {
    const missing = join(dir, "missing.pem");
    for (const [fields, field] of [
      [{ sslMode: "verify-full", sslRootCert: missing }, "sslrootcert"],
      [{ sslMode: "require", sslRootCert: missing }, "sslrootcert"],
      [{ sslMode: "require", sslCert: missing, sslKey: clientKey }, "sslcert"],
      [{ sslMode: "require", sslCert: clientCert, sslKey: missing }, "sslkey"],
    ] as const) {
      const error = validationError(() => tlsOptions(config(fields)));
      expect(error.field).toBe(field);
      expect(error.message).toContain(missing);
    }
  });

  describe("against a real TLS server", () => {
    let port = 0;
    let server: Server;

    beforeAll(async () => {
      server = createServer({ cert: pem(serverCert), key: pem(serverKey) }, (socket) => socket.end());
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    /** Connects the way node-postgres does: TCP first, then TLS over it with `host` (and SNI for names). */
    const handshake = (fields: ConnectionFields) =>
      new Promise<void>((resolve, reject) => {
        const conf = config(fields);
        const options = tlsOptions(conf);
        if (!options) throw new Error("expected TLS options");
        const socket = netConnect(port, "127.0.0.1", () => {
          const tls = tlsConnect({ socket, host: conf.host, ...options }, () => {
            tls.end();
            resolve();
          });
          tls.on("error", reject);
        });
        socket.on("error", reject);
      });

    it("verify-full accepts a matching name or IP and refuses another name", async () => {
      await handshake({ host: "localhost", sslMode: "verify-full", sslRootCert: ca });
      await handshake({ host: "127.0.0.1", sslMode: "verify-full", sslRootCert: ca });
      await expect(
        handshake({ host: "db.example.test", sslMode: "verify-full", sslRootCert: ca }),
      ).rejects.toThrow(/altnames|does not match/i);
    });

    it("verify-ca ignores the name but refuses another CA", async () => {
      await handshake({ host: "db.example.test", sslMode: "verify-ca", sslRootCert: ca });
      await expect(
        handshake({ host: "localhost", sslMode: "verify-ca", sslRootCert: otherCa }),
      ).rejects.toThrow(/certificate/i);
    });

    it("require accepts any certificate", async () => {
      await handshake({ host: "db.example.test", sslMode: "require" });
    });
  });
});
