/**
 * listWorkflowRuns' total from the runs' counts (migration 0046), not a count of every run: exact
 * whichever way runs are made or go (persists alone and together, Mastra's deletes and retention,
 * flowstore's retention), and
 * for runs stored as flowstore executions before migration 0046, which moves them to Mastra's own
 * table. Each total is held against a count of the runs themselves.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { runKey } from "../../../src/adapters/mastra/runs.js";
import { migrationScript, openStore, type Store } from "../../../src/index.js";
import { loadMigrations } from "../../../src/migrations/runner.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver, runScript, uniqueSchema } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

async function workflowsOf(store: Store): Promise<WorkflowsStorage> {
  return (await new FlowstoreMastraStorage({ id: "t", store }).getStore("workflows")) as WorkflowsStorage;
}

/** The workflow's total as listWorkflowRuns gives it, and its runs as counted. */
async function totals(store: Store, ws: WorkflowsStorage, workflowName?: string) {
  const listed = await ws.listWorkflowRuns({
    ...(workflowName ? { workflowName } : {}),
    perPage: 5,
    page: 0,
  });
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from "${store.schema}".mastra_runs${workflowName ? " where workflow_name = $1" : ""}`,
    workflowName ? [workflowName] : [],
  );
  return { listed: listed.total, counted: rows[0]?.n };
}

describeMastra("flowstore/mastra: the runs' counts behind listWorkflowRuns' total", () => {
  forEachDriver((d) => {
    it("stays exact as runs are made, persisted again and deleted, and through a filter", async () => {
      const store = await d.open();
      const ws = await workflowsOf(store);
      const persist = (workflowName: string, runId: string, status = "running") =>
        ws.persistWorkflowSnapshot({ workflowName, runId, snapshot: runSnapshot(runId, {}, status) });
      const ids = Array.from({ length: 12 }, () => randomUUID());
      for (const id of ids.slice(0, 2)) await persist("a", id);
      // Made together: persists at once share statements (persist-batch.ts), and some of a run made twice.
      await Promise.all(
        [...ids.slice(2, 10), ids[2] as string, ids[3] as string].map((id) => persist("a", id)),
      );
      await Promise.all(ids.slice(10).map((id) => persist("b", id, "success")));
      expect(await totals(store, ws, "a")).toEqual({ listed: 10, counted: 10 });
      expect(await totals(store, ws, "b")).toEqual({ listed: 2, counted: 2 });
      expect(await totals(store, ws)).toEqual({ listed: 12, counted: 12 });

      await persist("a", ids[0] as string, "success");
      await ws.deleteWorkflowRunById({ workflowName: "a", runId: ids[1] as string });
      await ws.deleteWorkflowRunById({ workflowName: "a", runId: "none" });
      expect(await totals(store, ws, "a")).toEqual({ listed: 9, counted: 9 });
      // A filtered list counts what it matches.
      const done = await ws.listWorkflowRuns({ workflowName: "a", status: "success", perPage: 5, page: 0 });
      expect(done.total).toBe(1);

      await ws.dangerouslyClearAll();
      expect(await totals(store, ws)).toEqual({ listed: 0, counted: 0 });
      await persist("a", ids[0] as string);
      expect(await totals(store, ws, "a")).toEqual({ listed: 1, counted: 1 });
    });

    it("counts each run made once, whichever statement makes it and however many instances make it at once", async () => {
      const store = await d.open();
      const [one, two] = [await workflowsOf(store), await workflowsOf(store)];
      const persist = (ws: WorkflowsStorage, runId: string, big = false) =>
        ws.persistWorkflowSnapshot({
          workflowName: "m",
          runId,
          // An entry too big for the run's state goes to a row: the statement that writes rows makes it.
          snapshot: runSnapshot(runId, big ? { big: { output: "x".repeat(4096) } } : {}),
        });
      const ids = Array.from({ length: 10 }, () => randomUUID());
      // With rows, alone and together.
      await persist(one, ids[0] as string, true);
      await Promise.all(ids.slice(1, 4).map((id) => persist(one, id, true)));
      expect(await totals(store, one, "m")).toEqual({ listed: 4, counted: 4 });
      // Two instances (as two processes would) making the same runs at once, alone and together.
      await Promise.all([persist(one, ids[4] as string), persist(two, ids[4] as string)]);
      await Promise.all(ids.slice(5, 8).flatMap((id) => [persist(one, id), persist(two, id, true)]));
      expect(await totals(store, one, "m")).toEqual({ listed: 8, counted: 8 });
      // Runs the other instance made, written again by this one; runs with rows written again without.
      for (const id of ids.slice(4, 8)) await persist(two, id);
      for (const id of ids.slice(0, 2)) await persist(two, id);
      await Promise.all(ids.slice(8).map((id) => persist(two, id)));
      expect(await totals(store, one, "m")).toEqual({ listed: 10, counted: 10 });
      await store.close();
    });

    it("stays exact through Mastra's retention and flowstore's", async () => {
      const store = await d.open();
      const storage = new FlowstoreMastraStorage({
        id: "t",
        store,
        retention: { workflows: { workflowSnapshot: { maxAge: "1d" } } },
      });
      const ws = (await storage.getStore("workflows")) as WorkflowsStorage;
      const longAgo = new Date(Date.now() - 3 * 86_400_000);
      for (const [i, status] of ["success", "running", "suspended", "success", "failed"].entries()) {
        const runId = randomUUID();
        await ws.persistWorkflowSnapshot({
          workflowName: "r",
          runId,
          snapshot: runSnapshot(runId, {}, status),
          ...(i < 2 ? { updatedAt: longAgo } : {}),
        });
      }
      expect(await totals(store, ws, "r")).toEqual({ listed: 5, counted: 5 });
      // Mastra's: by last activity, whatever the status.
      await storage.prune();
      expect(await totals(store, ws, "r")).toEqual({ listed: 3, counted: 3 });
      // flowstore's: the finished ones.
      const pruned = await store.prune({ finishedBefore: new Date(Date.now() + 60_000) });
      expect(pruned.mastraRuns).toBe(2);
      expect(await totals(store, ws, "r")).toEqual({ listed: 1, counted: 1 });
    });

    it("moves the runs stored as executions before migration 0046, with their counts, entries and times", async () => {
      const schema = uniqueSchema("mastra_moved");
      const connection = await d.connection();
      await runScript(connection, migrationScript(schema, loadMigrations().slice(0, 45)));
      const s = `"${schema}"`;
      // As the adapter stored them then: a definition per workflow, an execution per run by its key,
      // a big entry as a component-state row; beside them, an execution of flowstore's own.
      const definition = "0190a000-0000-8000-8000-0000000000d1";
      const own = "0190a000-0000-8000-8000-0000000000d2";
      const runs = ["0190a000-0000-7000-8000-00000000000a", "0190a000-0000-7000-8000-00000000000b"];
      const made = new Date("2024-05-06T07:08:09.000Z");
      const big = { output: "x".repeat(4096) };
      await runScript(
        connection,
        `insert into ${s}.definitions (id, name, version, definition, status, deployed_at)
           values ('${definition}', 'old', 1, '{"engine":"mastra"}', 'active', now()),
                  ('${own}', 'mine', 1, '{}', 'active', now());
         ${runs
           .map(
             (id, i) => `insert into ${s}.executions (id, definition_id, name, status, state, metadata,
                 idempotency_key, created_at, updated_at)
               values ('${id}', '${definition}', 'old', 'running',
                 '{"status": "running", "context": {"input": {"n": ${i}}}${i ? ', "$flowstore:rows": true' : ""}}',
                 '{"mastra": {"runId": "r${i}", "workflowName": "old"${i ? ', "resourceId": "user"' : ""}}}',
                 '${runKey("old", `r${i}`)}', '${made.toISOString()}', '${made.toISOString()}');
             insert into ${s}.execution_keys values ('${runKey("old", `r${i}`)}', '${id}');`,
           )
           .join("\n")}
         insert into ${s}.component_state (execution_id, component_id, state)
           values ('${runs[1]}', 'context/big', '${JSON.stringify(big)}');
         insert into ${s}.executions (id, definition_id, name, status, state)
           values ('0190a000-0000-7000-8000-0000000000ff', '${own}', 'mine', 'running', '{}');`,
      );
      const store = await openStore({ connection, schema });
      try {
        const ws = await workflowsOf(store);
        expect(await totals(store, ws, "old")).toEqual({ listed: 2, counted: 2 });
        const moved = await ws.getWorkflowRunById({ workflowName: "old", runId: "r1" });
        expect(moved?.snapshot).toEqual({ status: "running", context: { input: { n: 1 }, big } });
        expect([moved?.resourceId, moved?.createdAt]).toEqual(["user", made]);
        // Only flowstore's own execution and definition are left of them.
        expect((await store.executions.list({})).items.map((e) => e.name)).toEqual(["mine"]);
        expect((await store.definitions.list()).map((e) => e.name)).toEqual(["mine"]);
        await ws.persistWorkflowSnapshot({
          workflowName: "old",
          runId: "r2",
          snapshot: runSnapshot("r2", {}),
        });
        expect(await totals(store, ws, "old")).toEqual({ listed: 3, counted: 3 });
      } finally {
        await store.close();
      }
    });
  });
});
