/**
 * Connection strings: parsing `postgres://` URLs and libpq `key=value` strings into fields, and the
 * field checks (port, sslmode) that the environment resolution shares.
 *
 * The rules follow libpq wherever a user might carry a connection string over from psql, so a DSN
 * means the same thing here as it does there.
 */

import { parse as parsePgUrl } from "pg-connection-string";
import { redact, ValidationError } from "../core/errors.js";
import { meantUrl } from "./mistyped-url.js";

export type SslMode = "disable" | "prefer" | "require" | "verify-ca" | "verify-full";

const SSL_MODES: readonly SslMode[] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

/**
 * Which of several hosts to settle on, as libpq's target_session_attrs: the first that answers
 * (`any`, the default), the first that takes writes (`read-write`) or does not (`read-only`), the
 * first not in recovery (`primary`) or in it (`standby`), a standby if any answers, else any
 * (`prefer-standby`).
 */
export type TargetSessionAttrs =
  | "any"
  | "read-write"
  | "read-only"
  | "primary"
  | "standby"
  | "prefer-standby";

const TARGET_SESSION_ATTRS: readonly TargetSessionAttrs[] = [
  "any",
  "read-write",
  "read-only",
  "primary",
  "standby",
  "prefer-standby",
];

/** One of several hosts; a missing port is the connection's port (default 5432). */
export interface HostAndPort {
  host: string;
  port?: number;
}

export interface ConnectionFields {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  sslMode?: SslMode;
  /** File paths. */
  sslRootCert?: string;
  sslCert?: string;
  sslKey?: string;
  applicationName?: string;
  /**
   * Several servers, tried in order (instead of `host` and `port`): a primary and its standbys, so
   * that after a failover the store finds the new primary by itself. See `targetSessionAttrs`.
   */
  hosts?: readonly HostAndPort[];
  /** Which host to settle on, when several are given (default `any`). */
  targetSessionAttrs?: TargetSessionAttrs;
}

/**
 * The libpq keywords we understand, in both DSN forms. Any other keyword is rejected, as libpq
 * does: silently ignoring e.g. `channel_binding=require` would weaken what the user asked for.
 */
const KEYWORDS = new Set([
  "host",
  "hostaddr",
  "port",
  "user",
  "password",
  "dbname",
  "sslmode",
  "sslrootcert",
  "sslcert",
  "sslkey",
  "application_name",
  "connect_timeout",
  "target_session_attrs",
]);

/** Parses `postgres://...` / `postgresql://...` URLs and libpq `key=value` strings. */
export function parseConnectionString(dsn: string): ConnectionFields {
  const text = dsn.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) return parseUrl(text);
  const meant = meantUrl(text);
  if (meant !== undefined) {
    throw new ValidationError(
      `the connection string is neither a postgres:// URL nor key=value pairs: did you mean ${meant}?`,
      { field: "connection" },
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new ValidationError("a connection URL must start with postgres:// or postgresql://", {
      field: "connection",
    });
  }
  return applyKeywords(tokenizeKeyValue(text));
}

