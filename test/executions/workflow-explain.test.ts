/**
 * The hot lookups use an index, not a sequential scan, on tables of 100,000 rows. The plans are read
 * for the statements the repositories actually send (captured through statement logging), with the
 * values they sent. Real server only: PGlite's planner is the same, and filling it is slow.
 */
import { describe, expect, it } from "vitest";
import type { Logger, Store, Transaction } from "../../src/index.js";
import { bulkFill } from "../support/bulk-fill.js";
import { markSmallPartitions, nodes, type PlanNode } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("indexes", () => {
    it("hot lookups never scan a 100,000-row table sequentially", async () => {
      let last: { sql: string; values: unknown[] } | undefined;
      const ignore = () => {};
      const logger: Logger = {
        debug: (entry) => {
          last = { sql: entry.sql as string, values: (entry.values as unknown[]) ?? [] };
        },
        info: ignore,
        warn: ignore,
        error: ignore,
      };
      const store = await driver.open({ logStatements: { values: true }, logger });
      const s = `"${store.schema}"`;
      await fill(store, s);

      const pick = async (sql: string) => (await store.query<{ v: string }>(sql)).rows[0]?.v as string;
      const executionId = await pick(
        `select id::text as v from ${s}.executions order by id offset 5000 limit 1`,
      );
      const root = await pick(
        `select task_exec_id::text as v from ${s}.tasks where task_id = 'root' limit 1`,
      );
      const rootExecution = await pick(
        `select execution_id::text as v from ${s}.tasks where task_exec_id = '${root}'`,
      );

      const lookups: [string, () => Promise<unknown>][] = [
        ["execution by id", () => store.executions.get(executionId)],
        ["execution by idempotency key", () => store.executions.findByIdempotencyKey("key-777")],
        ["executions by status, newest page", () => store.executions.list({ status: "waiting", limit: 20 })],
        ["executions by workflow name", () => store.executions.list({ definitionName: "bulk", limit: 20 })],
        [
          "tasks by execution and status",
          () => store.tasks.list({ executionId: rootExecution, status: "running" }),
        ],
        ["task by id", () => store.tasks.get(root)],
        ["children by parent", () => store.tasks.listChildren(root)],
        ["child by parent and task id", () => store.tasks.getChild(root, "c7")],
        ["child progress", () => store.tasks.progress(root)],
        ["correlation by key", () => store.correlations.resolve("corr-4242")],
        ["correlations of an execution", () => store.correlations.listForExecution(executionId)],
        ["component state", () => store.componentState.get(executionId, "form")],
      ];
      for (const [name, lookup] of lookups) {
        last = undefined;
        await lookup();
        const statement = last as { sql: string; values: unknown[] } | undefined;
        expect(statement, name).toBeDefined();
        const { rows } = await store.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
          `explain (format json) ${statement?.sql}`,
          statement?.values,
        );
        const plan = await markSmallPartitions(store, rows[0]?.["QUERY PLAN"][0].Plan as PlanNode);
        const types = nodes(plan).map((n) => n["Node Type"]);
        expect(types, `${name}: ${JSON.stringify(types)}`).not.toContain("Seq Scan");
        expect(
          types.some((t) => t.includes("Index")),
          `${name} uses an index: ${JSON.stringify(types)}`,
        ).toBe(true);
      }
    });
  });
});

/** 100,000 each of executions, tasks (1,000 roots with 99 children each), correlations and component states. */
async function fill(store: Store, s: string): Promise<void> {
  await bulkFill(store, (tx) => fillIn(tx, s));
  await store.query(
    `analyze ${s}.executions, ${s}.execution_keys, ${s}.tasks, ${s}.correlations, ${s}.component_state`,
  );
}

async function fillIn(store: Transaction, s: string): Promise<void> {
  const { rows } = await store.query<{ id: string }>(
    `insert into ${s}.definitions (id, name, version, definition, status)
     values (gen_random_uuid(), 'bulk', 1, '{}', 'active') returning id`,
  );
  await store.query(
    `insert into ${s}.executions (id, definition_id, name, status, idempotency_key, created_at)
     select gen_random_uuid(), $1, 'bulk', (array['pending','running','waiting','completed'])[i % 4 + 1], 'key-' || i,
            now() - i * interval '1 second'
     from generate_series(1, 100000) i`,
    [rows[0]?.id],
  );
  await store.query(
    `insert into ${s}.execution_keys (idempotency_key, execution_id)
     select idempotency_key, id from ${s}.executions`,
  );
  await store.query(
    `insert into ${s}.tasks (task_exec_id, task_id, execution_id, status)
     select gen_random_uuid(), 'root', id, 'running' from ${s}.executions order by id limit 1000`,
  );
  await store.query(
    `insert into ${s}.tasks (task_exec_id, task_id, execution_id, parent_id, status, agent_id)
     select gen_random_uuid(), 'c' || g, r.execution_id, r.task_exec_id,
            (array['pending','running','completed','failed'])[g % 4 + 1], 'agent-' || (g % 10)
     from ${s}.tasks r cross join generate_series(1, 99) g`,
  );
  await store.query(
    `insert into ${s}.correlations (key, execution_id)
     select 'corr-' || row_number() over (), id from ${s}.executions`,
  );
  await store.query(
    `insert into ${s}.component_state (execution_id, component_id, state)
     select id, 'form', '{}' from ${s}.executions`,
  );
}
