/**
 * Tests on Debian's PostgreSQL (a stock server with JIT, a streaming standby): whether it is here, and
 * waiting for a standby to catch up.
 */
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
