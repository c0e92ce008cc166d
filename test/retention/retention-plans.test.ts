/**
 * Retention finds what it deletes through indexes whatever the pool's plan settings. Every statement
 * store.prune() and FlowstoreSaver.prune() send is explained for the values it sent (what a pg.Pool of
 * the user's runs: a plan made for those values) and generically (what the store's own pools run, as
 * they force generic plans), and none may read a filled table whole or walk an index whole.
 *
 * Each table holds about 100,000 rows and a batch is 500 executions (or threads). The plans are read
 * twice: before the tables were ever analyzed (as after a bulk load, before autovacuum gets to them),
 * where a batch's `execution_id = any($1)` read every table it deleted from whole; and once analyzed,
 * where the generic plans of the batch lock and of the sweeps read executions whole, and LangGraph's
 * thread delete joined its batch to three whole tables. Real server only, as in the other explain tests.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../src/adapters/langgraph/index.js";
import { openStore, type Store } from "../../src/index.js";
import { bulkFill } from "../support/bulk-fill.js";
import {
  type ExplainRow,
  explainGeneric,
  markSmallPartitions,
  type PlanNode,
  type Recorded,
  recordingLogger,
} from "../support/explain.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../support/harness.js";

const DAY = 86_400_000;
const EXECUTIONS = 50_000;
/** Executions that finished before the cut: one default batch. */
const PRUNABLE = 500;

const opened: { store: Store; pool: pg.Pool }[] = [];
afterAll(async () => {
  for (const { store, pool } of opened.splice(0)) {
    await store.close();
    await pool.end();
  }
});

/**
 * A store on a pg.Pool of the user's (no plan settings of the store's), recording the statements it
 * sends with their values. Autovacuum is off for its tables, so their statistics are what the test says.
 */
async function openOnUserPool(): Promise<{ store: Store; statements: Recorded[] }> {
  const { statements, logger } = recordingLogger();
  const pool = new pg.Pool({ connectionString: await fileDatabaseUrl(), max: 2 });
  const store = await openStore({
    connection: pool,
    schema: uniqueSchema("rp"),
    logStatements: { values: true },
    logger,
  });
  opened.push({ store, pool });
  const { rows } = await store.query<{ name: string }>(
    "select relname as name from pg_class where relnamespace = $1::regnamespace and relkind = 'r'",
    [store.schema],
  );
  for (const { name } of rows) {
    await store.query(`alter table "${store.schema}".${name} set (autovacuum_enabled = off)`);
  }
  statements.length = 0;
  return { store, statements };
}

/**
 * 50,000 executions with time-ordered ids, the first 500 finished 40 days ago, the rest yesterday; one
 * in ten is the child of the one before. Each owns two rows of every kind (one event head, one job, one
 * completed-job record); besides, 50,000 dead jobs and 50,000 completed-job records of no execution,
 * 500 of each older than the cut, 500 expired kv entries and 100,000 recent pending blob contents.
 */
async function fillExecutions(store: Store): Promise<void> {
  const s = `"${store.schema}"`;
  const def = await store.definitions.create({ name: "w", definition: {} });
  await bulkFill(store, (tx) => fillExecutionsIn(tx, s, def.id));
}

