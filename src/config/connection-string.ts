/**
 * Connection strings: parsing `postgres://` URLs and libpq `key=value` strings into fields, and the
 * field checks (port, sslmode) that the environment resolution shares.
 *
 * The rules follow libpq wherever a user might carry a connection string over from psql, so a DSN
 * means the same thing here as it does there.
 */

import { parse as parsePgUrl } from "pg-connection-string";
import { redact, ValidationError } from "../core/errors.js";

export type SslMode = "disable" | "prefer" | "require" | "verify-ca" | "verify-full";

const SSL_MODES: readonly SslMode[] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

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
]);

/** Parses `postgres://...` / `postgresql://...` URLs and libpq `key=value` strings. */
export function parseConnectionString(dsn: string): ConnectionFields {
  const text = dsn.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) return parseUrl(text);
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

  checkUrlAuthority(base);
  let parsed: ReturnType<typeof parsePgUrl>;
  try {
    parsed = parsePgUrl(base);
  } catch {
    // No cause attached: the URL parser's error could carry the input, password included.
    throw new ValidationError("malformed connection URL", { field: "connection" });
  }

  const pairs: [string, string][] = [];
  const set = (key: string, value: string | null | undefined) => {
    if (value) pairs.push([key, value]);
  };
  set("host", parsed.host);
  set("port", parsed.port);
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
 * The WHATWG URL parser rejects a bad port as "Invalid URL"; checking it first names the field.
 * The port text is not echoed: in a malformed URL we cannot tell it apart from a password.
 */
function checkUrlAuthority(base: string): void {
  const authority = /^[^:]+:\/\/([^/]*)/.exec(base)?.[1] ?? "";
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  if (hostPort.includes(",")) {
    throw new ValidationError("several hosts in one connection URL are not supported", { field: "host" });
  }
  const port = /^(?:\[[^\]]*\]|[^:[\]]*):(.*)$/.exec(hostPort)?.[1];
  if (port && !isValidPort(port)) {
    throw new ValidationError("port in the connection URL must be an integer from 1 to 65535", {
      field: "port",
    });
  }
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
  for (const [key, value] of pairs) {
    if (!KEYWORDS.has(key)) {
      const hint = key === "ssl" ? "; use sslmode=require (or another sslmode)" : "";
      fail(`unknown connection parameter "${key}"${hint}`, key);
    }
    // libpq treats an empty value as "not given".
    if (value === "") continue;
    switch (key) {
      case "host":
        fields.host = value;
        break;
      case "hostaddr":
        hostaddr = value;
        break;
      case "port":
        if (!isValidPort(value)) fail(`port must be an integer from 1 to 65535, got "${value}"`, "port");
        fields.port = Number(value);
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
    }
  }
  // libpq connects to hostaddr when both are given; having one host field, we do the same.
  if (hostaddr !== undefined) fields.host = hostaddr;
  if (fields.host?.includes(",")) fail("several hosts in one connection string are not supported", "host");
  return fields;
}

export function isValidPort(text: string): boolean {
  if (!/^\d{1,5}$/.test(text)) return false;
  const port = Number(text);
  return port >= 1 && port <= 65535;
}

export function isSslMode(value: unknown): value is SslMode {
  return SSL_MODES.includes(value as SslMode);
}

export function sslModeMessage(value: unknown): string {
  return `sslmode must be one of ${SSL_MODES.join(", ")}, got "${String(value)}"`;
}
