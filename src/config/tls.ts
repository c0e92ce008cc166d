/**
 * sslmode -> TLS options for node-postgres, with libpq's meaning of each sslmode, and reading the
 * certificate and key files a DSN names.
 *
 * `tlsOptions` takes the TLS-related fields rather than a whole `ConnectionConfig`, so that this
 * file does not import the class that calls it.
 */

import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import { ValidationError } from "../core/errors.js";
import type { SslMode } from "./connection-string.js";

/** The fields `tlsOptions` reads; a `ConnectionConfig` is one. */
export interface TlsSettings {
  readonly host: string;
  readonly sslMode: SslMode;
  readonly sslRootCert?: string | undefined;
  readonly sslCert?: string | undefined;
  readonly sslKey?: string | undefined;
}

/**
 * libpq's sslmode=prefer: a connection refused because the server has no TLS is tried again in plain
 * text (with `withoutTls`). `message` is the connection error's.
 */
export function retryWithoutTls(config: Pick<TlsSettings, "sslMode">, message: string): boolean {
  return config.sslMode === "prefer" && /does not support SSL/i.test(message);
}

/**
 * The TLS options for node-postgres, with libpq's meaning of each sslmode. `false` means no TLS;
 * prefer's fallback to plain text is the driver's business (see `withoutTls`).
 */
export function tlsOptions(config: TlsSettings): false | TlsOptions {
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

export function isUnixSocket(host: string): boolean {
  return host.startsWith("/");
}
