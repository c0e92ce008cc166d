/**
 * Tests on Debian's PostgreSQL (a stock server with JIT, a streaming standby): whether it is here, and
 * waiting for a standby to catch up.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type SystemPostgres, systemPostgresBin } from "../../src/testing/system-postgres.js";
import { until } from "./waiting.js";

/**
 * Whether the system's PostgreSQL is installed, for the tests named by `what`. CI installs it, so
 * there its absence fails the run; elsewhere the tests are skipped, with a note saying why.
 */
export function systemPostgresFor(what: string): boolean {
  const available = systemPostgresBin() !== undefined;
  if (!available && process.env.CI) throw new Error(`CI needs Debian's PostgreSQL for ${what}`);
  if (!available) {
    console.warn(
      `skipping ${what}: no PostgreSQL from the system's packages (apt-get install postgresql, or set FLOWSTORE_PG_BIN)`,
    );
  }
  return available;
}

/** Resolves once the standby has replayed everything the primary has written so far. */
export async function replayed(primary: SystemPostgres, standby: SystemPostgres): Promise<void> {
  const [row] = await primary.query("select pg_current_wal_lsn()::text as lsn");
  const lsn = String(row?.lsn);
  await until(async () => {
    const [state] = await standby.query(`select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn as ok`);
    return state?.ok === true;
  }, 30_000);
}

/**
 * Makes Debian's server ask for a password over TCP, as the embedded test server does (initdb gave it
 * trust): the tests of refused passwords and PgBouncer's authentication need one. Returns the URL of
 * its `postgres` database with the password in it.
 */
export async function requirePassword(server: SystemPostgres, password: string): Promise<string> {
  await server.query(`alter role postgres password '${password.replaceAll("'", "''")}'`);
  const hba = path.join(server.dataDir, "pg_hba.conf");
  writeFileSync(hba, readFileSync(hba, "utf8").replace(/^(host\s.*\s)trust\s*$/gm, "$1scram-sha-256"));
  await server.query("select pg_reload_conf()");
  const url = new URL(server.url);
  url.password = password;
  return url.toString();
}
