/**
 * The definition a Mastra workflow's runs are executions of (runs.ts: definitionIdOf): made by the
 * first write of one of its runs, in whichever process writes first. Another process making it at the
 * same moment is no conflict; a flowstore definition of the workflow's name (version 1) is, and then
 * nothing of the run is written.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import type { WorkflowRunState } from "@mastra/core/workflows";
import { beforeAll, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { DEFINITION_BODY, definitionIdOf } from "../../../src/adapters/mastra/runs.js";
import { ConflictError, type Store } from "../../../src/index.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { until, waitingOnLocks } from "../../support/waiting.js";

describeMastra("flowstore/mastra: a workflow's definition", () => {
  forEachDriver((d) => {
    let store: Store;
    let ws: WorkflowsStorage;
    beforeAll(async () => {
      store = await d.open();
      ws = (await new FlowstoreMastraStorage({ id: "definitions", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
    });

    const persist = (workflowName: string, runId = randomUUID()) =>
      ws.persistWorkflowSnapshot({
        workflowName,
        runId,
        snapshot: runSnapshot(runId, { input: { n: 1 } }) as WorkflowRunState,
      });

    const runsOf = async (workflowName: string) =>
      (await ws.listWorkflowRuns({ workflowName })).runs.map((r) => r.runId);

    // Another process's insert of the definition, committed while this one's statement waits on it:
    // that statement inserts nothing, and its snapshot, taken before the commit, does not see the row.
    it.skipIf(!d.concurrent)(
      "takes the definition another process made while its own first write waited on it",
      async () => {
        const name = `raced-${randomUUID()}`;
        let inserted!: () => void;
        let commit!: () => void;
        const insertedNow = new Promise<void>((resolve) => (inserted = resolve));
        const committing = new Promise<void>((resolve) => (commit = resolve));
        const other = store.transaction(async (tx) => {
          await tx.query(
            `insert into "${store.schema}".definitions (id, name, version, definition, status, deployed_at)
             values ($1, $2, 1, $3::jsonb, 'active', now())`,
            [definitionIdOf(name), name, DEFINITION_BODY],
          );
          inserted();
          await committing;
        });
        await insertedNow;
        const runId = randomUUID();
        const written = persist(name, runId);
        await until(async () => (await waitingOnLocks(store)) > 0);
        commit();
        await other;
        await written;
        expect(await runsOf(name)).toEqual([runId]);
        const { rows } = await store.query<{ id: string }>(
          `select id from "${store.schema}".definitions where name = $1`,
          [name],
        );
        expect(rows).toEqual([{ id: definitionIdOf(name) }]);
      },
    );

    it("refuses a workflow named as a flowstore definition of its own, and writes no run", async () => {
      const name = `taken-${randomUUID()}`;
      await store.definitions.create({ name, definition: { steps: [] }, status: "active" });
      const count = async () =>
        (await store.query<{ n: number }>(`select count(*)::int as n from "${store.schema}".executions`))
          .rows[0]?.n;
      const before = await count();
      await expect(persist(name)).rejects.toThrow(ConflictError);
      await expect(persist(name)).rejects.toThrow(/a Mastra workflow needs a name of its own/);
      expect(await count()).toBe(before);
      expect(await runsOf(name)).toEqual([]);
    });
  });
});
