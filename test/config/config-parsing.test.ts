/**
 * parseConnectionString (src/config/connection-string.ts): the URL and key=value forms, and error
 * messages that never leak the password.
 */
import { describe, expect, it } from "vitest";
import { parseConnectionString } from "../../src/config/connection-string.js";
import { resolveConnection } from "../../src/config/environment.js";
import { validationError } from "../support/config-fixtures.js";

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

  it("rejects malformed URLs and other schemes", () => {
    expect(validationError(() => parseConnectionString("postgres://[::1/d")).field).toBe("connection");
    expect(validationError(() => parseConnectionString("postgres://h/d?x=%E0%A4%A")).field).toBe(
      "connection",
    );
    expect(validationError(() => parseConnectionString("mysql://u:p@h/d")).field).toBe("connection");
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

describe("a connection string that is a URL mistyped", () => {
  it("is answered with the URL it most likely meant", () => {
    for (const [dsn, meant] of [
      ["postgress//localhost/app", "postgres://localhost/app"],
      ["postgres//localhost:5432/app", "postgres://localhost:5432/app"],
      ["postgresql:/localhost/app", "postgresql://localhost/app"],
      ["postgres:localhost/app", "postgres://localhost/app"],
      ["postgress://localhost/app", "postgres://localhost/app"],
      ["posgres://app@localhost/app", "postgres://app@localhost/app"],
      ["app@localhost/app", "postgres://app@localhost/app"],
    ]) {
      const error = validationError(() => parseConnectionString(dsn as string));
      expect(error.message, dsn).toContain(`did you mean ${meant}?`);
      expect(error.field, dsn).toBe("connection");
    }
  });

  it("with its password shown as ***", () => {
    const password = "Sup3r-s3cret!";
    for (const [dsn, meant] of [
      [`postgress//u:${password}@h/d`, "postgres://u:***@h/d"],
      [
        `postgres:/u:${encodeURIComponent(password)}@h/d?sslmode=require`,
        "postgres://u:***@h/d?sslmode=require",
      ],
      [`u:${password}@h:5432/d`, "postgres://u:***@h:5432/d"],
      [`postgress://u:${password}@h/d`, "postgres://u:***@h/d"],
      [`postgres//h/d?sslmode=require&password=${password}`, "postgres://h/d?sslmode=require&password=***"],
    ]) {
      const error = validationError(() => parseConnectionString(dsn as string));
      expect(error.message).toContain(`did you mean ${meant}?`);
      expect(error.message).not.toContain(password);
      expect(error.message).not.toContain(encodeURIComponent(password));
    }
  });

  it("but not another scheme, nor a word that names no URL", () => {
    expect(validationError(() => parseConnectionString("mysql://h/d")).message).toBe(
      "a connection URL must start with postgres:// or postgresql://",
    );
    expect(validationError(() => parseConnectionString("just-a-hostname")).message).toBe(
      'missing "=" after "just-a-hostname" in connection string',
    );
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
    `postgress//u:${password}@h/d`,
    `postgres:/u:${encoded}@h/d`,
    `u:${password}@h/d`,
    `u:${password}/x@h/d`,
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
