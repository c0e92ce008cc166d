/**
 * Connection configuration for node-postgres: DSN parsing (URL and libpq key=value forms), the
 * environment (DATABASE_URL, PG*, POSTGRES_*), sslmode -> TLS options, and pool options.
 *
 * The rules follow libpq wherever a user might carry a connection string over from psql, so a DSN
 * means the same thing here as it does there.
 */

import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import { type InspectOptions, inspect } from "node:util";
import type { PoolConfig } from "pg";
import { parse as parsePgUrl } from "pg-connection-string";
import { redact, ValidationError } from "./errors.js";

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

export interface PoolOptions {
  max?: number;
  min?: number;
  idleTimeoutMs?: number;
  /** 0 keeps connections for ever. */
  maxLifetimeMs?: number;
  connectionTimeoutMs?: number;
  /** 0 leaves the server's statement_timeout alone. */
  statementTimeoutMs?: number;
  applicationName?: string;
}

export const POOL_DEFAULTS: Readonly<Required<PoolOptions>> = Object.freeze({
  max: 10,
  min: 0,
  idleTimeoutMs: 10_000,
  maxLifetimeMs: 0,
  connectionTimeoutMs: 5_000,
  statementTimeoutMs: 0,
  applicationName: "flowstore",
});

export function resolvePoolOptions(options: PoolOptions = {}): Required<PoolOptions> {
  const resolved = { ...POOL_DEFAULTS };
  // A misspelt option would otherwise be ignored without a word.
  for (const key of Object.keys(options)) {
    if (!(key in POOL_DEFAULTS)) {
      throw new ValidationError(`unknown pool option "${key}"`, { field: `pool.${key}` });
    }
  }
  for (const key of Object.keys(POOL_DEFAULTS) as (keyof PoolOptions)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (key === "applicationName") {
      if (typeof value !== "string") {
        throw new ValidationError("pool.applicationName must be a string", { field: "pool.applicationName" });
      }
      resolved.applicationName = value;
    } else {
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        throw new ValidationError(`pool.${key} must be a non-negative integer, got ${String(value)}`, {
          field: `pool.${key}`,
        });
      }
      resolved[key] = value;
    }
  }
  if (resolved.max < 1) {
    throw new ValidationError(`pool.max must be at least 1, got ${resolved.max}`, { field: "pool.max" });
  }
  if (resolved.min > resolved.max) {
    throw new ValidationError(`pool.min (${resolved.min}) must not exceed pool.max (${resolved.max})`, {
      field: "pool.min",
    });
  }
  return resolved;
}

// ---------------------------------------------------------------------------------------------
// Parsing

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

function isValidPort(text: string): boolean {
  if (!/^\d{1,5}$/.test(text)) return false;
  const port = Number(text);
  return port >= 1 && port <= 65535;
}

function isSslMode(value: unknown): value is SslMode {
  return SSL_MODES.includes(value as SslMode);
}

function sslModeMessage(value: unknown): string {
  return `sslmode must be one of ${SSL_MODES.join(", ")}, got "${String(value)}"`;
}

// ---------------------------------------------------------------------------------------------
// Resolution: explicit input > DATABASE_URL > PG* > POSTGRES_* > defaults

/**
 * Resolves where to connect. `undefined` means "no server configured: use the embedded database",
 * which is the answer when there is no input and none of DATABASE_URL, PGHOST, POSTGRES_HOST is set.
 */
