/**
 * Where to connect: explicit input (a connection string or fields) over DATABASE_URL, over the
 * libpq PG* variables, over the POSTGRES_* variables of the postgres container image, over defaults.
 *
 * The PG* variables mean what they mean to psql, so a shell set up for psql points here too.
 */

import { redact, ValidationError } from "../core/errors.js";
import { ConnectionConfig } from "./connection-config.js";
import {
  type ConnectionFields,
  type HostAndPort,
  hostFields,
  isPortNumber,
  isSslMode,
  isTargetSessionAttrs,
  isValidPort,
  parseConnectionString,
  sslModeMessage,
  targetSessionAttrsMessage,
} from "./connection-string.js";

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
    targetSessionAttrs: "PGTARGETSESSIONATTRS",
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
  const port = pick("port") ?? 5432;
  // The first source that names a host names them all: one host, or a list.
  const named = [explicit, pg, postgres].find((fields) => fields.host !== undefined || fields.hosts);
  const hosts: Required<HostAndPort>[] = named?.hosts?.map((h) => ({
    host: h.host,
    port: h.port ?? port,
  })) ?? [{ host: named?.host ?? "localhost", port }];
  return new ConnectionConfig({
    hosts,
    passwordFrom: passwordSource(input, explicit, pg),
    targetSessionAttrs: pick("targetSessionAttrs") ?? "any",
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

/** Which of the sources above gave the password (the first that has one), in words for a message. */
function passwordSource(
  input: string | ConnectionFields | undefined,
  explicit: ConnectionFields,
  pg: ConnectionFields,
): string {
  if (explicit.password === undefined) return pg.password === undefined ? "POSTGRES_PASSWORD" : "PGPASSWORD";
  if (input === undefined) return "DATABASE_URL";
  if (typeof input !== "string") return "the password field of the connection options";
  return /^postgres(ql)?:\/\//i.test(input.trim()) ? "the connection URL" : "the connection string";
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
  "hosts",
  "targetSessionAttrs",
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
  if (fields.port !== undefined && !isPortNumber(fields.port)) {
    throw new ValidationError(`port must be an integer from 1 to 65535, got ${String(fields.port)}`, {
      field: "port",
    });
  }
  if (fields.sslMode !== undefined && !isSslMode(fields.sslMode)) {
    throw new ValidationError(sslModeMessage(fields.sslMode), { field: "sslmode" });
  }
  if (fields.targetSessionAttrs !== undefined && !isTargetSessionAttrs(fields.targetSessionAttrs)) {
    throw new ValidationError(targetSessionAttrsMessage(fields.targetSessionAttrs), {
      field: "targetSessionAttrs",
    });
  }
  if (fields.hosts !== undefined) fields.hosts = checkHosts(fields.hosts, fields);
  return fields;
}

/** `hosts` given as fields: a non-empty array of `{ host, port? }`, and never beside `host` or `port`. */
function checkHosts(hosts: unknown, fields: ConnectionFields): HostAndPort[] {
  const fail = (message: string): never => {
    throw new ValidationError(message, { field: "hosts" });
  };
  if (fields.host !== undefined || fields.port !== undefined) {
    fail("give either hosts or host and port, not both");
  }
  if (!Array.isArray(hosts) || hosts.length === 0) fail("hosts must be a non-empty array of { host, port? }");
  return (hosts as unknown[]).map((entry, i) => {
    const { host, port } = (entry ?? {}) as { host?: unknown; port?: unknown };
    if (typeof host !== "string" || host === "") fail(`hosts[${i}].host must be a non-empty string`);
    if (port !== undefined && !isPortNumber(port)) {
      fail(`hosts[${i}].port must be an integer from 1 to 65535, got ${String(port)}`);
    }
    return port === undefined ? { host: host as string } : { host: host as string, port: port as number };
  });
}

function envFields(env: NodeJS.ProcessEnv, names: Partial<Record<keyof ConnectionFields, string>>) {
  const fields: ConnectionFields = {};
  const secrets = [names.password ? env[names.password] : undefined].filter((s): s is string => !!s);
  for (const [key, name] of Object.entries(names) as [keyof ConnectionFields, string][]) {
    const value = env[name];
    if (!value) continue;
    if (key === "host" && value.includes(",")) {
      const fail = (message: string): never => {
        throw new ValidationError(`${name}/${names.port}: ${redact(message, secrets)}`, { field: "host" });
      };
      Object.assign(fields, hostFields(value, names.port ? env[names.port] : undefined, fail));
    } else if (key === "port") {
      if (fields.hosts) continue;
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
    } else if (key === "targetSessionAttrs") {
      if (!isTargetSessionAttrs(value)) {
        throw new ValidationError(`${name}: ${targetSessionAttrsMessage(value)}`, {
          field: "targetSessionAttrs",
        });
      }
      fields.targetSessionAttrs = value;
    } else {
      (fields as Record<string, string>)[key] = value;
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
