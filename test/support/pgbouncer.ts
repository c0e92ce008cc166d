/**
 * Debian's PgBouncer in front of the test server, on loopback, in a directory of its own: what most
 * managed services and many deployments put between a store and PostgreSQL. Tests that need it skip
 * with a clear message where it is not installed (`.ci/run` installs it).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "../../src/testing/postgres.js";
import { postgresIds, waitForServer } from "../../src/testing/system-postgres.js";

const BINARY = "/usr/sbin/pgbouncer";

export type PoolMode = "transaction" | "session";

export interface PgBouncer {
  /** A URL for the same database as the server's URL, through the pooler. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Why PgBouncer cannot be started here, or undefined when it can. */
export function pgBouncerMissing(): string | undefined {
  return existsSync(BINARY) ? undefined : `PgBouncer is not installed (apt-get install pgbouncer)`;
}

/**
 * Starts PgBouncer in `mode` for the server and database of `serverUrl`, with at most `poolSize`
 * server sessions (default 40).
 */
export async function startPgBouncer(serverUrl: string, mode: PoolMode, poolSize = 40): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const port = await freePort();
  const dir = mkdtempSync("/tmp/flowstore-pgbouncer-");
  // PgBouncer refuses to run as root: it runs as the postgres user, who must read its files.
  const asUser = process.getuid?.() === 0 ? postgresIds() : undefined;
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  writeFileSync(path.join(dir, "users.txt"), `"${user}" "${password}"\n`);
  writeFileSync(
    path.join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=${server.hostname} port=${server.port}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      // Clients log in with the server's password, which PgBouncer also uses to reach the server.
      "auth_type = plain",
      `auth_file = ${path.join(dir, "users.txt")}`,
      `pool_mode = ${mode}`,
      "max_client_conn = 500",
      `default_pool_size = ${poolSize}`,
      `logfile = ${path.join(dir, "pgbouncer.log")}`,
      `pidfile = ${path.join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
  );
  chmodSync(dir, 0o700);
  if (asUser) {
    chownSync(dir, asUser.uid, asUser.gid);
    for (const file of ["users.txt", "pgbouncer.ini"])
      chownSync(path.join(dir, file), asUser.uid, asUser.gid);
  }
  const args = [...(asUser ? ["-u", "postgres"] : []), path.join(dir, "pgbouncer.ini")];
  const child: ChildProcess = spawn(BINARY, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const through = new URL(serverUrl);
  through.port = String(port);
  through.searchParams.set("sslmode", "disable");
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForServer(
      through.toString(),
      () => child.exitCode !== null,
      () => log,
      "PgBouncer",
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: through.toString(), stop };
}
