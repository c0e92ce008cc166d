/**
 * docs/scale-out.md on a real Citus cluster (a coordinator and two workers, test/support/citus.ts):
 * the schema as `openStore` migrates it, distributed by the SQL block under "Distributing a schema"
 * run as written, lands where scripts/distribution-plan.json says, on an empty store and on one that
 * holds runs; then a small workload through the public API with openStore's defaults.
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  consoleLogger,
  type Execution,
  openStore,
  type Store,
  type StoreOptions,
  uuidv7,
} from "../../src/index.js";
import type { HistoryRange } from "../../src/partitions/index.js";
import { idAt, seedAt } from "../partitions/fixtures.js";
import {
  type CitusCluster,
  citusSkipped,
  distributeForWorkload,
  documentedCalls,
  runInOrder,
  startCitus,
} from "../support/citus.js";
import { rowsOf } from "../support/retention-fixtures.js";
import { until } from "../support/waiting.js";

interface PlanEntry {
  kind: "distributed" | "reference" | "local";
  column?: string;
  colocateWith?: string;
}
const plan: Record<string, PlanEntry> = JSON.parse(
  readFileSync(new URL("../../scripts/distribution-plan.json", import.meta.url), "utf8"),
).tables;

interface Placement {
  kind: string;
  column: string | null;
  colocation: number | null;
}

/** Where Citus put each table of the schema (partitions left out: they follow their parent). */
async function placements(cluster: CitusCluster, schema: string): Promise<Map<string, Placement>> {
  const rows = await cluster.query(
    `select c.relname as name, t.citus_table_type as kind, t.distribution_column as column, t.colocation_id as colocation
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       left join citus_tables t on t.table_name = c.oid
      where n.nspname = '${schema}' and c.relkind in ('r', 'p') and not c.relispartition`,
  );
  return new Map(
    rows.map((row) => [
      String(row.name),
      {
        kind: String(row.kind ?? "local"),
        column: row.kind === "distributed" ? String(row.column) : null,
        colocation: row.kind === "distributed" ? Number(row.colocation) : null,
      },
    ]),
  );
}

/** The differences between the placement and the plan, one line each; empty when they agree. */
function againstPlan(placed: Map<string, Placement>): string[] {
  const problems: string[] = [];
  const groupOf = (table: string) => placed.get(plan[table]?.colocateWith ?? table)?.colocation;
  const leaders = Object.entries(plan).filter(([, e]) => e.kind === "distributed" && !e.colocateWith);
  for (const [table, entry] of Object.entries(plan)) {
    const at = placed.get(table);
    if (!at) {
      problems.push(`${table}: not in the schema`);
    } else if (at.kind !== entry.kind) {
      problems.push(`${table}: ${at.kind}, the plan says ${entry.kind}`);
    } else if (entry.kind === "distributed") {
      if (at.column !== entry.column)
        problems.push(`${table}: by ${at.column}, the plan says ${entry.column}`);
      if (entry.colocateWith && at.colocation !== groupOf(table)) {
        problems.push(`${table}: group ${at.colocation}, not ${entry.colocateWith}'s (${groupOf(table)})`);
      }
      const shared = leaders.filter(
        ([other]) => other !== table && placed.get(other)?.colocation === at.colocation,
      );
      if (!entry.colocateWith && shared.length > 0) {
        problems.push(
          `${table}: shares group ${at.colocation} with ${shared.map(([name]) => name).join(", ")}`,
        );
      }
    }
  }
  for (const table of placed.keys()) if (!plan[table]) problems.push(`${table}: not in the plan`);
  return problems;
}

/** Runs, tasks, history and steps written before the schema is distributed. */
async function someRuns(store: Store): Promise<void> {
  const definition = await store.definitions.create({ name: "order", definition: {}, status: "active" });
  for (let i = 0; i < 3; i++) {
    const { execution } = await store.executions.start(
      i === 0 ? { definitionId: definition.id } : { name: "order", idempotencyKey: `order-${i}` },
    );
    await store.tasks.upsertMany([{ executionId: execution.id, taskId: "a" }]);
    await store.events.append(execution.id, [{ type: "started", payload: { i } }]);
    await store.steps.record({ executionId: execution.id, number: 0, name: "charge", output: { i } });
  }
  await store.kv.set("prefs", "theme", "dark");
}