export function resolveConnection(
  input: string | ConnectionFields | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ConnectionConfig | undefined {
  const get = (name: string) => env[name] || undefined;
  if (input === undefined && !get("DATABASE_URL") && !get("PGHOST") && !get("POSTGRES_HOST")) {
    return undefined;
  }

  let explicit: ConnectionFields;
  if (typeof input === "string") {
    explicit = parseConnectionString(input);
  } else if (input !== undefined) {
    explicit = checkFields(input);
  } else {
    const url = get("DATABASE_URL");
    explicit = url === undefined ? {} : withContext("DATABASE_URL", () => parseConnectionString(url));
  }

  const pg = envFields(env, {
    host: "PGHOST",
    port: "PGPORT",
    user: "PGUSER",
    password: "PGPASSWORD",
    database: "PGDATABASE",
    sslMode: "PGSSLMODE",
    sslRootCert: "PGSSLROOTCERT",
    sslCert: "PGSSLCERT",
    sslKey: "PGSSLKEY",
    applicationName: "PGAPPNAME",
  });
  const postgres = envFields(env, {
    host: "POSTGRES_HOST",
    port: "POSTGRES_PORT",
    user: "POSTGRES_USER",
    password: "POSTGRES_PASSWORD",
    database: "POSTGRES_DB",
  });

  const pick = <K extends keyof ConnectionFields>(key: K): ConnectionFields[K] =>
    explicit[key] ?? pg[key] ?? postgres[key];
  const user = pick("user") ?? "postgres";
  return new ConnectionConfig({
    host: pick("host") ?? "localhost",
    port: pick("port") ?? 5432,
    user,
    password: pick("password"),
    database: pick("database") ?? user,
    sslMode: pick("sslMode") ?? "prefer",
    sslRootCert: pick("sslRootCert"),
    sslCert: pick("sslCert"),
    sslKey: pick("sslKey"),
    applicationName: pick("applicationName"),
  });
}

const FIELD_NAMES = new Set<string>([
  "host",
  "port",
  "user",
  "password",
  "database",
  "sslMode",
  "sslRootCert",
  "sslCert",
  "sslKey",
  "applicationName",
]);

/** Validates fields given as an object (JavaScript callers can pass anything); drops empty ones. */
function checkFields(input: ConnectionFields): ConnectionFields {
  const fields: ConnectionFields = {};
  for (const [key, value] of Object.entries(input)) {
    if (!FIELD_NAMES.has(key)) {
      const hint = key === "ssl" ? '; use sslMode: "require" (or another sslMode)' : "";
      throw new ValidationError(`unknown connection field "${key}"${hint}`, { field: key });
    }
    if (value === undefined || value === "") continue;
    (fields as Record<string, unknown>)[key] = value;
  }
  if (
    fields.port !== undefined &&
    !(Number.isInteger(fields.port) && fields.port >= 1 && fields.port <= 65535)
  ) {
    throw new ValidationError(`port must be an integer from 1 to 65535, got ${String(fields.port)}`, {
      field: "port",
    });
  }
  if (fields.sslMode !== undefined && !isSslMode(fields.sslMode)) {
    throw new ValidationError(sslModeMessage(fields.sslMode), { field: "sslmode" });
  }
  return fields;
}

function envFields(env: NodeJS.ProcessEnv, names: Partial<Record<keyof ConnectionFields, string>>) {
  const fields: ConnectionFields = {};
  const secrets = [names.password ? env[names.password] : undefined].filter((s): s is string => !!s);
  for (const [key, name] of Object.entries(names) as [keyof ConnectionFields, string][]) {
    const value = env[name];
    if (!value) continue;
    if (key === "port") {
      if (!isValidPort(value)) {
        throw new ValidationError(
          redact(`${name} must be an integer from 1 to 65535, got "${value}"`, secrets),
          { field: "port" },
        );
      }
      fields.port = Number(value);
    } else if (key === "sslMode") {
      if (!isSslMode(value)) {
        throw new ValidationError(`${name}: ${redact(sslModeMessage(value), secrets)}`, { field: "sslmode" });
      }
      fields.sslMode = value;
    } else {
      fields[key] = value;
    }
  }
  return fields;
}

/** Says which variable a parse error came from, keeping its class and field. */
function withContext<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ValidationError) {
      throw new ValidationError(`${name}: ${error.message}`, { field: error.field });
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The resolved configuration

type ResolvedFields = ConnectionFields &
  Required<Pick<ConnectionFields, "host" | "port" | "user" | "database" | "sslMode">>;

export class ConnectionConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly sslMode: SslMode;
  readonly sslRootCert: string | undefined;
  readonly sslCert: string | undefined;
  readonly sslKey: string | undefined;
  readonly applicationName: string | undefined;
  // A true private field: invisible to Object.keys, spread, JSON and inspect.
  readonly #password: string | undefined;

  constructor(fields: ResolvedFields) {
    this.host = fields.host;
    this.port = fields.port;
    this.user = fields.user;
    this.database = fields.database;
    this.sslMode = fields.sslMode;
    this.sslRootCert = fields.sslRootCert;
    this.sslCert = fields.sslCert;
    this.sslKey = fields.sslKey;
    this.applicationName = fields.applicationName;
    this.#password = fields.password;
  }

  get password(): string | undefined {
    return this.#password;
  }

  /** What to pass to `redact()` before showing a driver message. */
  secrets(): string[] {
    return this.#password ? [this.#password] : [];
  }

  /** The same configuration without TLS: the driver's second try when sslmode=prefer meets a server without TLS. */
  withoutTls(): ConnectionConfig {
    return new ConnectionConfig({ ...this.#fields(), sslMode: "disable" });
  }

  toPgConfig(pool: Required<PoolOptions>): PoolConfig {
    return {
      host: this.host,
      port: this.port,
      user: this.user,
      password: this.#password,
      database: this.database,
      ssl: tlsOptions(this),
      // A name in the DSN or PGAPPNAME is more specific than the pool-wide default.
      application_name: this.applicationName ?? pool.applicationName,
      statement_timeout: pool.statementTimeoutMs > 0 ? pool.statementTimeoutMs : false,
      connectionTimeoutMillis: pool.connectionTimeoutMs,
      idleTimeoutMillis: pool.idleTimeoutMs,
      maxLifetimeSeconds: Math.ceil(pool.maxLifetimeMs / 1000),
      min: pool.min,
      max: pool.max,
    };
  }

  /** A postgres:// URL with the password shown as `***`. */
  toString(): string {
    const socket = isUnixSocket(this.host);
    const host = socket ? "" : isIP(this.host) === 6 ? `[${this.host}]` : encodeURIComponent(this.host);
    const password = this.#password ? ":***" : "";
    const params = new URLSearchParams();
    // A socket directory cannot be written in the authority, and its port names the socket file.
    if (socket) {
      params.set("host", this.host);
      params.set("port", String(this.port));
    }
    params.set("sslmode", this.sslMode);
    if (this.sslRootCert) params.set("sslrootcert", this.sslRootCert);
    if (this.sslCert) params.set("sslcert", this.sslCert);
    if (this.sslKey) params.set("sslkey", this.sslKey);
    if (this.applicationName) params.set("application_name", this.applicationName);
    // URLSearchParams writes spaces as "+", which libpq would not decode.
    const query = params.toString().replaceAll("+", "%20");
    const user = encodeURIComponent(this.user);
    const port = socket ? "" : `:${this.port}`;
    return `postgres://${user}${password}@${host}${port}/${encodeURIComponent(this.database)}?${query}`;
  }

  toJSON(): Record<string, unknown> {
    const { password, ...rest } = this.#fields();
    const json: Record<string, unknown> = {};
    // Unset optional fields are left out so that JSON and inspect output stay short.
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) json[key] = value;
    if (password) json.password = "***";
    return json;
  }

  [inspect.custom](_depth: number, options: InspectOptions): string {
    return `ConnectionConfig ${inspect(this.toJSON(), options)}`;
  }

  #fields(): ResolvedFields {
    return {
      host: this.host,
      port: this.port,
      user: this.user,
      password: this.#password,
      database: this.database,
      sslMode: this.sslMode,
      sslRootCert: this.sslRootCert,
      sslCert: this.sslCert,
      sslKey: this.sslKey,
      applicationName: this.applicationName,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// sslmode -> TLS

/**
 * The TLS options for node-postgres, with libpq's meaning of each sslmode. `false` means no TLS;
 * prefer's fallback to plain text is the driver's business (see `withoutTls`).
 */
export function tlsOptions(config: ConnectionConfig): false | TlsOptions {
  // libpq ignores sslmode on Unix-domain sockets: there is no network to protect.
  if (config.sslMode === "disable" || isUnixSocket(config.host)) return false;

  if (config.sslCert && !config.sslKey) {
    throw new ValidationError("sslcert is set but sslkey is not; a client certificate needs its key", {
      field: "sslkey",
    });
  }
  if (config.sslKey && !config.sslCert) {
    throw new ValidationError("sslkey is set but sslcert is not; a client key needs its certificate", {
      field: "sslcert",
    });
  }
  const clientCert: TlsOptions = {};
  if (config.sslCert) clientCert.cert = readPem(config.sslCert, "sslcert");
  if (config.sslKey) clientCert.key = readPem(config.sslKey, "sslkey");

  // libpq: with a root certificate, require behaves as verify-ca.
  const mode = config.sslMode === "require" && config.sslRootCert ? "verify-ca" : config.sslMode;
  switch (mode) {
    case "prefer":
    case "require":
      return { ...clientCert, rejectUnauthorized: false };
    case "verify-ca":
      // Checking a chain to a public CA without the host name would accept any certificate that CA
      // ever signed, so verify-ca needs the user's own CA (libpq refuses sslrootcert=system here too).
      if (!config.sslRootCert) {
        throw new ValidationError(
          "sslmode=verify-ca needs sslrootcert (the CA that signed the server certificate); use verify-full with a public CA",
          { field: "sslrootcert" },
        );
      }
      return {
        ...clientCert,
        rejectUnauthorized: true,
        ca: readPem(config.sslRootCert, "sslrootcert"),
        checkServerIdentity: () => undefined,
      };
    case "verify-full": {
      // Without sslrootcert, Node's bundled CAs are used (libpq's sslrootcert=system).
      const options: TlsOptions = { ...clientCert, rejectUnauthorized: true };
      if (config.sslRootCert) options.ca = readPem(config.sslRootCert, "sslrootcert");
      // SNI must not be an IP address (RFC 6066); Node then checks the IP against the certificate.
      if (isIP(config.host) === 0) options.servername = config.host;
      return options;
    }
  }
}

function readPem(path: string, field: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ValidationError(`cannot read ${field} file "${path}": ${reason}`, { field, cause: error });
  }
}

function isUnixSocket(host: string): boolean {
  return host.startsWith("/");
}