async function fillExecutionsIn(store: Pick<Store, "query">, s: string, definitionId: string): Promise<void> {
  const id = (i: string) => `('01900000-0000-7000-8000-' || lpad(to_hex(${i}), 12, '0'))::uuid`;
  await store.query(
    `insert into ${s}.executions (id, definition_id, name, status, parent_execution_id, created_at, completed_at)
     select ${id("i")}, $1, 'w', 'completed', case when i % 10 = 0 then ${id("i - 1")} end,
            now() - interval '41 days' + i * interval '1 second',
            case when i <= $2 then now() - interval '40 days' + i * interval '1 second'
                 else now() - interval '1 day' end
       from generate_series(1, $3::int) i`,
    [definitionId, PRUNABLE, EXECUTIONS],
  );
  const owned = `from ${s}.executions e, generate_series(0, 1) k order by e.id, k`;
  for (const insert of [
    `steps (execution_id, step_number, name, output) select e.id, k, 'step', '{"ok": true}'`,
    `streams (execution_id, name, next_index) select e.id, 's' || k, 1`,
    `stream_chunks (execution_id, stream, chunk_index, data) select e.id, 's', k, '"token"'`,
    `events (execution_id, seq, type, payload) select e.id, k + 1, 'step_completed', '{"ok": true}'`,
    `signals (token, execution_id) select 'hook-' || e.id || '-' || k, e.id`,
    `tasks (task_exec_id, task_id, execution_id, status) select gen_random_uuid(), 't' || k, e.id, 'completed'`,
    `component_state (execution_id, component_id, state) select e.id, 'c' || k, '{}'`,
    `correlations (key, execution_id) select 'key-' || e.id || '-' || k, e.id`,
    `timers (id, execution_id, name, fire_at) select gen_random_uuid(), e.id, 't' || k, now() + interval '1 day'`,
    `kv (prefix, key, value, owner, expires_at)
       select 'owned', e.id || '-' || k, '\\x00', e.id::text, case when k = 0 then now() + interval '1 day' end`,
    `blobs (key, id, backend, size, sha256, execution_id)
       select 'blob-' || e.id || '-' || k, gen_random_uuid(), 'postgres', 1, '', e.id`,
  ]) {
    await store.query(`insert into ${s}.${insert} ${owned}`);
  }
  const one = `from ${s}.executions e order by e.id`;
  await store.query(`insert into ${s}.event_heads (execution_id, last_seq) select e.id, 2 ${one}`);
  await store.query(
    `insert into ${s}.jobs (id, queue, name, execution_id) select gen_random_uuid(), 'q', 'step', e.id ${one}`,
  );
  await store.query(
    `insert into ${s}.jobs_history (id, queue, name, payload, priority, attempts, execution_id, created_at)
     select gen_random_uuid(), 'q', 'step', 'null', 0, 1, e.id, e.created_at ${one}`,
  );
  await store.query(
    `insert into ${s}.blob_chunks (blob_id, seq, data) select id, 0, '\\x00' from ${s}.blobs order by id`,
  );
  const old = (i: string) => `case when ${i} <= ${PRUNABLE} then now() - interval '40 days' else now() end`;
  await store.query(
    `insert into ${s}.jobs (id, queue, name, status, updated_at)
     select gen_random_uuid(), 'q', 'lost', 'dead', ${old("i")} from generate_series(1, $1::int) i`,
    [EXECUTIONS],
  );
  await store.query(
    `insert into ${s}.jobs_history (id, queue, name, payload, priority, attempts, created_at, completed_at)
     select gen_random_uuid(), 'q', 'done', 'null', 0, 1, now(), ${old("i")} from generate_series(1, $1::int) i`,
    [EXECUTIONS],
  );
  await store.query(
    `insert into ${s}.kv (prefix, key, value, expires_at)
     select 'ttl', 'k' || i, '\\x00', now() - interval '1 minute' from generate_series(1, $1::int) i`,
    [PRUNABLE],
  );
  await store.query(
    `insert into ${s}.blob_pending (id, backend, created_at)
     select gen_random_uuid(), 'postgres', now() from generate_series(1, 100000)`,
  );
}

/**
 * 50,000 LangGraph threads with two checkpoints each, a write per checkpoint and a channel value per
 * checkpoint: 500 idle for two days, 500 written to just now, the rest an hour ago.
 */
async function fillThreads(store: Store, scope: string): Promise<void> {
  const s = `"${store.schema}"`;
  await store.query(
    `insert into ${s}.langgraph_threads (scope, thread_id, updated_at)
     select $1, 'thread-' || lpad(i::text, 6, '0'),
            case when i <= 500 then now() - interval '2 days' when i <= 1000 then now()
                 else now() - interval '1 hour' end
       from generate_series(1, $2::int) i`,
    [scope, EXECUTIONS],
  );
  const each = `from ${s}.langgraph_threads t, generate_series(1, 2) k where t.scope = $1 order by t.thread_id, k`;
  for (const insert of [
    `langgraph_checkpoints (scope, thread_id, checkpoint_ns, checkpoint_id, checkpoint, metadata)
       select $1, t.thread_id, '', 'cp-' || k, jsonb_build_object('channel_versions', jsonb_build_object('step', k::text)), '{}'`,
    `langgraph_writes (scope, thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob)
       select $1, t.thread_id, '', 'cp-' || k, 'task', 0, 'step', 'json', '\\x00'`,
    `langgraph_blobs (scope, thread_id, checkpoint_ns, channel, version, type, blob)
       select $1, t.thread_id, '', 'step', k::text, 'json', '\\x00'`,
  ]) {
    await store.query(`insert into ${s}.${insert} ${each}`, [scope]);
  }
}

type Node = PlanNode & { "Relation Name"?: string };

