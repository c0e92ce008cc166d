/**
 * A test's bulk fill, in one transaction whose rows skip the foreign keys' checks where the role may
 * (a superuser, as the test servers' own and PGlite's). Every row such a fill writes references a row it
 * wrote before, and the check a row costs: against the partitioned executions, about 12 s for each
 * 100,000-row table of a run's own (events, tasks, component state, correlations), in every run of the
 * suite and the version matrix. Where the role may not, the checks run.
 */
import type { Store, Transaction } from "../../src/index.js";

export async function bulkFill<T>(store: Store, fill: (tx: Transaction) => Promise<T>): Promise<T> {
  return store.transaction(async (tx) => {
    const { rows } = await tx.query<{ superuser: string }>(
      "select current_setting('is_superuser') as superuser",
    );
    if (rows[0]?.superuser === "on") await tx.query("set local session_replication_role = replica");
    return fill(tx);
  });
}