/** Warnings and errors only: the store's info line (it finds Citus) stays out of the output. */
const quiet = consoleLogger("warn");

const unavailable = citusSkipped("the Citus tests");

describe.skipIf(unavailable !== undefined)("docs/scale-out.md on a Citus cluster", () => {
  let cluster: CitusCluster;
  beforeAll(async () => {
    cluster = (await startCitus()) as CitusCluster;
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  /** A schema migrated by openStore, with `fill` run on the store before it closes. */
  async function migrated(
    schema: string,
    fill?: (store: Store) => Promise<void>,
    options: Pick<StoreOptions, "partitions"> = {},
  ): Promise<void> {
    const store = await openStore({ connection: cluster.url, schema, ...options });
    try {
      await fill?.(store);
    } finally {
      await store.close();
    }
  }

  /** A store on a schema migrated by openStore and distributed by the document's calls, for work. */
  async function distributed(schema: string, options: Pick<StoreOptions, "partitions"> = {}): Promise<Store> {
    await distributeForWorkload(cluster.url, schema, options);
    return openStore({ connection: cluster.url, schema, logger: quiet });
  }

  it("places every table as the plan says, on an empty store", { timeout: 120_000 }, async () => {
    await migrated("flowstore");
    await runInOrder(cluster.url, documentedCalls());
    expect(againstPlan(await placements(cluster, "flowstore"))).toEqual([]);
  });

  it("places every table as the plan says, on a store that holds runs", { timeout: 120_000 }, async () => {
    await migrated("flowstore_runs", someRuns);
    await runInOrder(cluster.url, documentedCalls("flowstore_runs"));
    expect(againstPlan(await placements(cluster, "flowstore_runs"))).toEqual([]);
    const [counts] = await cluster.query(
      `select (select count(*) from flowstore_runs.executions where definition_id is not null)::int as runs,
              (select count(*) from flowstore_runs.tasks)::int as tasks,
              (select count(*) from flowstore_runs.events)::int as events,
              (select count(*) from flowstore_runs.steps)::int as steps`,
    );
    expect(counts).toEqual({ runs: 3, tasks: 3, events: 3, steps: 3 });
  });

  it("opens a distributed store with openStore's defaults, planning each call with its values", {
    timeout: 60_000,
  }, async () => {
    await migrated("flowstore_open");
    await runInOrder(cluster.url, documentedCalls("flowstore_open"));
    const said: string[] = [];
    const note = (_fields: object, message?: string) => void said.push(message ?? "");
    const logger = { debug: () => {}, info: note, warn: note, error: note };
    const store = await openStore({ connection: cluster.url, schema: "flowstore_open", logger });
    try {
      // Generic plans (the default elsewhere) fail here: "could not create distributed plan".
      const definition = await store.definitions.create({ name: "order", definition: {} });
      const { execution } = await store.executions.start({ definitionId: definition.id, input: { n: 1 } });
      await store.steps.record({
        executionId: execution.id,
        number: 0,
        name: "charge",
        output: { ok: true },
      });
      expect((await store.executions.get(execution.id))?.input).toEqual({ n: 1 });
      expect((await store.steps.get(execution.id, 0))?.output).toEqual({ ok: true });
      // Recorded again: the first record stands (the insert, then the read, apart on Citus).
      const again = await store.steps.record({
        executionId: execution.id,
        number: 0,
        name: "charge",
        output: 2,
      });
      expect(again).toMatchObject({ created: false, step: { output: { ok: true } } });
      await expect(
        store.steps.record({ executionId: execution.id, number: 0, name: "refund", output: 2 }),
      ).rejects.toMatchObject({ name: "NonDeterminismError" });
      // Upserts whose conflict clause once called now(), which Citus refuses there.
      expect(await store.kv.set("prefs", "theme", "dark")).toEqual({ version: 1 });
      expect(await store.kv.set("prefs", "theme", "light")).toEqual({ version: 2 });
      expect((await store.kv.get("prefs", "theme"))?.version).toBe(2);
      await store.componentState.put(execution.id, "cart", { items: 1 });
      await store.componentState.put(execution.id, "cart", { items: 2 });
      expect(await store.componentState.get(execution.id, "cart")).toMatchObject({
        state: { items: 2 },
        version: 2,
      });
      await store.events.append(execution.id, [{ type: "charged", payload: { ok: true } }]);
      expect((await store.events.list(execution.id)).items.map((event) => event.type)).toEqual(["charged"]);
      // An append's steps go apart there (history/append-distributed.ts), with the same refusals: a
      // history not at the number expected, a run that is not there; and a waiter woken at commit.
      const woken = store.events.wait(execution.id, {
        afterSequence: 1,
        timeoutMs: 10_000,
        pollIntervalMs: 60_000,
      });
      const appended = await store.events.append(execution.id, [{ type: "a" }, { type: "b" }], {
        expectedLastSequence: 1,
        notify: true,
      });
      expect(appended.map((event) => event.sequence)).toEqual([2, 3]);
      expect((await woken).map((event) => event.type)).toEqual(["a", "b"]);
      await expect(
        store.events.append(execution.id, [{ type: "late" }], { expectedLastSequence: 1 }),
      ).rejects.toMatchObject({ name: "ConflictError" });
      await expect(
        store.events.append(execution.id, [{ type: "first" }], { expectedLastSequence: 0 }),
      ).rejects.toMatchObject({ name: "ConflictError" });
      await expect(
        store.events.append("01900000-0000-7000-8000-000000000000", [{ type: "x" }]),
      ).rejects.toMatchObject({ name: "NotFoundError" });
      expect(await store.events.lastSequence(execution.id)).toBe(3);
      await store.streams.write(execution.id, "tokens", "a");
      await store.streams.writeMany(execution.id, "tokens", ["b", "c"], { close: true });
      const page = await store.streams.read(execution.id, "tokens");
      expect(page.chunks.map((chunk) => chunk.data)).toEqual(["a", "b", "c"]);
      expect(said).toContainEqual(expect.stringMatching(/Citus/));
    } finally {
      await store.close();
    }
  });

  it("updates, finishes and counts runs, and a worker drains a queue, with openStore's defaults", {
    timeout: 60_000,
  }, async () => {
    const store = await distributed("flowstore_work");
    try {
      // Each run's writes go alone: batched with other runs', a statement would reach every node.
      expect(store.driver.capabilities.distributed).toBe(true);
      // A pg Pool of the user's is found to be on Citus too.
      const pool = new pg.Pool({ connectionString: cluster.url });
      const onPool = await openStore({ connection: pool, schema: "flowstore_work", logger: quiet });
      try {
        expect(onPool.driver.capabilities.distributed).toBe(true);
        await onPool.definitions.create({ name: "refund", definition: {} });
      } finally {
        await onPool.close();
        await pool.end();
      }
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const started = await Promise.all(
        [0, 1, 2].map(async () => (await store.executions.start({ name: "order" })).execution),
      );
      const [done, failed, cancelled] = started as [Execution, Execution, Execution];
      // now() in an update's CASE or COALESCE, which Citus refuses, is gone from the status change.
      const running = await store.executions.update(done.id, { status: "running" });
      expect(running.startedAt).toBeInstanceOf(Date);
      expect(running.completedAt).toBeNull();
      // Completions at once: batched, they were one statement over several shards, by ctid.
      const finished = await Promise.all([
        store.executions.complete(done.id, { ok: true }),
        store.executions.fail(failed.id, { message: "declined" }),
        store.executions.cancel(cancelled.id),
      ]);
      expect(finished.map((run) => run.status)).toEqual(["completed", "failed", "cancelled"]);
      expect((await store.executions.get(done.id))?.completedAt).toBeInstanceOf(Date);
      const counts = await store.executions.statusCounts();
      expect([counts.completed, counts.failed, counts.cancelled]).toEqual([
        { count: 1, exact: true },
        { count: 1, exact: true },
        { count: 1, exact: true },
      ]);
      // The claim's update, once made distributed by queue_pauses as a reference table, refused
      // its lease's gen_random_uuid(): no job was ever worked.
      await store.jobs.enqueue([1, 2, 3].map((n) => ({ queue: "mail", name: "send", payload: { n } })));
      const seen: number[] = [];
      const worker = store.jobs.work({
        queue: "mail",
        handler: async (job) => void seen.push((job.payload as { n: number }).n),
      });
      await until(() => seen.length === 3, 20_000);
      await worker.stop();
      expect(seen.sort()).toEqual([1, 2, 3]);
      expect(worker.counts).toMatchObject({ completed: 3, failed: 0 });
    } finally {
      await store.close();
    }
  });

  it("fires timers and dispatches schedules into the queue", { timeout: 60_000 }, async () => {
    const store = await distributed("flowstore_timers");
    try {
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const { execution } = await store.executions.start({ name: "order" });
      const past = new Date(Date.now() - 1_000);
      await store.timers.schedule({
        executionId: execution.id,
        name: "remind",
        fireAt: past,
        queue: "fired",
      });
      await store.timers.schedule({ name: "global", fireAt: past, queue: "fired" });
      expect(await store.timers.dispatchDue()).toBe(2);
      const fired = await store.jobs.claim({ queue: "fired", workerId: "w", limit: 10 });
      expect(fired.map((job) => job.executionId).sort()).toEqual([execution.id, null].sort());
      await store.timers.schedule({ name: "leased", fireAt: past });
      const [leased] = await store.timers.claimDue({ workerId: "w" });
      expect(leased?.name).toBe("leased");
      await store.timers.ack(leased as NonNullable<typeof leased>);
      expect(await store.timers.listAll()).toEqual([]);
      // A schedule ticking every second: each tick enqueued once, by the dispatcher.
      await store.schedules.set({ name: "tick", cron: "* * * * * *", queue: "ticks" });
      const dispatcher = store.schedules.startDispatcher({ pollIntervalMs: 100 });
      const ticks = async () => (await store.jobs.stats("ticks"))[0]?.waiting ?? 0;
      await until(async () => (await ticks()) >= 2, 20_000);
      await dispatcher.stop();
    } finally {
      await store.close();
    }
  });

  it("writes task trees, actor state and kv prefixes", {
    timeout: 60_000,
  }, async () => {
    const store = await distributed("flowstore_more");
    try {
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const { execution } = await store.executions.start({ name: "order" });
      // Tasks found by their id alone go to their run's shard (read from task_ids first).
      const root = await store.tasks.create({ executionId: execution.id, taskId: "fulfil" });
      const children = await store.tasks.createChildren(root.taskExecId, [
        { taskId: "reserve" },
        { taskId: "charge" },
      ]);
      expect(children.map((child) => child.parentId)).toEqual([root.taskExecId, root.taskExecId]);
      const tree = await store.tasks.tree(root.taskExecId);
      expect(tree.map((node) => [node.taskId, node.depth])).toEqual([
        ["fulfil", 0],
        ["reserve", 1],
        ["charge", 1],
      ]);
      const locked = await store.transaction((tx) => tx.tasks.getForUpdate(root.taskExecId));
      expect(locked.taskExecId).toBe(root.taskExecId);
      const [upserted] = await store.tasks.upsertMany([{ executionId: execution.id, taskId: "ship" }]);
      const [overwritten] = await store.tasks.upsertMany([
        { executionId: execution.id, taskId: "ship", taskExecId: upserted?.taskExecId, status: "running" },
      ]);
      expect(overwritten).toMatchObject({ status: "running", version: 2 });
      // Durable state: the replaced snapshot read outside the insert.
      const snapshot = (version: number) => ({
        persistenceId: "cart-1",
        version,
        payload: Buffer.from(`v${version}`),
        manifest: "Cart",
      });
      expect(await store.durableState.write(snapshot(1))).toEqual({ written: true });
      expect(await store.durableState.write(snapshot(2))).toEqual({ written: true });
      expect((await store.durableState.latest("cart-1"))?.version).toBe(2);
      // kv: the prefixes merged from every shard, and expired entries swept shard by shard.
      for (const prefix of ["b", "a", "c"]) await store.kv.set(prefix, "k", "v");
      await store.kv.set("gone", "k", "v", { ttlMs: 1 });
      await until(async () => (await store.kv.get("gone", "k")) === undefined);
      expect((await store.kv.listPrefixes({ limit: 2 })).items).toEqual(["a", "b"]);
      expect(await store.kv.sweepExpired()).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("prunes finished runs with all they own, never a run whose parent or child still goes", {
    timeout: 60_000,
  }, async () => {
    const store = await distributed("flowstore_prune");
    try {
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const start = async (parentExecutionId?: string, idempotencyKey?: string) =>
        (await store.executions.start({ name: "order", parentExecutionId, idempotencyKey })).execution.id;
      const done = await start(undefined, "order-1");
      const parent = await start();
      const child = await start(parent);
      const running = await start();
      const underRunning = await start(running);
      // What the finished run owns, on every kind of table: its shard's, the registries' and the local ones.
      const task = await store.tasks.create({ executionId: done, taskId: "fulfil" });
      await store.tasks.createChildren(task.taskExecId, [{ taskId: "reserve" }]);
      await store.events.append(done, [{ type: "charged", payload: { ok: true } }]);
      await store.steps.record({ executionId: done, number: 0, name: "charge", output: { ok: true } });
      await store.streams.write(done, "tokens", "a");
      await store.componentState.put(done, "cart", { items: 1 });
      await store.correlations.add("order-1", done);
      await store.kv.set("carts", done, "v", { owner: done });
      await store.signals.claim("approve", done);
      await store.timers.schedule({
        executionId: done,
        name: "remind",
        fireAt: new Date(Date.now() + 3_600_000),
      });
      await store.jobs.enqueue([{ queue: "mail", name: "send", executionId: done }]);
      for (const id of [done, parent, underRunning]) await store.executions.complete(id, null);

      const cut = () => ({ finishedBefore: new Date(Date.now() + 60_000) });
      expect(await store.countPrunable(cut())).toBe(1);
      const pruned = await store.prune(cut());
      expect(pruned).toMatchObject({
        executions: 1,
        tasks: 2,
        events: 1,
        steps: 1,
        streams: 1,
        componentState: 1,
        correlations: 1,
        kv: 1,
        signals: 1,
        timers: 1,
        jobs: 1,
      });
      const [left] = await cluster.query(
        `select (select count(*) from flowstore_prune.executions)::int as runs,
                (select count(*) from flowstore_prune.execution_keys)::int as keys,
                (select count(*) from flowstore_prune.task_ids)::int as task_ids,
                (select count(*) from flowstore_prune.event_heads)::int as heads,
                (select count(*) from flowstore_prune.stream_chunks)::int as chunks`,
      );
      expect(left).toEqual({ runs: 4, keys: 0, task_ids: 0, heads: 0, chunks: 0 });
      await expect(store.executions.get(done)).rejects.toMatchObject({ name: "NotFoundError" });

      // The child finishes: it and its parent go; the run under a running one stays, by maintenance.
      await store.executions.complete(child, null);
      expect(await store.countPrunable(cut())).toBe(2);
      const runs: number[] = [];
      const maintenance = store.startMaintenance({
        olderThanMs: 0,
        onRun: (run) => runs.push(run.executions),
      });
      await until(() => runs.length > 0, 20_000);
      await maintenance.stop();
      expect(runs[0]).toBe(2);
      for (const id of [parent, child]) {
        await expect(store.executions.get(id)).rejects.toMatchObject({ name: "NotFoundError" });
      }
      for (const id of [running, underRunning]) expect((await store.executions.get(id)).id).toBe(id);
    } finally {
      await store.close();
    }
  });

  it("prunes the runs of an aged history range row by row, and drops the range once it is empty", {
    timeout: 60_000,
  }, async () => {
    const store = await distributed("flowstore_ranges", { partitions: { days: 1, aheadDays: 3 } });
    try {
      const day = (await store.listPartitions())[1] as HistoryRange;
      const start = new Date(day.startsAt as Date);
      const done = await seedAt(store, "completed", idAt(start, 1));
      const going = await seedAt(store, "running", idAt(start, 2));
      const kept = await rowsOf(store, going);
      // A range with runs that stay is not dropped on Citus (docs/scale-out.md): its runs go row by row.
      const cut = () => ({
        finishedBefore: new Date(Math.max(Date.now(), day.endsAt.getTime()) + 3_600_000),
      });
      const first = await store.prune(cut());
      // The range before it, empty, goes; this one, with a run still going, stays.
      expect(first).toMatchObject({ executions: 1, movedExecutions: 0 });
      expect((await store.listPartitions()).map((range) => range.name)).toContain(day.name);
      expect(Object.values(await rowsOf(store, done)).every((n) => n === 0)).toBe(true);
      expect(await rowsOf(store, going)).toEqual(kept);
      await store.events.append(going, [{ type: "resumed" }]);
      expect((await store.events.list(going)).items.map((event) => event.sequence)).toEqual([1, 2, 3]);
      // Once the last run has gone, so does the range, on every node (its shards were on both workers).
      const workersHolding = async () => {
        const [row] = await cluster.query(
          `select count(*)::int as n from run_command_on_workers($$
           select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'flowstore_ranges' and c.relname like '%${day.name}%'$$) where result::int > 0`,
        );
        return row?.n;
      };
      expect(await workersHolding()).toBe(2);
      await store.executions.complete(going, null);
      const second = await store.prune(cut());
      expect(second.executions).toBe(1);
      expect(second.partitions).toBe(1);
      expect((await store.listPartitions()).map((range) => range.name)).not.toContain(day.name);
      const [left] = await cluster.query(
        `select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'flowstore_ranges' and c.relname like '%${day.name}%'`,
      );
      expect(left).toEqual({ n: 0 });
      expect(await workersHolding()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("claims, delivers to, lists and releases signal tokens, a token's row apart from its run", {
    timeout: 60_000,
  }, async () => {
    const store = await distributed("flowstore_signals");
    try {
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const [a, b, c] = (await Promise.all(
        [0, 1, 2].map(async () => (await store.executions.start({ name: "order" })).execution.id),
      )) as [string, string, string];
      // Claimed at once by three runs: one holds it, the others are told who.
      const claims = await Promise.all(
        [a, b, c].map((id) => store.signals.claim("approve", id, { ifHeld: "return", metadata: { id } })),
      );
      const holder = claims.flatMap((claim) => (claim.claimed ? [claim.signal.executionId] : []));
      expect(holder).toHaveLength(1);
      for (const claim of claims) {
        if (!claim.claimed) expect(claim.heldBy.executionId).toBe(holder[0]);
      }
      const first = holder[0] as string;
      const others = [a, b, c].filter((id) => id !== first) as [string, string];
      expect((await store.signals.claim("approve", first)).signal.metadata).toEqual({ id: first });
      await expect(store.signals.claim("approve", others[0])).rejects.toMatchObject({
        name: "ConflictError",
      });
      expect((await store.signals.get("approve"))?.executionId).toBe(first);
      expect((await store.signals.list(first)).items.map((signal) => signal.token)).toEqual(["approve"]);

      const delivered = await store.signals.deliver("approve", { ok: true });
      expect(delivered.event).toMatchObject({ executionId: first, type: "signal", correlationId: "approve" });
      expect((await store.events.list(first)).items.map((event) => event.payload)).toEqual([{ ok: true }]);

      // The holder finishes: the token is free, and the next claim takes its row over.
      await store.signals.claim("spare", others[1]);
      await store.executions.complete(first, null);
      expect(await store.signals.get("approve")).toBeNull();
      expect((await store.signals.list(first)).items).toEqual([]);
      await expect(store.signals.claim("late", first)).rejects.toMatchObject({ name: "ConflictError" });
      expect((await store.signals.claim("approve", others[0])).signal.executionId).toBe(others[0]);
      await store.executions.complete(others[1], null);
      // A page of one: the finished run's "spare", claimed first, is read and left out.
      const page = await store.signals.listAll({ limit: 1 });
      expect(page.items.map((signal) => [signal.token, signal.executionId])).toEqual([
        ["approve", others[0]],
      ]);
      expect(page.nextCursor).toBeNull();

      expect(await store.signals.release("approve", { executionId: first })).toBe(false);
      expect(await store.signals.release("approve")).toBe(true);
      expect(await store.signals.get("approve")).toBeNull();
      expect(await store.signals.deliver("approve", 1, { ifNotHeld: "return" })).toEqual({
        delivered: false,
      });
      await expect(store.signals.deliver("approve", 1)).rejects.toMatchObject({ name: "NotFoundError" });
      await expect(
        store.signals.claim("approve", "00000000-0000-7000-8000-000000000000"),
      ).rejects.toMatchObject({
        name: "NotFoundError",
      });
      const [left] = await cluster.query(
        `select (select count(*) from flowstore_signals.events)::int as events,
                (select count(*) from flowstore_signals.signals)::int as signals`,
      );
      expect(left).toEqual({ events: 1, signals: 1 });
    } finally {
      await store.close();
    }
  });

  // Citus commits a transaction that wrote on two nodes node by node: a claim can see the holder's
  // token row committed while the holder's run is not yet committed on its own node. Here the run's
  // insert is held open while its token row is committed apart: a claim must wait for the run, not
  // take the token from it.
  it("never takes a token from a holder whose run is not yet committed on its node", {
    timeout: 60_000,
  }, async () => {
    const store = await distributed("flowstore_signals_late");
    try {
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const claimer = (await store.executions.start({ name: "order" })).execution.id;
      const holder = uuidv7();
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inserted!: () => void;
      const wrote = new Promise<void>((resolve) => {
        inserted = resolve;
      });
      const late = store.transaction(async (tx) => {
        await tx.executions.start({ id: holder, name: "order", status: "running" });
        inserted();
        await held;
      });
      await wrote;
      await cluster.query(
        `insert into flowstore_signals_late.signals (token, execution_id) values ('approve', '${holder}')`,
      );
      const claim = store.signals.claim("approve", claimer, { ifHeld: "return" });
      // The claim waits on the run's insert (a transaction of the cluster's waits on another).
      await until(async () => {
        const [row] = await cluster.query("select count(*)::int as n from citus_lock_waits");
        return (row?.n as number) > 0;
      });
      release();
      await late;
      const outcome = await claim;
      expect(outcome.claimed).toBe(false);
      expect(outcome.claimed ? undefined : outcome.heldBy.executionId).toBe(holder);
      expect((await store.signals.get("approve"))?.executionId).toBe(holder);
    } finally {
      await store.close();
    }
  });

  // The scale property: what is about one run goes to one node. With the log level at error, Citus
  // fails any statement that runs on more than one shard, so each call below shows it.
  it("sends every statement about one run to one shard", { timeout: 60_000 }, async () => {
    const setup = await distributed("flowstore_one");
    const definition = await setup.definitions.create({ name: "order", definition: {}, status: "active" });
    await setup.close();
    await cluster.query("alter database postgres set citus.multi_task_query_log_level = 'error'");
    try {
      const store = await openStore({ connection: cluster.url, schema: "flowstore_one", logger: quiet });
      try {
        const { execution } = await store.executions.start({ definitionId: definition.id, input: { n: 1 } });
        const id = execution.id;
        await store.executions.get(id);
        await store.executions.update(id, { status: "running" });
        await store.executions.mergeState(id, { step: 1 });
        await store.steps.record({ executionId: id, number: 0, name: "charge", output: { ok: true } });
        await store.steps.get(id, 0);
        await store.events.append(id, [{ type: "charged", payload: {} }]);
        await store.events.list(id);
        const root = await store.tasks.create({ executionId: id, taskId: "fulfil" });
        await store.tasks.createChildren(root.taskExecId, [{ taskId: "reserve" }]);
        await store.tasks.tree(root.taskExecId);
        await store.tasks.get(root.taskExecId);
        await store.tasks.update(root.taskExecId, { status: "running" });
        await store.streams.write(id, "tokens", "a");
        await store.streams.read(id, "tokens");
        await store.componentState.put(id, "cart", { items: 1 });
        await store.componentState.get(id, "cart");
        await store.correlations.add(`order-${id}`, id);
        await store.correlations.listForExecution(id);
        await store.kv.set("prefs", "theme", "dark");
        await store.kv.get("prefs", "theme");
        await store.kv.list("prefs");
        await store.signals.claim(`approve-${id}`, id);
        await store.signals.get(`approve-${id}`);
        await store.signals.deliver(`approve-${id}`, { ok: true });
        await store.signals.release(`approve-${id}`);
        await store.executions.complete(id, { done: true });
      } finally {
        await store.close();
      }
    } finally {
      await cluster.query("alter database postgres reset citus.multi_task_query_log_level");
    }
  });

  // Why the block starts with its settings. With citus.enable_local_reference_table_foreign_keys
  // on (Citus's default), making `definitions` a reference table converts every local table joined to
  // it by foreign keys (executions and, through theirs, tasks, component_state, correlations,
  // event_heads, events, with their partitions) into Citus local tables. That conversion renames each
  // table's constraints with its own shard id, a partitioned table's and each partition's apart, so the
  // re-attach of a partition misses the parent's renamed CHECK (tasks_status_check_<id>): 42804.
  it("fails at the first call without the block's settings", { timeout: 60_000 }, async () => {
    await migrated("flowstore_bare");
    const calls = documentedCalls("flowstore_bare").filter((statement) => !/^set /i.test(statement));
    await expect(runInOrder(cluster.url, calls)).rejects.toMatchObject({
      code: "42804",
      message: expect.stringMatching(
        /^select create_reference_table\('flowstore_bare\.definitions'\): 42804 child table is missing constraint "\w+_check_\d+"/,
      ),
    });
  });
});
