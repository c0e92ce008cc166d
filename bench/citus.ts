import { consoleLogger, type Execution, openStore, type Store } from "../src/index.js";
import { citusUnavailable, documentedCalls, runInOrder, startCitus } from "../test/support/citus.js";
import { type BenchContext, log, type Row, table, timedCalls } from "./lib.js";

const CONCURRENCY = 8;
/** Calls of each operation made again with Citus failing any statement that reaches several shards. */
const CHECKED = 20;
/** Warnings and errors only: the store's info line (it finds Citus) stays out of the output. */
const quiet = consoleLogger("warn");

/** A hot path: the call for the i-th run of a side, given the runs that side started. */
interface Operation {
  name: string;
  call(store: Store, run: Execution, i: number): Promise<unknown>;
}

const OPERATIONS: Operation[] = [
  { name: "executions.get", call: (store, run) => store.executions.get(run.id) },
  {
    name: "steps.record",
    call: (store, run) =>
      store.steps.record({ executionId: run.id, number: 0, name: "charge", output: { ok: true } }),
  },
  {
    name: "events.append",
    call: (store, run, i) => store.events.append(run.id, [{ type: "charged", payload: { i } }]),
  },
  { name: "executions.complete", call: (store, run) => store.executions.complete(run.id, { done: true }) },
];

export async function run(context: BenchContext): Promise<void> {
  const unavailable = citusUnavailable();
  if (unavailable) {
    log(`skipped: ${unavailable}`);
    return;
  }
  const total = Math.max(50, Math.round(500 * context.scale));
  const cluster = await startCitus({
    settings: {
      fsync: "on",
      synchronous_commit: "on",
      full_page_writes: "on",
    },
  });
  if (!cluster) return;
  try {
    log(`Citus ${cluster.version}: a coordinator and ${cluster.workers.length} workers, durable commits`);
    const stores: Record<"plain" | "distributed", Store> = {
      plain: await openStore({ connection: cluster.url, schema: "bench_plain", logger: quiet }),
      distributed: await openStore({ connection: cluster.url, schema: "bench_dist", logger: quiet }),
    };
    await runInOrder(cluster.url, documentedCalls("bench_dist"));
    // Opened again: the store finds Citus's distribution when it opens.
    await stores.distributed.close();
    stores.distributed = await openStore({ connection: cluster.url, schema: "bench_dist", logger: quiet });
    for (const store of Object.values(stores)) {
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
    }
    const rows: Row[] = [];
    const runs: Record<string, Execution[]> = { plain: [], distributed: [], checked: [] };
    const start = async (store: Store) => (await store.executions.start({ name: "order" })).execution;
    const hotPaths: Operation[] = [
      { name: "executions.start", call: async (store) => start(store) },
      ...OPERATIONS,
    ];
    for (const operation of hotPaths) {
      const measure = (side: "plain" | "distributed") =>
        timedCalls(total, CONCURRENCY, async (i) => {
          const result = await operation.call(stores[side], runs[side]?.[i] as Execution, i);
          if (operation.name === "executions.start") runs[side]?.push(result as Execution);
        });
      const plain = await measure("plain");
      const distributed = await measure("distributed");
      rows.push({
        operation: operation.name,
        "plain ops/s": plain.perSecond,
        "distributed ops/s": distributed.perSecond,
        ratio: distributed.perSecond / plain.perSecond,
        "plain p50 ms": plain.p50,
        "distributed p50 ms": distributed.p50,
      });
    }
    // The fan-out check, apart from the timing: with the log level at error, Citus fails every
    // statement that would run on more than one shard, so each failure is one that fanned out.
    await cluster.query("alter database postgres set citus.multi_task_query_log_level = 'error'");
    try {
      const checking = await openStore({ connection: cluster.url, schema: "bench_dist", logger: quiet });
      try {
        for (const [n, operation] of hotPaths.entries()) {
          let fanned = 0;
          for (let i = 0; i < CHECKED; i++) {
            const result = await operation
              .call(checking, runs.checked?.[i] as Execution, i)
              .catch((error: Error) => {
                if (!/multi-task query/.test(error.message)) throw error;
                fanned++;
              });
            if (operation.name === "executions.start" && result) runs.checked?.push(result as Execution);
          }
          (rows[n] as Row)["fanned out"] = `${fanned} of ${CHECKED}`;
        }
      } finally {
        await checking.close();
      }
    } finally {
      await cluster.query("alter database postgres reset citus.multi_task_query_log_level");
    }
    for (const store of Object.values(stores)) await store.close();
    table(
      `one run's hot paths, ${total} calls each, ${CONCURRENCY} in flight (fanned out: calls of ${CHECKED} that sent a statement to more than one shard)`,
      rows,
    );
  } finally {
    await cluster.stop();
  }
}