function parseUrl(dsn: string): ConnectionFields {
  // A fragment means nothing to libpq either.
  const url = dsn.split("#")[0] ?? "";
  // The query is ours to read: pg-connection-string would read certificate files itself, warn
  // about sslmode, and give sslmode its own (non-libpq) meaning.
  const queryAt = url.indexOf("?");
  const base = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? "" : url.slice(queryAt + 1);

  const hosts = urlHosts(base);
  let parsed: ReturnType<typeof parsePgUrl>;
  try {
    // pg-connection-string reads one host: it is given the first, and the list is read here.
    parsed = parsePgUrl(hosts.length > 1 ? withFirstHost(base) : base);
  } catch {
    // No cause attached: the URL parser's error could carry the input, password included.
    throw new ValidationError("malformed connection URL", { field: "connection" });
  }

  const pairs: [string, string][] = [];
  const set = (key: string, value: string | null | undefined) => {
    if (value) pairs.push([key, value]);
  };
  if (hosts.length > 1) {
    pairs.push(["host", hosts.map((h) => h.host).join(",")]);
    pairs.push(["port", hosts.map((h) => h.port).join(",")]);
  } else {
    set("host", parsed.host);
    set("port", parsed.port);
  }
  set("user", parsed.user);
  set("password", parsed.password);
  // pg-connection-string decodes the path with decodeURI, which leaves e.g. %2F encoded; libpq does not.
  set("dbname", decodeComponent(/^[^:]+:\/\/[^/]*\/(.*)$/.exec(base)?.[1] ?? ""));
  // Query parameters come last so that they override the authority, as in libpq.
  for (const part of query.split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const key = decodeComponent(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? "" : decodeComponent(part.slice(eq + 1));
    pairs.push([key, value]);
  }
  return applyKeywords(pairs);
}

/**
 * The hosts of a URL's authority, `host[:port]` separated by commas as libpq writes several. The WHATWG
 * URL parser rejects a bad port as "Invalid URL"; checking it first names the field. The port text is
 * not echoed: in a malformed URL we cannot tell it apart from a password.
 */
function urlHosts(base: string): { host: string; port: string }[] {
  const authority = /^[^:]+:\/\/([^/]*)/.exec(base)?.[1] ?? "";
  const list = authority.slice(authority.lastIndexOf("@") + 1);
  return list.split(",").map((hostPort) => {
    const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(.*))?$/.exec(hostPort);
    const port = match?.[2];
    if (port && !isValidPort(port)) {
      throw new ValidationError("port in the connection URL must be an integer from 1 to 65535", {
        field: "port",
      });
    }
    const host = match?.[1] ?? hostPort;
    return { host: decodeComponent(host.replace(/^\[(.*)\]$/, "$1")), port: port ?? "" };
  });
}

/** The URL with only the first of its hosts. */
function withFirstHost(base: string): string {
  return base.replace(/^([^:]+:\/\/(?:[^/@]*@)?)([^,/]*)[^/]*/, "$1$2");
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ValidationError("malformed percent-encoding in connection URL", { field: "connection" });
  }
}

/**
 * libpq's conninfo syntax: `key = value` pairs separated by whitespace; values may be single-quoted;
 * a backslash escapes the next character, quoted or not.
 */
function tokenizeKeyValue(text: string): [string, string][] {
  const pairs: [string, string][] = [];
  let i = 0;
  const isSpace = (ch: string | undefined) => ch !== undefined && /\s/.test(ch);
  const skipSpace = () => {
    while (isSpace(text[i])) i++;
  };

  while (true) {
    skipSpace();
    if (i >= text.length) return pairs;

    let key = "";
    while (i < text.length && text[i] !== "=" && !isSpace(text[i])) key += text[i++];
    skipSpace();
    if (text[i] !== "=") {
      throw new ValidationError(`missing "=" after "${key}" in connection string`, { field: "connection" });
    }
    i++;
    skipSpace();

    let value = "";
    if (text[i] === "'") {
      i++;
      while (true) {
        const ch = text[i++];
        if (ch === undefined) {
          throw new ValidationError("unterminated quoted string in connection string", {
            field: "connection",
          });
        }
        if (ch === "'") break;
        value += ch === "\\" ? (text[i++] ?? "") : ch;
      }
    } else {
      while (i < text.length && !isSpace(text[i])) {
        const ch = text[i++] as string;
        value += ch === "\\" ? (text[i++] ?? "") : ch;
      }
    }
    pairs.push([key, value]);
  }
}

