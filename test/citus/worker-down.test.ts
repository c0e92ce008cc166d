/**
 * A Citus worker node down (its server crashed, as a machine lost): the runs whose shards it holds fail
 * with an error that says so, the runs on the other worker keep working, nothing acknowledged is lost,
 * and once the node is back its runs work again, with the same store and no restart of it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleLogger, type Execution, openStore, type Store } from "../../src/index.js";
import { type CitusCluster, citusSkipped, runInOrder, startCitus, workloadCalls } from "../support/citus.js";

const unavailable = citusSkipped("the Citus tests");

const SCHEMA = "flowstore_down";
/** Warnings and errors only: the store's info line (it finds Citus) stays out of the output. */
const quiet = consoleLogger("warn");

describe.skipIf(unavailable !== undefined)("a Citus worker node down", () => {
  let cluster: CitusCluster;
  let store: Store;
  beforeAll(async () => {
    // Commits acknowledged once their WAL is written: the test cluster's default (synchronous_commit
    // off, fast) acknowledges a commit before, and a crash a moment later loses it.
    cluster = (await startCitus({ settings: { synchronous_commit: "on" } })) as CitusCluster;
    const migrating = await openStore({ connection: cluster.url, schema: SCHEMA, logger: quiet });
    await migrating.definitions.create({ name: "order", definition: {}, status: "active" });
    await migrating.close();
    await runInOrder(cluster.url, workloadCalls(SCHEMA));
    store = await openStore({ connection: cluster.url, schema: SCHEMA, logger: quiet });
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  });

  /** The port of the worker that holds the run's shard. */
  async function nodeOf(run: Execution): Promise<number> {
    const [row] = await cluster.query(
      `select nodeport from citus_shards
        where shardid = get_shard_id_for_distribution_column('${SCHEMA}.executions', '${run.id}')`,
    );
    return Number(row?.nodeport);
  }

  it("fails the runs on it, keeps the others, loses nothing, and works again when it is back", {
    timeout: 120_000,
  }, async () => {
    const [down, up] = cluster.workers;
    if (!down || !up) throw new Error("the cluster has two workers");
    // Runs on both workers, each with a step recorded (acknowledged) before the crash.
    const on = new Map<number, Execution[]>([
      [down.port, []],
      [up.port, []],
    ]);
    while ((on.get(down.port)?.length ?? 0) < 2 || (on.get(up.port)?.length ?? 0) < 2) {
      const { execution } = await store.executions.start({ name: "order" });
      await store.steps.record({ executionId: execution.id, number: 0, name: "reserve", output: { ok: 1 } });
      on.get(await nodeOf(execution))?.push(execution);
    }
    const [lost, lostToo] = on.get(down.port) as [Execution, Execution];
    const [kept] = on.get(up.port) as [Execution];

    await down.crash();
    // The other worker's runs go on: a step, a read, a completion.
    await store.steps.record({ executionId: kept.id, number: 1, name: "charge", output: { ok: 2 } });
    expect((await store.executions.complete(kept.id, { done: true })).status).toBe("completed");
    // The down worker's runs fail, with an error that names the node, and write nothing elsewhere.
    const unreachable = {
      name: "ConnectionError",
      message: expect.stringMatching(new RegExp(`Citus worker 127\\.0\\.0\\.1:${down.port}`)),
    };

    await expect(store.executions.get(lost.id)).rejects.toMatchObject(unreachable);
    await expect(
      store.steps.record({ executionId: lost.id, number: 1, name: "charge", output: { ok: 3 } }),
    ).rejects.toMatchObject(unreachable);

    await down.restart();
    // The same store, with nothing restarted on its side: what was acknowledged is there.
    expect((await store.steps.get(lost.id, 0))?.output).toEqual({ ok: 1 });
    expect(await store.steps.get(lost.id, 1)).toBeUndefined();
    await store.steps.record({ executionId: lost.id, number: 1, name: "charge", output: { ok: 3 } });
    expect((await store.executions.complete(lost.id, { done: true })).status).toBe("completed");
    expect((await store.executions.get(lostToo.id))?.status).toBe("pending");
    expect((await store.steps.get(kept.id, 1))?.output).toEqual({ ok: 2 });
  });
});
