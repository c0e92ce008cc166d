/**
 * The resolved connection configuration: every field settled, the password held in a private field
 * so that logging, JSON and util.inspect never show it, and `toPgConfig` to build what node-postgres
 * takes.
 */

import { isIP } from "node:net";
import { type InspectOptions, inspect } from "node:util";
import type { PoolConfig } from "pg";
import type { ConnectionFields, SslMode, TargetSessionAttrs } from "./connection-string.js";
import type { PoolOptions } from "./pool.js";
import { isUnixSocket, tlsOptions } from "./tls.js";

type ResolvedFields = Omit<ConnectionFields, "host" | "port" | "hosts"> &
  Required<Pick<ConnectionFields, "user" | "database" | "sslMode" | "targetSessionAttrs">> & {
    hosts: readonly { host: string; port: number }[];
    /** Where the password was taken from, for the message of a refused one: "PGPASSWORD", "the connection URL"... */
    passwordFrom?: string;
  };

export class ConnectionConfig {
  /** The first host, where a connection goes when there is one (see `hosts`). */
  readonly host: string;
  readonly port: number;
  /** Every host, in the order they are tried (one, unless several were given). */
  readonly hosts: readonly { host: string; port: number }[];
  readonly targetSessionAttrs: TargetSessionAttrs;
  readonly user: string;
  readonly database: string;
  readonly sslMode: SslMode;
  readonly sslRootCert: string | undefined;
  readonly sslCert: string | undefined;
  readonly sslKey: string | undefined;
  readonly applicationName: string | undefined;
  /** Where the password was taken from (see ResolvedFields), or undefined when none was given. */
  readonly passwordFrom: string | undefined;
  // A true private field: invisible to Object.keys, spread, JSON and inspect.
  readonly #password: string | undefined;

  constructor(fields: ResolvedFields) {
    const first = fields.hosts[0];
    if (!first) throw new Error("a connection needs a host");
    this.host = first.host;
    this.port = first.port;
    this.hosts = fields.hosts.map(({ host, port }) => ({ host, port }));
    this.targetSessionAttrs = fields.targetSessionAttrs;
    this.user = fields.user;
    this.database = fields.database;
    this.sslMode = fields.sslMode;
    this.sslRootCert = fields.sslRootCert;
    this.sslCert = fields.sslCert;
    this.sslKey = fields.sslKey;
    this.applicationName = fields.applicationName;
    this.passwordFrom = fields.password ? fields.passwordFrom : undefined;
    this.#password = fields.password;
  }

  get password(): string | undefined {
    return this.#password;
  }

  /** What to pass to `redact()` before showing a driver message. */
  secrets(): string[] {
    return this.#password ? [this.#password] : [];
  }

  /**
   * Whether connecting means choosing among hosts, or checking the one host's role: anything but one
   * host with `any`.
   */
  get choosesHost(): boolean {
    return this.hosts.length > 1 || this.targetSessionAttrs !== "any";
  }

  /** The same configuration with the one host `index` of this one's hosts. */
  atHost(index: number): ConnectionConfig {
    const host = this.hosts[index];
    if (!host) throw new RangeError(`no host ${index}`);
    return new ConnectionConfig({ ...this.#fields(), hosts: [host] });
  }

  /** The same configuration without TLS: the driver's second try when sslmode=prefer meets a server without TLS. */
  withoutTls(): ConnectionConfig {
    return new ConnectionConfig({ ...this.#fields(), sslMode: "disable" });
  }

  /** node-postgres's settings, for the first host. */
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
      // An idle connection does not keep the process alive: a program that is done exits at once,
      // not idleTimeoutMs later. What the store runs (workers, dispatchers) keeps it alive itself.
      allowExitOnIdle: true,
      maxLifetimeSeconds: Math.ceil(pool.maxLifetimeMs / 1000),
      min: pool.min,
      max: pool.max,
    };
  }

  /** A postgres:// URL with the password shown as `***`. */
  toString(): string {
    // A socket directory cannot be written in the authority, and its port names the socket file.
    const socket = this.hosts.some((h) => isUnixSocket(h.host));
    const password = this.#password ? ":***" : "";
    const params = new URLSearchParams();
    if (socket) {
      params.set("host", this.hosts.map((h) => h.host).join(","));
      params.set("port", this.hosts.map((h) => h.port).join(","));
    }
    params.set("sslmode", this.sslMode);
    if (this.sslRootCert) params.set("sslrootcert", this.sslRootCert);
    if (this.sslCert) params.set("sslcert", this.sslCert);
    if (this.sslKey) params.set("sslkey", this.sslKey);
    if (this.applicationName) params.set("application_name", this.applicationName);
    if (this.targetSessionAttrs !== "any") params.set("target_session_attrs", this.targetSessionAttrs);
    // URLSearchParams writes spaces as "+", which libpq would not decode.
    const query = params.toString().replaceAll("+", "%20");
    const user = encodeURIComponent(this.user);
    const authority = socket ? "" : this.hosts.map(hostInUrl).join(",");
    return `postgres://${user}${password}@${authority}/${encodeURIComponent(this.database)}?${query}`;
  }

  toJSON(): Record<string, unknown> {
    const { password, passwordFrom: _, hosts, targetSessionAttrs, ...fields } = this.#fields();
    // One host shows as host and port, as it was given; the default target is left out.
    const rest = {
      ...(hosts.length === 1 ? { host: this.host, port: this.port } : { hosts }),
      ...fields,
      targetSessionAttrs: targetSessionAttrs === "any" ? undefined : targetSessionAttrs,
    };
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
      hosts: this.hosts,
      targetSessionAttrs: this.targetSessionAttrs,
      user: this.user,
      password: this.#password,
      database: this.database,
      sslMode: this.sslMode,
      sslRootCert: this.sslRootCert,
      sslCert: this.sslCert,
      sslKey: this.sslKey,
      applicationName: this.applicationName,
      passwordFrom: this.passwordFrom,
    };
  }
}

function hostInUrl({ host, port }: { host: string; port: number }): string {
  return `${isIP(host) === 6 ? `[${host}]` : encodeURIComponent(host)}:${port}`;
}
