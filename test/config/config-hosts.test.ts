/**
 * Several hosts in one connection, as libpq takes them: a URL's `h1:p1,h2:p2`, key=value `host=a,b
 * port=1,2`, PGHOST/PGPORT lists, `hosts` fields, and target_session_attrs in each form.
 */
import { describe, expect, it } from "vitest";
import { parseConnectionString } from "../../src/config/connection-string.js";
import { resolveConnection } from "../../src/config/environment.js";
import { config, validationError } from "../support/config-fixtures.js";

const resolve = (input: string, env: NodeJS.ProcessEnv = {}) => {
  const resolved = resolveConnection(input, env);
  if (!resolved) throw new Error("explicit input always resolves");
  return resolved;
};

describe("several hosts in a URL", () => {
  it("reads each host with its port, the default port where none is written", () => {
    const c = resolve("postgres://app:pw@db1:5433,db2,[::1]:6000/wf?target_session_attrs=read-write");
    expect(c.hosts).toEqual([
      { host: "db1", port: 5433 },
      { host: "db2", port: 5432 },
      { host: "::1", port: 6000 },
    ]);
    expect(c.targetSessionAttrs).toBe("read-write");
    expect(c.user).toBe("app");
    expect(c.password).toBe("pw");
    expect(c.database).toBe("wf");
    // The first host is where a single connection goes.
    expect([c.host, c.port]).toEqual(["db1", 5433]);
    expect(c.choosesHost).toBe(true);
  });

  it("writes them back in its URL form, which parses to the same hosts", () => {
    const c = resolve("postgres://app:pw@db1:5433,db2:5434/wf?target_session_attrs=primary&sslmode=disable");
    expect(String(c)).toBe(
      "postgres://app:***@db1:5433,db2:5434/wf?sslmode=disable&target_session_attrs=primary",
    );
    expect(resolve(String(c).replace("***", "pw")).hosts).toEqual(c.hosts);
    expect(JSON.parse(JSON.stringify(c))).toMatchObject({
      hosts: c.hosts,
      targetSessionAttrs: "primary",
      password: "***",
    });
  });

  it("gives each host of atHost() one host, with everything else kept", () => {
    const c = resolve("postgres://app:pw@db1:5433,db2:5434/wf?target_session_attrs=primary");
    const second = c.atHost(1);
    expect(second.hosts).toEqual([{ host: "db2", port: 5434 }]);
    expect([second.host, second.port, second.password, second.database]).toEqual(["db2", 5434, "pw", "wf"]);
  });

  it("rejects a bad port among them, naming the field", () => {
    expect(validationError(() => parseConnectionString("postgres://h1:5432,h2:99999/d")).field).toBe("port");
  });
});

describe("several hosts in key=value form and the environment", () => {
  it("pairs a list of ports with the hosts, or applies one port to all", () => {
    expect(resolve("host=a,b port=5433,5434 dbname=wf").hosts).toEqual([
      { host: "a", port: 5433 },
      { host: "b", port: 5434 },
    ]);
    expect(resolve("host=a,b port=6000").hosts).toEqual([
      { host: "a", port: 6000 },
      { host: "b", port: 6000 },
    ]);
    expect(resolve("host=a,b").hosts).toEqual([
      { host: "a", port: 5432 },
      { host: "b", port: 5432 },
    ]);
  });

  it("refuses a port list that does not match the hosts", () => {
    expect(validationError(() => parseConnectionString("host=a,b,c port=1,2")).message).toMatch(
      /2 ports are given for 3 hosts/,
    );
    expect(validationError(() => parseConnectionString("host=a port=1,2")).message).toMatch(
      /2 ports are given for one host/,
    );
  });

  it("reads PGHOST and PGPORT lists and PGTARGETSESSIONATTRS", () => {
    const c = resolveConnection(undefined, {
      PGHOST: "p1,p2",
      PGPORT: "7001,7002",
      PGTARGETSESSIONATTRS: "read-write",
    });
    expect(c?.hosts).toEqual([
      { host: "p1", port: 7001 },
      { host: "p2", port: 7002 },
    ]);
    expect(c?.targetSessionAttrs).toBe("read-write");
  });

  it("takes the hosts of the most specific source that names any", () => {
    const c = resolve("host=a,b dbname=wf", { PGHOST: "env1,env2,env3" });
    expect(c.hosts.map((h) => h.host)).toEqual(["a", "b"]);
    expect(resolve("dbname=wf", { PGHOST: "e1,e2" }).hosts.map((h) => h.host)).toEqual(["e1", "e2"]);
  });
});

describe("target_session_attrs", () => {
  it("takes libpq's six values, and 'any' by default", () => {
    for (const value of ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"]) {
      expect(resolve(`host=a target_session_attrs=${value}`).targetSessionAttrs).toBe(value);
    }
    expect(resolve("host=a").targetSessionAttrs).toBe("any");
    expect(resolve("host=a").choosesHost).toBe(false);
    expect(resolve("host=a target_session_attrs=primary").choosesHost).toBe(true);
  });

  it("refuses anything else, in each form, naming the values it takes", () => {
    const error = validationError(() => parseConnectionString("host=a target_session_attrs=master"));
    expect(error.field).toBe("target_session_attrs");
    expect(error.message).toMatch(
      /must be one of any, read-write, read-only, primary, standby, prefer-standby/,
    );
    expect(
      validationError(() => resolveConnection(undefined, { PGHOST: "a", PGTARGETSESSIONATTRS: "x" })).field,
    ).toBe("targetSessionAttrs");
    expect(validationError(() => config({ host: "a", targetSessionAttrs: "writable" as "any" })).field).toBe(
      "targetSessionAttrs",
    );
  });
});

describe("hosts as fields", () => {
  it("reads a list of { host, port? }, the connection's port where none is given", () => {
    const c = config({ hosts: [{ host: "a", port: 7000 }, { host: "b" }], targetSessionAttrs: "primary" });
    expect(c.hosts).toEqual([
      { host: "a", port: 7000 },
      { host: "b", port: 5432 },
    ]);
  });

  it("refuses an empty list, a bad entry, or hosts beside host or port", () => {
    expect(validationError(() => config({ hosts: [] })).field).toBe("hosts");
    expect(validationError(() => config({ hosts: [{ host: "" }] })).message).toMatch(/hosts\[0\]\.host/);
    expect(validationError(() => config({ hosts: [{ host: "a", port: 0 }] })).message).toMatch(
      /hosts\[0\]\.port/,
    );
    expect(validationError(() => config({ host: "a", hosts: [{ host: "b" }] })).message).toMatch(
      /either hosts or host and port/,
    );
  });
});
