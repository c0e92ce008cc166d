/**
 * tlsOptions (src/config/tls.ts): what each sslmode asks of node-postgres, also checked against a
 * real TLS server.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createServer,
  type Server,
  type ConnectionOptions as TlsOptions,
  connect as tlsConnect,
} from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionFields } from "../../src/config/connection-string.js";
import { tlsOptions } from "../../src/config/tls.js";
import { config, validationError } from "../support/config-fixtures.js";

describe("tlsOptions", () => {
  let dir: string;
  let ca: string;
  let otherCa: string;
  let serverCert: string;
  let serverKey: string;
  let clientCert: string;
  let clientKey: string;

  // Relative paths under `dir` (no spaces), so each command can be written as one string.
  const openssl = (command: string) =>
    execFileSync("openssl", command.split(" "), { cwd: dir, stdio: "pipe" });
  const newCa = (name: string) => {
    openssl(
      `req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${name}.key -out ${name}.crt ` +
        `-days 1 -subj /CN=${name} -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign`,
    );
    return join(dir, `${name}.crt`);
  };
  const newLeaf = (name: string, signer: string, altNames: string) => {
    openssl(
      `req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${name}.key -out ${name}.csr -subj /CN=${name}`,
    );
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${altNames}\n`);
    openssl(
      `x509 -req -in ${name}.csr -CA ${signer}.crt -CAkey ${signer}.key -CAcreateserial -out ${name}.crt ` +
        `-days 1 -extfile ${name}.ext`,
    );
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flowstore-tls-"));
    ca = newCa("test-ca");
    otherCa = newCa("other-ca");
    ({ cert: serverCert, key: serverKey } = newLeaf("server", "test-ca", "DNS:localhost,IP:127.0.0.1"));
    ({ cert: clientCert, key: clientKey } = newLeaf("client", "test-ca", "DNS:client"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const pem = (path: string) => readFileSync(path, "utf8");

  it("disable means no TLS, and so does a unix socket whatever the sslmode", () => {
    expect(tlsOptions(config({ sslMode: "disable" }))).toBe(false);
    expect(tlsOptions(config({ host: "/var/run/postgresql", sslMode: "verify-full" }))).toBe(false);
  });

  it("prefer and require encrypt without verifying", () => {
    expect(tlsOptions(config({ sslMode: "prefer" }))).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions(config({ sslMode: "require" }))).toEqual({ rejectUnauthorized: false });
  });

  it("require with sslrootcert behaves as verify-ca", () => {
    const options = tlsOptions(config({ sslMode: "require", sslRootCert: ca })) as TlsOptions;
    expect(options).toMatchObject({ rejectUnauthorized: true, ca: pem(ca) });
    expect(options.checkServerIdentity?.("anything", {} as never)).toBeUndefined();
  });

  it("verify-ca checks the chain against the root certificate, not the host name", () => {
    const options = tlsOptions(config({ host: "db.example.com", sslMode: "verify-ca", sslRootCert: ca }));
    expect(options).toEqual({
      rejectUnauthorized: true,
      ca: pem(ca),
      checkServerIdentity: expect.any(Function),
    });
    expect(validationError(() => tlsOptions(config({ sslMode: "verify-ca" }))).field).toBe("sslrootcert");
  });

  it("verify-full also checks the host name, with SNI only for names", () => {
    expect(tlsOptions(config({ host: "db.example.com", sslMode: "verify-full", sslRootCert: ca }))).toEqual({
      rejectUnauthorized: true,
      ca: pem(ca),
      servername: "db.example.com",
    });
    expect(tlsOptions(config({ host: "10.0.0.1", sslMode: "verify-full" }))).toEqual({
      rejectUnauthorized: true,
    });
    expect(tlsOptions(config({ host: "::1", sslMode: "verify-full" }))).toEqual({ rejectUnauthorized: true });
  });

  it("sends a client certificate and key when given", () => {
    const options = tlsOptions(config({ sslMode: "require", sslCert: clientCert, sslKey: clientKey }));
    expect(options).toEqual({ rejectUnauthorized: false, cert: pem(clientCert), key: pem(clientKey) });
    expect(validationError(() => tlsOptions(config({ sslMode: "require", sslCert: clientCert }))).field).toBe(
      "sslkey",
    );
    expect(validationError(() => tlsOptions(config({ sslMode: "require", sslKey: clientKey }))).field).toBe(
      "sslcert",
    );
  });

  it("names the field whose file cannot be read", () => {
    const missing = join(dir, "missing.pem");
    for (const [fields, field] of [
      [{ sslMode: "verify-full", sslRootCert: missing }, "sslrootcert"],
      [{ sslMode: "require", sslRootCert: missing }, "sslrootcert"],
      [{ sslMode: "require", sslCert: missing, sslKey: clientKey }, "sslcert"],
      [{ sslMode: "require", sslCert: clientCert, sslKey: missing }, "sslkey"],
    ] as const) {
      const error = validationError(() => tlsOptions(config(fields)));
      expect(error.field).toBe(field);
      expect(error.message).toContain(missing);
    }
  });

  describe("against a real TLS server", () => {
    let port = 0;
    let server: Server;

    beforeAll(async () => {
      server = createServer({ cert: pem(serverCert), key: pem(serverKey) }, (socket) => socket.end());
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    /** Connects the way node-postgres does: TCP first, then TLS over it with `host` (and SNI for names). */
    const handshake = (fields: ConnectionFields) =>
      new Promise<void>((resolve, reject) => {
        const conf = config(fields);
        const options = tlsOptions(conf);
        if (!options) throw new Error("expected TLS options");
        const socket = netConnect(port, "127.0.0.1", () => {
          const tls = tlsConnect({ socket, host: conf.host, ...options }, () => {
            tls.end();
            resolve();
          });
          tls.on("error", reject);
        });
        socket.on("error", reject);
      });

    it("verify-full accepts a matching name or IP and refuses another name", async () => {
      await handshake({ host: "localhost", sslMode: "verify-full", sslRootCert: ca });
      await handshake({ host: "127.0.0.1", sslMode: "verify-full", sslRootCert: ca });
      await expect(
        handshake({ host: "db.example.test", sslMode: "verify-full", sslRootCert: ca }),
      ).rejects.toThrow(/altnames|does not match/i);
    });

    it("verify-ca ignores the name but refuses another CA", async () => {
      await handshake({ host: "db.example.test", sslMode: "verify-ca", sslRootCert: ca });
      await expect(
        handshake({ host: "localhost", sslMode: "verify-ca", sslRootCert: otherCa }),
      ).rejects.toThrow(/certificate/i);
    });

    it("require accepts any certificate", async () => {
      await handshake({ host: "db.example.test", sslMode: "require" });
    });
  });
});
