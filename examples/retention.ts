/**
 * Retention: finished runs and everything they own, pruned once or on a schedule.
 *
 *   npx tsx examples/retention.ts
 */
import { openStore } from "flowstore";

const store = await openStore();
const { execution } = await store.executions.start({ name: "report" });
await store.executions.complete(execution.id, { rows: 12 });

// #region prune
// Runs that finished over 30 days ago, with their tasks, history, steps, streams, jobs, timers, owned
// blobs and key-value entries, in batches of short transactions; running runs are never touched.
const removed = await store.prune({ finishedBefore: new Date(Date.now() - 30 * 86_400_000) });
// #endregion
console.log(`pruned ${removed.executions} execution(s) finished over 30 days ago`);
const now = await store.prune({ finishedBefore: new Date(Date.now() + 1_000) });
console.log(`pruned ${now.executions} execution(s) finished by now`);

// #region maintenance
// The same from your own process: at once, then every hour (several processes may run it at once).
const maintenance = store.startMaintenance({ olderThanMs: 30 * 24 * 3_600_000, intervalMs: 3_600_000 });
// ...
await maintenance.stop(); // ends the run in progress after its batch (store.close() stops it too)
// #endregion
await store.close();
