/**
 * listWorkflowRuns' total from the runs' counts (migration 0044), not a count of every run: exact
 * whichever way runs are made or go (persists alone and together, Mastra's deletes, flowstore's
 * retention row by row and by dropping a time range whole), and for runs stored before the counts were.
 * Each total is held against a count of the executions themselves.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { DEFINITION_BODY, definitionIdOf, runKey } from "../../../src/adapters/mastra/runs.js";
import { migrationScript, openStore, type Store } from "../../../src/index.js";
import { loadMigrations } from "../../../src/migrations/runner.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver, runScript, uniqueSchema } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

async function workflowsOf(store: Store): Promise<WorkflowsStorage> {
  return (await new FlowstoreMastraStorage({ id: "t", store }).getStore("workflows")) as WorkflowsStorage;
}

/** The workflow's total as listWorkflowRuns gives it, and its executions as counted. */
async function totals(store: Store, ws: WorkflowsStorage, workflowName?: string) {
  const listed = await ws.listWorkflowRuns({
    ...(workflowName ? { workflowName } : {}),
    perPage: 5,
    page: 0,
  });
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from "${store.schema}".executions
      where left(idempotency_key, 8) = 'mastra:['${workflowName ? " and name = $1" : ""}`,
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

    it("stays exact through flowstore's retention, row by row and by a time range dropped whole", async () => {
      const store = await d.open({ partitions: { days: 1, aheadDays: 3 } });
      const ws = await workflowsOf(store);
      const runs = { done: randomUUID(), also: randomUUID(), waiting: randomUUID(), later: randomUUID() };
      for (const [name, runId] of Object.entries(runs)) {
        const status = name === "waiting" ? "suspended" : "success";
        await ws.persistWorkflowSnapshot({
          workflowName: "r",
          runId,
          snapshot: runSnapshot(runId, {}, status),
        });
      }
      expect(await totals(store, ws, "r")).toEqual({ listed: 4, counted: 4 });

      // The range holding them (they were made today, in the first range) dropped whole: the finished
      // runs go with it, the suspended one moves to the default partitions and still counts.
      const [first] = await store.listPartitions();
      if (!first) throw new Error("no time range");
      const cut = new Date(first.endsAt.getTime() + 3600_000);
      const pruned = await store.prune({ finishedBefore: cut });
      expect(pruned).toMatchObject({ executions: 3, movedExecutions: 1 });
      expect(pruned.partitions).toBeGreaterThanOrEqual(1);
      expect(await totals(store, ws, "r")).toEqual({ listed: 1, counted: 1 });
      expect((await ws.listWorkflowRuns({ workflowName: "r" })).runs.map((r) => r.runId)).toEqual([
        runs.waiting,
      ]);

      // Row by row: finished, it goes from the default partition.
      await ws.persistWorkflowSnapshot({
        workflowName: "r",
        runId: runs.waiting,
        snapshot: runSnapshot(runs.waiting, {}, "success"),
      });
      const later = await store.prune({ finishedBefore: new Date(Date.now() + 60_000), partitions: false });
      expect(later.executions).toBe(1);
      expect(await totals(store, ws, "r")).toEqual({ listed: 0, counted: 0 });
    });

    it("counts the runs stored before the counts were kept", async () => {
      const schema = uniqueSchema("mastra_counts");
      const connection = await d.connection();
      await runScript(connection, migrationScript(schema, loadMigrations().slice(0, 43)));
      const s = `"${schema}"`;
      const definition = definitionIdOf("old");
      const stored = ["0190a000-0000-7000-8000-00000000000a", "0190a000-0000-7000-8000-00000000000b"];
      await runScript(
        connection,
        `insert into ${s}.definitions (id, name, version, definition, status, deployed_at)
           values ('${definition}', 'old', 1, '${DEFINITION_BODY}', 'active', now());
         ${stored
           .map(
             (id, i) => `insert into ${s}.executions (id, definition_id, name, status, state, idempotency_key)
               values ('${id}', '${definition}', 'old', 'running', '{"context": {}}', '${runKey("old", `r${i}`)}');
             insert into ${s}.execution_keys values ('${runKey("old", `r${i}`)}', '${id}');`,
           )
           .join("\n")}`,
      );
      const store = await openStore({ connection, schema });
      try {
        const ws = await workflowsOf(store);
        expect(await totals(store, ws, "old")).toEqual({ listed: 2, counted: 2 });
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
