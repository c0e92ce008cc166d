/**
 * A named prepared statement keeps one plan per connection: after five runs the server may settle on a
 * generic plan, made for any values, and keep it while the tables grow. A plan made on a fresh store's
 * empty tables that joins a table by scanning it whole stays a scan of the whole table at a million
 * rows (a batch of step records on a fresh store became five times slower over 60,000 steps so).
 * Here every prepared statement a store sends in ordinary use, on a fresh store, is planned as the
 * server would plan it generically, and none may read one of the store's tables whole. And each must
 * settle on that cached plan: a statement whose rows the planner sizes by its arrays looked cheaper
 * planned afresh for a small batch, and was planned again at every call (the checkpointer's getTuple
 * read was, spending more time planning than running).
 * Real server only: PGlite prepares nothing by name.
 */
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../src/adapters/langgraph/index.js";
import type { Logger, Store } from "../../src/index.js";
import { explainGeneric, nodes, type PlanNode } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";
import { exerciseStore } from "../support/store-workload.js";

interface SeqScan extends PlanNode {
  "Relation Name"?: string;
  Schema?: string;
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("prepared statements", () => {
    it("keep an index probe in the generic plan of every prepared statement, made on empty tables", async () => {
      const prepared = new Set<string>();
      const keep = (entry: Record<string, unknown>) => {
        if (entry.prepared === true && typeof entry.sql === "string") prepared.add(entry.sql);
      };
      const ignore = () => {};
      const logger: Logger = { debug: keep, info: ignore, warn: ignore, error: ignore };
      const store = await driver.open({ logStatements: true, logger });

      await exerciseStore(store);

      expect(prepared.size).toBeGreaterThan(10);
      const scans: string[] = [];
      for (const sql of prepared) {
        const { rows } = await explainGeneric(store, sql, "verbose, ");
        const plan = rows[0]?.["QUERY PLAN"][0].Plan as PlanNode;
        for (const node of nodes(plan) as SeqScan[]) {
          if (node["Node Type"] === "Seq Scan" && node.Schema === store.schema) {
            scans.push(`${node["Relation Name"]} in: ${sql.replace(/\s+/g, " ").slice(0, 160)}`);
          }
        }
      }
      expect(scans).toEqual([]);
    });

    it("run their generic plan from the first call on the store's own connections, unless it prepares none", async () => {
      // Left to choose, the server planned the claim afresh at every call behind a million ready jobs of
      // other queues (a custom plan looked cheaper there), which doubled the claim's time.
      const setting = async (store: Store) =>
        (await store.query<{ plan_cache_mode: string }>("show plan_cache_mode")).rows[0]?.plan_cache_mode;
      const store = await driver.open({ pool: { max: 2 } });
      expect(await Promise.all([setting(store), setting(store)])).toEqual([
        "force_generic_plan",
        "force_generic_plan",
      ]);
      expect(await setting(await driver.open({ preparedStatements: false }))).toBe("auto");
      // Nor does any of their statements pay for a JIT compilation on a server built with LLVM.
      expect((await store.query<{ jit: string }>("show jit")).rows[0]?.jit).toBe("off");
    });

    it("settle on their cached plan after the server's five first plans, batches of one or a few", async () => {
      // One connection, so that every statement's plans are counted in the one session asked below.
      const store = await driver.open({ pool: { max: 1 } });
      const saver = new FlowstoreSaver({ store, scope: "settle" });
      for (let round = 0; round < 12; round++) {
        const runs = await Promise.all(
          Array.from({ length: 1 + (round % 3) }, (_, i) =>
            store.executions.start({ name: "settle", input: { i } }),
          ),
        );
        for (const { execution } of runs) {
          await store.steps.record({ executionId: execution.id, number: 0, name: "a", output: round });
          await store.executions.complete(execution.id, round);
        }
        for (const [i] of runs.entries()) await store.jobs.enqueue({ queue: "q", name: "n", payload: { i } });
        await store.jobs.enqueue(runs.map((_, i) => ({ queue: "q", name: "n", payload: { i } })));
        const claimed = await store.jobs.claim({ queue: "q", workerId: "w", limit: 5 });
        await store.jobs.heartbeat(claimed);
        await store.jobs.complete(claimed);
        const config = await saver.put(
          { configurable: { thread_id: `t${round % 3}` } },
          { ...emptyCheckpoint(), id: uuid6(round) },
          { source: "input", step: -1, parents: {} },
          {},
        );
        await saver.getTuple(config);
      }
      const { rows } = await store.query<{ statement: string; generic_plans: string; custom_plans: string }>(
        "select statement, generic_plans, custom_plans from pg_prepared_statements",
      );
      expect(rows.length).toBeGreaterThan(8);
      const replanned = rows
        // The server plans a statement for its values five times, then compares with the cached plan:
        // from there on, a statement that keeps to the cached plan is planned no more.
        .filter((row) => Number(row.custom_plans) > 5)
        .map(
          (row) =>
            `planned ${row.custom_plans} times, cached ${row.generic_plans}: ${row.statement.replace(/\s+/g, " ").slice(0, 120)}`,
        );
      expect(replanned).toEqual([]);
    });
  });
});
