/** What a store's first contact with a server says when it fails: where it tried, and what to ask first. */

import { readFileSync, type Stats, statSync } from "node:fs";
import { createRequire } from "node:module";
import type pg from "pg";
import { ConnectionConfig } from "../config/connection-config.js";
import { ConnectionError } from "../core/errors.js";
import { isPgPool } from "./pg-pool.js";

/** Node's codes for a server that is not there: nothing listens, no route, no answer, no socket file. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOENT"]);

/**
 * A connection error of a store's first contact with a server, saying where it tried: `to` is the
 * resolved configuration (shown as its URL, password hidden) or the `connection` option (said of a pool
 * of the user's). A server that is not there comes with the question to ask first, a database that is
 * not there is said to be missing. Other errors, and those of other connections (PGlite, the embedded
 * store's socket), pass as they are.
 */
export function firstContactError(error: unknown, to: unknown): unknown {
  const pool = isPgPool(to);
  if (!(error instanceof ConnectionError) || !(to instanceof ConnectionConfig || pool)) return error;
  const where = pool ? "PostgreSQL through the pool given" : `PostgreSQL at ${to}`;
  const cause = error.cause ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  const timedOut = /timeout exceeded when trying to connect|connection timeout/i.test(error.message);
  const message =
    error.sqlState === "28P01"
      ? `cannot connect to ${where}: ${error.message}; ${refused(to)}`
      : error.sqlState === "3D000"
        ? `cannot connect to ${where}: ${error.message}; create the database, or connect to one that exists`
        : code === "ENOTFOUND" || code === "EAI_AGAIN"
          ? `cannot reach ${where}: ${error.message}; is the host name right?`
          : (typeof code === "string" && UNREACHABLE.has(code)) || timedOut
            ? `cannot reach ${where}: ${error.message}; is the server running, and listening on that host and port?`
            : `cannot connect to ${where}: ${error.message}`;
  return new ConnectionError(message, { cause, sqlState: error.sqlState });
}

/**
 * A password refused (28P01): for whom and where, and where the password came from, never the password
 * itself. Whether one was given at all is the first thing to know, and then where to correct it: the
 * connection URL or string, the connection options, an environment variable, or the password file that
 * node-postgres reads when none was given. A pool of the user's keeps its own.
 */
function refused(to: unknown): string {
  if (!(to instanceof ConnectionConfig)) return poolPasswordRefused(to as pg.Pool);
  const at = `PostgreSQL at ${to.host}:${to.port}`;
  if (to.password) {
    return `the password given for user "${to.user}" was refused by ${at}; it was taken from ${to.passwordFrom ?? "the connection"}: correct it there`;
  }
  const file = passwordFile(to);
  return file
    ? `the password for user "${to.user}" in the password file ${file} was refused by ${at}; none was given in the connection, so node-postgres read that file's line for ${to.host}:${to.port}:${to.database}:${to.user}: correct it there`
    : `${at} asks a password of user "${to.user}", and none was given: put it in the connection URL or set PGPASSWORD`;
}

/**
 * A pool of the user's: its own options, or what node-postgres falls back to when they hold no password
 * (PGPASSWORD, then the password file).
 */
function poolPasswordRefused(pool: pg.Pool): string {
  const { password, connectionString } = pool.options;
  if (typeof password === "function") return "the password the pool's password function returned was refused";
  if (password || (connectionString && hasPassword(connectionString))) {
    return "the password in the pool's options (its password or connectionString) was refused: correct it there";
  }
  return process.env.PGPASSWORD
    ? "the pool's options hold no password, so node-postgres took PGPASSWORD, which was refused"
    : "the pool's options hold no password and PGPASSWORD is not set: give the pool a password (node-postgres read the password file, PGPASSFILE or ~/.pgpass, if there is one)";
}

/** Whether a connection string (a URL or libpq's key=value form) holds a password. */
function hasPassword(connectionString: string): boolean {
  try {
    return new URL(connectionString).password !== "";
  } catch {
    return /(^|\s)password\s*=/.test(connectionString);
  }
}

/** The part of node-postgres's password file reader (the pgpass package) used here. */
interface PgPass {
  getFileName(): string;
  usePgPass(stats: Stats, file: string): boolean;
  parseLine(line: string): Record<string, string> | null;
  isValidEntry(entry: Record<string, string>): boolean;
  match(connection: Record<string, unknown>, entry: Record<string, string>): boolean;
}

/**
 * The password file node-postgres took the password from, when none was given: PGPASSFILE or
 * ~/.pgpass, if it holds a line for this connection. Read with node-postgres's own reader (its
 * dependency, found from it), so the answer is the line it used; undefined when that cannot be told.
 */
function passwordFile(to: ConnectionConfig): string | undefined {
  try {
    const fromPg = createRequire(createRequire(import.meta.url).resolve("pg"));
    const pgpass = fromPg("pgpass/lib/helper.js") as PgPass;
    const file = pgpass.getFileName();
    if (!pgpass.usePgPass(statSync(file), file)) return undefined;
    const connection = { host: to.host, port: to.port, database: to.database, user: to.user };
    const lines = readFileSync(file, "utf8").split("\n");
    return lines.some((line) => {
      const entry = pgpass.parseLine(line);
      return entry !== null && pgpass.isValidEntry(entry) && pgpass.match(connection, entry);
    })
      ? file
      : undefined;
  } catch {
    return undefined;
  }
}
