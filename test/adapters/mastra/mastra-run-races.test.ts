/**
 * Writes of Mastra runs that meet: a run deleted while a writer holds it leaves none of what that writer
 * made (its context rows go with the run, the rows read after the writer is done); and persists made at
 * once, of which a first statement wrote some before a second failed, are each written once, the
 * failing one alone failing.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { runKey } from "../../../src/adapters/mastra/runs.js";
import type { Store } from "../../../src/index.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { until, waitingOnLocks } from "../../support/waiting.js";

/** A context entry too big to stay in the run's state (runs.ts, INLINE_ENTRY): it goes to a row. */
const BIG = "x".repeat(4096);

async function workflowsOf(store: Store): Promise<WorkflowsStorage> {
  return (await new FlowstoreMastraStorage({ id: "r", store }).getStore("workflows")) as WorkflowsStorage;
}

/** The run's version (one per write), or undefined when it is not stored. */
async function versionOf(store: Store, runId: string): Promise<number | undefined> {
  const { rows } = await store.query<{ version: number }>(
    `select version::int as version from "${store.schema}".mastra_runs where key = $1`,
    [runKey("w", runId)],
  );
  return rows[0]?.version;
}

describeMastra("flowstore/mastra: writes of runs that meet", () => {
  forEachDriver((d) => {
    it.skipIf(!d.concurrent)(
      "deletes the context rows a writer made while the delete waited on it",
      async () => {
        const store = await d.open();
        const ws = await workflowsOf(store);
        const runId = randomUUID();
        await ws.persistWorkflowSnapshot({
          workflowName: "w",
          runId,
          snapshot: runSnapshot(runId, { input: {} }),
        });
        let deleted: Promise<void> | undefined;
        await store.transaction(async (tx) => {
          // A writer holds the run and adds a context row, as a persist of a big entry does.
          const { rows } = await tx.query<{ id: string }>(
            `select id from "${store.schema}".mastra_runs where key = $1 for update`,
            [runKey("w", runId)],
          );
          await tx.query(
            `insert into "${store.schema}".mastra_run_parts (run_id, part_id, state) values ($1, 'context/big', $2)`,
            [rows[0]?.id, JSON.stringify({ output: BIG })],
          );
          deleted = ws.deleteWorkflowRunById({ workflowName: "w", runId });
          await until(async () => (await waitingOnLocks(store)) > 0);
        });
        await deleted;
        const { rows } = await store.query<{ n: number }>(
          `select count(*)::int as n from "${store.schema}".mastra_run_parts`,
        );
        expect(rows[0]?.n).toBe(0);
        expect(await ws.loadWorkflowSnapshot({ workflowName: "w", runId })).toBeNull();
      },
    );

    it("writes once each persist a first statement wrote when the second failed, and fails the other alone", async () => {
      const store = await d.open();
      const ws = await workflowsOf(store);
      const snapshot = (runId: string, step: number, extra: Record<string, unknown> = {}) =>
        runSnapshot(runId, { input: { runId }, [`step-${step}`]: { status: "success" }, ...extra });
      const runs = Array.from({ length: 8 }, () => randomUUID());
      const poisoned = randomUUID();
      for (const runId of runs) {
        await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: snapshot(runId, 1) });
      }
      await ws.persistWorkflowSnapshot({
        workflowName: "w",
        runId: poisoned,
        snapshot: snapshot(poisoned, 1, { big: { output: BIG } }),
      });
      // Its row cannot be deleted: the statement that writes it without its big entry fails.
      await store.query(
        `create function "${store.schema}".refuse_delete() returns trigger language plpgsql as $$
           begin raise exception 'this row stays'; end $$`,
      );
      await store.query(
        `create trigger refuse_delete before delete on "${store.schema}".mastra_run_parts
           for each row execute function "${store.schema}".refuse_delete()`,
      );
      const results = await Promise.allSettled(
        [...runs, poisoned].map((runId) =>
          ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: snapshot(runId, 2) }),
        ),
      );
      expect(results.at(-1)?.status).toBe("rejected");
      expect(results.slice(0, -1).map((r) => r.status)).toEqual(runs.map(() => "fulfilled"));
      for (const runId of runs) expect(await versionOf(store, runId), runId).toBe(2);
      expect(await versionOf(store, poisoned)).toBe(1);
    });
  });
});