/** What in a plan reads more than it must: a filled table read whole, an index walked whole. */
function wholeReads(plan: PlanNode, filled: Set<string>, parent?: PlanNode): string[] {
  const n = plan as Node;
  const type = n["Node Type"];
  // A partition is as filled as its table: executions_legacy is executions' (its small partitions
  // are marked as such before, see markSmallPartitions).
  const table = (n["Relation Name"] ?? "").replace(/_(legacy|default|\d{8})$/, "");
  const found: string[] = [];
  if (type === "Seq Scan" && filled.has(table)) found.push(`Seq Scan on ${n["Relation Name"]}`);
  // An index walked in order under a Limit stops at the limit (the oldest rows first): not a whole read.
  if (/^Index( Only)? Scan$/.test(type) && !n["Index Cond"] && parent?.["Node Type"] !== "Limit") {
    found.push(`${type} of all ${n["Index Name"]}`);
  }
  return [...found, ...(plan.Plans ?? []).flatMap((child) => wholeReads(child, filled, plan))];
}

/** Each distinct statement once, with the values it was first sent with; transaction control left out. */
function distinct(statements: Recorded[]): Recorded[] {
  const seen = new Map<string, Recorded>();
  for (const st of statements) {
    if (/^\s*(select|insert|update|delete|with)\b/i.test(st.sql) && !seen.has(st.sql)) seen.set(st.sql, st);
  }
  return [...seen.values()];
}

/** Both plans of each statement, with what they read whole (nothing, when all is well). */
async function check(store: Store, statements: Recorded[], filled: Set<string>): Promise<string[]> {
  const faults: string[] = [];
  for (const { sql, values } of distinct(statements)) {
    const modes = [
      {
        kind: "for its values",
        explain: () => store.query<ExplainRow>(`explain (format json) ${sql}`, values),
      },
      { kind: "generic", explain: () => explainGeneric(store, sql) },
    ];
    for (const mode of modes) {
      const { rows } = await mode.explain();
      const plan = await markSmallPartitions(store, rows[0]?.["QUERY PLAN"][0].Plan as PlanNode);
      const found = wholeReads(plan, filled);
      if (found.length)
        faults.push(`${found.join(", ")} (plan ${mode.kind}) in: ${sql.replace(/\s+/g, " ")}`);
    }
  }
  return faults;
}

async function analyze(store: Store, tables: Set<string>): Promise<void> {
  for (const table of tables) await store.query(`analyze "${store.schema}".${table}`);
}

const OWNED = [
  "executions",
  "steps",
  "streams",
  "stream_chunks",
  "events",
  "event_heads",
  "signals",
  "tasks",
  "component_state",
  "correlations",
  "timers",
  "kv",
  "blobs",
  "blob_chunks",
  "jobs",
  "jobs_history",
  "blob_pending",
];

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("retention plans", () => {
    it("store.prune() reads every table by index, planned for its values or generically", {
      timeout: 300_000,
    }, async () => {
      const { store, statements } = await openOnUserPool();
      await fillExecutions(store);
      const filled = new Set(OWNED);
      statements.length = 0;
      const result = await store.prune({ finishedBefore: new Date(Date.now() - 30 * DAY) });
      expect(result).toMatchObject({
        executions: PRUNABLE,
        steps: 2 * PRUNABLE,
        events: 2 * PRUNABLE,
        signals: 2 * PRUNABLE,
        streams: 2 * PRUNABLE,
        blobs: 2 * PRUNABLE,
        jobs: PRUNABLE,
        jobsHistory: 2 * PRUNABLE,
        deadJobs: PRUNABLE,
        expiredKv: PRUNABLE,
      });
      const recorded = [...statements];
      expect.soft(await check(store, recorded, filled), "never analyzed").toEqual([]);
      await analyze(store, filled);
      expect(await check(store, recorded, filled), "analyzed").toEqual([]);
    });

    it("FlowstoreSaver.prune() reads every table by index, planned for its values or generically", {
      timeout: 300_000,
    }, async () => {
      const { store, statements } = await openOnUserPool();
      const saver = new FlowstoreSaver({ store, scope: "plans" });
      await fillThreads(store, saver.scope);
      const filled = new Set([
        "langgraph_threads",
        "langgraph_checkpoints",
        "langgraph_writes",
        "langgraph_blobs",
      ]);
      statements.length = 0;
      const result = await saver.prune({
        idleMs: DAY,
        keepLatest: 1,
        touchedSince: new Date(Date.now() - 10 * 60_000),
        // The store's batch rather than the saver's default of 100: the planner joined a batch this
        // size to whole tables.
        batchSize: 500,
      });
      // The idle threads go whole; each thread written to just now keeps its newest checkpoint.
      expect(result).toMatchObject({ threads: 500, checkpoints: 1000 + 500, writes: 1000 + 500 });
      const recorded = [...statements];
      expect.soft(await check(store, recorded, filled), "never analyzed").toEqual([]);
      await analyze(store, filled);
      expect(await check(store, recorded, filled), "analyzed").toEqual([]);
    });
  });
});
