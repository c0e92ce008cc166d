/**
 * A Mastra run's steps write and read its execution in the partition that holds it (partitions/direct.ts),
 * as the store's ranges said when this process read them. When the ranges change under it (the run's
 * range dropped while it runs, moving it to the default partitions; a range made over the default
 * partitions, moving it in), the statement that names the old place finds nothing or fails, and the
 * step goes through the partitioned tables: nothing is lost, and the next steps find the new place.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import type { Store } from "../../../src/index.js";
import { dropRange, ensureRanges } from "../../../src/partitions/index.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { placeOf } from "../../partitions/fixtures.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { statementLog } from "../../support/waiting.js";

const step = (runId: string, n: number) =>
  runSnapshot(
    runId,
    Object.fromEntries(
      Array.from({ length: n + 1 }, (_, s) => [
        s === 0 ? "input" : `step-${s}`,
        { status: "success", output: s },
      ]),
    ),
    "running",
    n,
  );

/** The execution id of a Mastra run (workflow "w"). */
async function idOf(store: Store, runId: string): Promise<string> {
  const { rows } = await store.query<{ id: string }>(
    `select execution_id as id from "${store.schema}".execution_keys where idempotency_key like $1`,
    [`mastra:["${runId}"%`],
  );
  return rows[0]?.id as string;
}

/** Drops the range named, keeping every run of it (they move to the default partitions). */
async function dropKeepingRuns(store: Store, range: string): Promise<void> {
  const q = `"${store.schema}"`;
  await store.driver.transaction((tx) =>
    dropRange(tx, q, range, {
      keepExecutions: `select id from ${q}."executions_${range}"`,
      keepJobsHistory: `select id from ${q}."jobs_history_${range}"`,
      params: [],
      historyParams: [],
      onGone: async () => {},
    }),
  );
}

describeMastra("flowstore/mastra: a run's execution in its partition", () => {
  forEachDriver((d) => {
    it("writes and reads a run where its range's partitions are, and finds it after the ranges change", async () => {
      const logger = statementLog();
      const store = await d.open({ partitions: { days: 1, aheadDays: 1 }, logStatements: true, logger });
      const ws = (await new FlowstoreMastraStorage({ id: "p", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      const persist = (runId: string, n: number) =>
        ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, n) });
      const load = (runId: string) => ws.loadWorkflowSnapshot({ workflowName: "w", runId });
      const sentTo = (relation: string) =>
        logger.sql.filter((sql) => sql.includes(`."${relation}" e`) || sql.includes(`."${relation}" (`))
          .length;
      /** A new run, made by its first step wherever the ranges are now: read back whole. */
      const made = async () => {
        const runId = randomUUID();
        await persist(runId, 1);
        expect(await load(runId)).toEqual(step(runId, 1));
        return (await placeOf(store, await idOf(store, runId))).executions;
      };

      const runId = randomUUID();
      logger.sql.length = 0;
      await persist(runId, 1);
      const id = await idOf(store, runId);
      const [home] = (await placeOf(store, id)).executions as string[];
      expect(home).not.toBe("default");
      await persist(runId, 2);
      expect(await load(runId)).toEqual(step(runId, 2));
      // The run made, its step's update and the load went to the run's partition, not through executions.
      expect(sentTo(`executions_${home}`)).toBe(3);

      // Its range dropped while it runs (every range, each keeping its runs): the run moves to the
      // default partitions, the partition the process knew is gone. The next step still lands, and the
      // ones after go to the new place; so does a run made meanwhile.
      for (const range of await store.listPartitions()) await dropKeepingRuns(store, range.name);
      expect((await placeOf(store, id)).executions).toEqual(["default"]);
      expect(await made()).toEqual(["default"]);
      await persist(runId, 3);
      expect(await load(runId)).toEqual(step(runId, 3));
      logger.sql.length = 0;
      await persist(runId, 4);
      expect(await load(runId)).toEqual(step(runId, 4));
      expect(sentTo("executions_default")).toBe(2);

      // Ranges made again, the first from today: the run moves in, the default partition the process
      // knew no longer holds it, nor takes a new run of today. Nothing is lost either way.
      await ensureRanges({ db: store.driver, q: `"${store.schema}"` }, { days: 1, aheadDays: 1 });
      const [moved] = (await placeOf(store, id)).executions as string[];
      expect(moved).toMatch(/^\d{8}$/);
      expect(await made()).toEqual([moved]);
      await persist(runId, 5);
      expect(await load(runId)).toEqual(step(runId, 5));
      const { rows } = await store.query<{ version: string }>(
        `select version from "${store.schema}".executions where id = $1`,
        [id],
      );
      expect(Number(rows[0]?.version)).toBe(5);
      await store.close();
    });

    it("writes a run with a big entry under its lock in its partition, and finds it after the ranges change", async () => {
      const store = await d.open({ partitions: { days: 1, aheadDays: 1 } });
      const ws = (await new FlowstoreMastraStorage({ id: "b", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      const runId = randomUUID();
      // A big entry (a row of its own, not sent again unchanged) beside the steps.
      const withBig = (n: number) => {
        const snapshot = step(runId, n);
        (snapshot.context as Record<string, unknown>).document = { output: "d".repeat(40_000) };
        return snapshot;
      };
      const persist = (n: number) =>
        ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: withBig(n) });
      const load = () => ws.loadWorkflowSnapshot({ workflowName: "w", runId });

      await persist(1);
      await persist(2);
      expect(await load()).toEqual(withBig(2));
      const id = await idOf(store, runId);
      // Dropped under it: the lock in the partition it knew fails, the persist goes again and lands.
      for (const range of await store.listPartitions()) await dropKeepingRuns(store, range.name);
      await persist(3);
      expect(await load()).toEqual(withBig(3));
      // Moved out of the default partition it knew: found by its key.
      await ensureRanges({ db: store.driver, q: `"${store.schema}"` }, { days: 1, aheadDays: 1 });
      await persist(4);
      expect(await load()).toEqual(withBig(4));
      const place = await placeOf(store, id);
      expect(place.component_state).toEqual(place.executions);
      const { rows } = await store.query<{ parts: string[] }>(
        `select array_agg(component_id) as parts from "${store.schema}".component_state where execution_id = $1`,
        [id],
      );
      expect(rows[0]?.parts).toEqual(["context/document"]);
      await store.close();
    });
  });
});
