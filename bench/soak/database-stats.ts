/**
 * Figures the soak reads from the database while it runs and again at the end: the soak queue's jobs
 * by status, and the database's deadlock count (pg_stat_database).
 */
import type { Store } from "../../src/index.js";
import { SOAK_QUEUE } from "./worker-config.js";

export async function jobsByStatus(store: Store, q: string): Promise<Record<string, number>> {
  const { rows } = await store.query<{ status: string; n: number }>(
    `select status, count(*)::int as n from ${q}.jobs where queue = $1 group by status order by status`,
    [SOAK_QUEUE],
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

export async function deadlocks(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    "select deadlocks::int as n from pg_stat_database where datname = current_database()",
  );
  return rows[0]?.n ?? 0;
}