/** Turns libpq keyword/value pairs into fields. Later pairs win, as in libpq. */
function applyKeywords(pairs: readonly [string, string][]): ConnectionFields {
  // Known before anything is validated, so that no message can carry it.
  const secrets = pairs.filter(([key]) => key === "password").map(([, value]) => value);
  const fail = (message: string, field: string): never => {
    throw new ValidationError(redact(message, secrets), { field: redact(field, secrets) });
  };

  const fields: ConnectionFields = {};
  let hostaddr: string | undefined;
  let hostList: string | undefined;
  let portList: string | undefined;
  for (const [key, value] of pairs) {
    if (!KEYWORDS.has(key)) {
      const hint = key === "ssl" ? "; use sslmode=require (or another sslmode)" : "";
      fail(`unknown connection parameter "${key}"${hint}`, key);
    }
    // libpq treats an empty value as "not given".
    if (value === "") continue;
    switch (key) {
      case "host":
        hostList = value;
        break;
      case "hostaddr":
        hostaddr = value;
        break;
      case "port":
        portList = value;
        break;
      case "user":
        fields.user = value;
        break;
      case "password":
        fields.password = value;
        break;
      case "dbname":
        fields.database = value;
        break;
      case "sslmode":
        if (!isSslMode(value)) fail(sslModeMessage(value), "sslmode");
        fields.sslMode = value as SslMode;
        break;
      case "sslrootcert":
        fields.sslRootCert = value;
        break;
      case "sslcert":
        fields.sslCert = value;
        break;
      case "sslkey":
        fields.sslKey = value;
        break;
      case "application_name":
        fields.applicationName = value;
        break;
      case "connect_timeout":
        // Accepted so that DSNs written for libpq tools still parse; the pool's
        // connectionTimeoutMs is what bounds connecting here.
        if (!/^\d+$/.test(value)) fail(`connect_timeout must be a number of seconds, got "${value}"`, key);
        break;
      case "target_session_attrs":
        if (!isTargetSessionAttrs(value)) fail(targetSessionAttrsMessage(value), key);
        fields.targetSessionAttrs = value as TargetSessionAttrs;
        break;
    }
  }
  // libpq connects to hostaddr when both are given; having one name per host, we do the same.
  Object.assign(
    fields,
    hostFields(hostaddr ?? hostList, portList, (message) => fail(message, "port")),
  );
  return fields;
}

/**
 * `host` and `port` as libpq reads them, in a key=value string or PGHOST and PGPORT: comma-separated
 * lists, one port for every host or one for each (an empty entry is the default). One host gives
 * `host` and `port`, several give `hosts`.
 */
export function hostFields(
  hostText: string | undefined,
  portText: string | undefined,
  fail: (message: string) => never,
): Pick<ConnectionFields, "host" | "port" | "hosts"> {
  const hosts = hostText === undefined ? [] : hostText.split(",");
  const ports = (portText ?? "").split(",").map((port) => {
    if (port !== "" && !isValidPort(port)) fail(`port must be an integer from 1 to 65535, got "${port}"`);
    return port === "" ? undefined : Number(port);
  });
  if (hosts.length <= 1) {
    if (ports.length > 1) fail(`${ports.length} ports are given for one host`);
    const fields: Pick<ConnectionFields, "host" | "port"> = {};
    if (hosts[0]) fields.host = hosts[0];
    if (ports[0] !== undefined) fields.port = ports[0];
    return fields;
  }
  if (ports.length !== 1 && ports.length !== hosts.length) {
    fail(`${ports.length} ports are given for ${hosts.length} hosts: give one port, or one for each host`);
  }
  return {
    hosts: hosts.map((host, i) => {
      const port = ports.length === 1 ? ports[0] : ports[i];
      return port === undefined ? { host: host || "localhost" } : { host: host || "localhost", port };
    }),
  };
}

export function isTargetSessionAttrs(value: unknown): value is TargetSessionAttrs {
  return TARGET_SESSION_ATTRS.includes(value as TargetSessionAttrs);
}

export function targetSessionAttrsMessage(value: unknown): string {
  return `target_session_attrs must be one of ${TARGET_SESSION_ATTRS.join(", ")}, got "${String(value)}"`;
}

/** A port given as a number (connection fields): an integer from 1 to 65535. */
export function isPortNumber(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

export function isValidPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && isPortNumber(Number(text));
}

export function isSslMode(value: unknown): value is SslMode {
  return SSL_MODES.includes(value as SslMode);
}

export function sslModeMessage(value: unknown): string {
  return `sslmode must be one of ${SSL_MODES.join(", ")}, got "${String(value)}"`;
}
