/**
 * Persists of different runs made at once go together (persist-batch.ts): the steps of runs this
 * process knows by one update in their partition (in-partition.ts), the others (a new run, a run with
 * entries in rows, a run deleted elsewhere) by the statement for many runs. Each lands once, as its
 * own statement would have written it.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { runKey } from "../../../src/adapters/mastra/runs.js";
import type { Store } from "../../../src/index.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra, statementsSent } from "../../support/mastra.js";

/** A context entry too big to stay in the run's state (runs.ts, INLINE_ENTRY): it goes to a row. */
const BIG = "x".repeat(4096);

const step = (runId: string, n: number, extra: Record<string, unknown> = {}) =>
  runSnapshot(
    runId,
    { input: { runId }, ...extra, [`step-${n}`]: { status: "success", output: n } },
    "running",
    n,
  );

/** Each run's version (one per persist) and where its entries are, by run id. */
async function stored(store: Store, runIds: string[]) {
  const { rows } = await store.query<{ key: string; version: number; rows: number }>(
    `select e.idempotency_key as key, e.version::int as version,
            (select count(*)::int from "${store.schema}".component_state c where c.execution_id = e.id) as rows
       from "${store.schema}".executions e where e.idempotency_key = any($1::text[])`,
    [runIds.map((runId) => runKey("w", runId))],
  );
  return new Map(rows.map((row) => [row.key, { version: row.version, rows: row.rows }]));
}

describeMastra("flowstore/mastra: persists of runs made at once", () => {
  forEachDriver((d) => {
    it("writes the steps of known runs by one update in their partition, the others as alone", async () => {
      const { sent, logger } = statementsSent();
      const store = await d.open({ logStatements: { values: true }, logger });
      const open = async () =>
        (await new FlowstoreMastraStorage({ id: "b", store }).getStore("workflows")) as WorkflowsStorage;
      const [ws, elsewhere] = [await open(), await open()];
      const known = Array.from({ length: 6 }, () => randomUUID());
      const [withRows, deleted] = known.slice(-2) as [string, string];
      for (const runId of known) {
        const extra = runId === withRows ? { big: { output: BIG } } : {};
        await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, 1, extra) });
      }
      await elsewhere.deleteWorkflowRunById({ workflowName: "w", runId: deleted });
      const fresh = randomUUID();
      sent.length = 0;

      const next = (runId: string) => step(runId, 2, runId === withRows ? { big: { output: BIG } } : {});
      const runs = [...known, fresh];
      await Promise.all(
        runs.map((runId) => ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: next(runId) })),
      );

      // Every run reads back as its last persist wrote it, through another instance as through this one.
      for (const runId of runs) {
        expect(await elsewhere.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(next(runId));
      }
      const after = await stored(store, runs);
      for (const runId of known.slice(0, 4))
        expect(after.get(runKey("w", runId))).toEqual({ version: 2, rows: 0 });
      expect(after.get(runKey("w", withRows))).toEqual({ version: 2, rows: 1 });
      // Deleted elsewhere, made again by this step; the new run made by its first.
      expect(after.get(runKey("w", deleted))).toEqual({ version: 1, rows: 0 });
      expect(after.get(runKey("w", fresh))).toEqual({ version: 1, rows: 0 });

      // The known runs' steps went in updates of their partition, several in one, and in no other write;
      // the first persist, made with nothing in flight, in an update of its own there.
      const together = sent.filter(({ sql }) => sql.includes("cross join lateral"));
      expect(together.length).toBeGreaterThan(0);
      expect(together.length).toBeLessThan(4);
      const alone = sent.filter(
        ({ sql }) => sql.trimStart().startsWith("update ") && sql.includes('."executions_'),
      );
      expect(alone.length).toBeLessThanOrEqual(1);
      const others = sent.filter(({ sql }) => sql.includes("insert into") && sql.includes("execution_keys"));
      expect(others.length).toBeGreaterThan(0);
      for (const runId of known.slice(0, 4)) {
        const inPartition = [...together, ...alone];
        expect(inPartition.some(({ values }) => values.includes(runId))).toBe(true);
        expect(
          others.some(({ values }) => values.includes(runId)),
          runId,
        ).toBe(false);
      }
      await store.close();
    });

    it("writes two persists of one run made at once in their order, when the first finds its run not in its partition's form", async () => {
      const store = await d.open();
      const ws = (await new FlowstoreMastraStorage({ id: "o", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      const runId = randomUUID();
      // A run with an entry in a row: the first persist below, made alone, finds no row the update in
      // its partition may write, and goes the other way, while the second waits for the run's key.
      await ws.persistWorkflowSnapshot({
        workflowName: "w",
        runId,
        snapshot: step(runId, 1, { big: { output: BIG } }),
      });
      await Promise.all([
        ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, 2) }),
        ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, 3) }),
      ]);
      expect(await ws.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(step(runId, 3));
      expect((await stored(store, [runId])).get(runKey("w", runId))).toEqual({ version: 3, rows: 0 });
      await store.close();
    });
  });
});
