/**
 * Loads of runs made at once are read together (run-loads.ts): one statement for those that gather
 * while another is in flight. Each still reads its own run as it is now: one deleted or made again
 * elsewhere is read as it would be alone.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra, statementsSent } from "../../support/mastra.js";

const step = (runId: string, n: number) =>
  runSnapshot(runId, { input: { runId }, [`step-${n}`]: { status: "success", output: n } }, "running", n);

/** The text that names loadManySql's statement. */
const TOGETHER = "unnest($1::text[]) as r(key)";

describeMastra("flowstore/mastra: loads of runs made at once", () => {
  forEachDriver((d) => {
    it("reads the runs loaded at once together, each as it is now, one made again or deleted elsewhere too", async () => {
      const { sent, logger } = statementsSent();
      const store = await d.open({ logStatements: { values: true }, logger });
      const open = async () =>
        (await new FlowstoreMastraStorage({ id: "l", store }).getStore("workflows")) as WorkflowsStorage;
      const [ws, elsewhere] = [await open(), await open()];
      const runs = Array.from({ length: 8 }, () => randomUUID());
      for (const runId of runs) {
        await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, 1) });
      }
      const [madeAgain, deleted] = runs.slice(-2) as [string, string];
      await elsewhere.deleteWorkflowRunById({ workflowName: "w", runId: madeAgain });
      await elsewhere.persistWorkflowSnapshot({
        workflowName: "w",
        runId: madeAgain,
        snapshot: step(madeAgain, 7),
      });
      await elsewhere.deleteWorkflowRunById({ workflowName: "w", runId: deleted });
      sent.length = 0;

      const load = (runId: string) => ws.loadWorkflowSnapshot({ workflowName: "w", runId });
      const loaded = await Promise.all([...runs.map(load), load(runs[0] as string)]);

      for (const [i, runId] of runs.slice(0, -2).entries()) expect(loaded[i]).toEqual(step(runId, 1));
      expect(loaded[6]).toEqual(step(madeAgain, 7));
      expect(loaded[7]).toBeNull();
      // The same run loaded twice at once: two equal snapshots, each its caller's own.
      expect(loaded[8]).toEqual(loaded[0]);
      expect(loaded[8]).not.toBe(loaded[0]);

      // Several of the runs were read by one statement.
      const together = sent.filter(({ sql }) => sql.includes(TOGETHER));
      expect(together.length).toBeGreaterThan(0);
      expect(together.length).toBeLessThan(runs.length);
      const keysIn = (values: string) => runs.filter((runId) => values.includes(runId)).length;
      expect(Math.max(...together.map(({ values }) => keysIn(values)))).toBeGreaterThan(1);

      // Later loads read the run made again, and the deleted one stays gone.
      expect(await load(madeAgain)).toEqual(step(madeAgain, 7));
      expect(await load(deleted)).toBeNull();
      await store.close();
    });
  });
});
