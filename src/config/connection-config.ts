/**
 * The resolved connection configuration: every field settled, the password held in a private field
 * so that logging, JSON and util.inspect never show it, and `toPgConfig` to build what node-postgres
 * takes.
 */

import { isIP } from "node:net";
import { type InspectOptions, inspect } from "node:util";
import type { PoolConfig } from "pg";
import type { ConnectionFields, SslMode } from "./connection-string.js";
import type { PoolOptions } from "./pool.js";
import { isUnixSocket, tlsOptions } from "./tls.js";

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
