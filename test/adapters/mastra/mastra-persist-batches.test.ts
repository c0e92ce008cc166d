/**
 * Persists of different runs made at once go together (persist-batch.ts): by the statement for many
 * runs, whatever each run is (a step of a run stored, a new run, a run with entries in rows, a run
 * deleted elsewhere). Each lands once, as its own statement would have written it.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { runKey } from "../../../src/adapters/mastra/runs.js";
import type { Store } from "../../../src/index.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver, type TestDriver } from "../../support/harness.js";
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
    `select e.key, e.version::int as version,
            (select count(*)::int from "${store.schema}".mastra_run_parts c where c.run_id = e.id) as rows
       from "${store.schema}".mastra_runs e where e.key = any($1::text[])`,
    [runIds.map((runId) => runKey("w", runId))],
  );
  return new Map(rows.map((row) => [row.key, { version: row.version, rows: row.rows }]));
}

/**
 * The statements sent that wrote a run (its id among their values), by kind, in the order sent: the
 * update of its row (alone or of many), its making alone, a statement that writes context rows, or the
 * statement that makes or updates many.
 */
function writesOf(sent: { sql: string; values: string }[], runId: string): string[] {
  return sent
    .filter(({ sql, values }) => values.includes(runId) && !sql.startsWith("select"))
    .map(({ sql }) =>
      sql.startsWith("update")
        ? "update"
        : sql.includes("on conflict (key) do nothing")
          ? "make"
          : sql.includes("mastra_run_parts")
            ? "with rows"
            : "persist many",
    );
}

/**
 * A store whose statements are logged with their values (`sent`), and two of Mastra's workflow
 * storages on it: this instance (`ws`) and another, as another process would be (`elsewhere`).
 */
async function twoInstances(d: TestDriver, id: string) {
  const { sent, logger } = statementsSent();
  const store = await d.open({ logStatements: { values: true }, logger });
  const open = async () =>
    (await new FlowstoreMastraStorage({ id, store }).getStore("workflows")) as WorkflowsStorage;
  const [ws, elsewhere] = [await open(), await open()];
  return { sent, store, ws, elsewhere };
}

describeMastra("flowstore/mastra: persists of runs made at once", () => {
  forEachDriver((d) => {
    it("writes the persists of runs made at once by few statements, each as it would have been alone", async () => {
      const { sent, store, ws, elsewhere } = await twoInstances(d, "b");
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

      // The persists went in statements for many runs, several in one; the first, made with nothing in
      // flight, in a statement of its own.
      const together = sent.filter(({ sql }) => sql.includes("with ordinality"));
      expect(together.length).toBeGreaterThan(0);
      // Alone: the making of a run, or for a run this instance wrote before, the update of its row.
      const alone = sent.filter(
        ({ sql }) =>
          (sql.includes("on conflict (key)") && !sql.includes("with ordinality")) ||
          sql.startsWith(`update "${store.schema}".mastra_runs`),
      );
      expect(alone.length + together.length).toBeLessThan(runs.length);
      for (const runId of runs) {
        expect([...together, ...alone].filter(({ values }) => values.includes(runId)).length, runId).toBe(1);
      }
      await store.close();
    });

    it("updates the row of a run this instance wrote, makes any other first, and writes one gone or given rows elsewhere as one never seen", async () => {
      const { sent, store, ws, elsewhere } = await twoInstances(d, "k");
      const [plain, deleted, withRows, theirs, fresh] = Array.from({ length: 5 }, () => randomUUID()) as [
        string,
        string,
        string,
        string,
        string,
      ];
      for (const runId of [plain, deleted, withRows]) {
        await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, 1) });
      }
      // Another instance (as another process would) deletes one run, gives another an entry in a row,
      // and makes a run of its own.
      await elsewhere.deleteWorkflowRunById({ workflowName: "w", runId: deleted });
      await elsewhere.persistWorkflowSnapshot({
        workflowName: "w",
        runId: withRows,
        snapshot: step(withRows, 1, { big: { output: BIG } }),
      });
      await elsewhere.persistWorkflowSnapshot({
        workflowName: "w",
        runId: theirs,
        snapshot: step(theirs, 1),
      });
      expect((await stored(store, [withRows])).get(runKey("w", withRows))).toEqual({ version: 2, rows: 1 });
      sent.length = 0;

      const runs = [plain, deleted, withRows, theirs, fresh];
      for (const runId of runs) {
        await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, 2) });
        expect(await elsewhere.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(step(runId, 2));
      }
      const after = await stored(store, runs);
      expect(after.get(runKey("w", plain))).toEqual({ version: 2, rows: 0 });
      // Made again, with no trace of the run deleted; the entry's row deleted with the step that has none.
      expect(after.get(runKey("w", deleted))).toEqual({ version: 1, rows: 0 });
      expect(after.get(runKey("w", withRows))).toEqual({ version: 3, rows: 0 });
      expect(after.get(runKey("w", theirs))).toEqual({ version: 2, rows: 0 });
      expect(after.get(runKey("w", fresh))).toEqual({ version: 1, rows: 0 });
      // Each run made is counted once, the one made again too: the total is exact.
      const { total, runs: listed } = await elsewhere.listWorkflowRuns({
        workflowName: "w",
        perPage: 10,
        page: 0,
      });
      expect([total, listed.length]).toEqual([5, 5]);

      // The statements each persist sent: the likelier first (the update of a run this instance wrote,
      // the making of any other), the other only where that wrote nothing, then the statement that
      // deletes context rows.
      const runWrites = (runId: string) => writesOf(sent, runId);
      expect(runWrites(plain)).toEqual(["update"]);
      expect(runWrites(deleted)).toEqual(["update", "make"]);
      expect(runWrites(withRows)).toEqual(["update", "make", "with rows"]);
      expect(runWrites(theirs)).toEqual(["make", "update"]);
      expect(runWrites(fresh)).toEqual(["make"]);

      // Made at once, the same again: the first alone, the others together, the runs this instance
      // wrote plainly by one update of their rows, the others by the statements after it (the run
      // deleted elsewhere made again, the run given rows elsewhere written with its rows deleted).
      await elsewhere.deleteWorkflowRunById({ workflowName: "w", runId: deleted });
      await elsewhere.persistWorkflowSnapshot({
        workflowName: "w",
        runId: withRows,
        snapshot: step(withRows, 1, { big: { output: BIG } }),
      });
      sent.length = 0;
      await Promise.all(
        runs.map((runId) =>
          ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, 3) }),
        ),
      );
      for (const runId of runs) {
        expect(await elsewhere.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(step(runId, 3));
      }
      const again = await stored(store, runs);
      expect(again.get(runKey("w", plain))).toEqual({ version: 3, rows: 0 });
      expect(again.get(runKey("w", deleted))).toEqual({ version: 1, rows: 0 });
      expect(again.get(runKey("w", withRows))).toEqual({ version: 5, rows: 0 });
      expect(again.get(runKey("w", theirs))).toEqual({ version: 3, rows: 0 });
      expect(again.get(runKey("w", fresh))).toEqual({ version: 2, rows: 0 });
      const counted = await elsewhere.listWorkflowRuns({ workflowName: "w", perPage: 10, page: 0 });
      expect(counted.total).toBe(5);
      const updates = sent.filter(({ sql }) => sql.startsWith("update") && sql.includes("unnest"));
      expect(updates.length).toBe(1);
      // withRows last went by the statement that deletes rows: this instance no longer counts on its row.
      for (const runId of [deleted, theirs, fresh]) expect(updates[0]?.values).toContain(runId);
      expect(updates[0]?.values).not.toContain(withRows);
      await store.close();
    });

    it("takes no run made again elsewhere with rows, at the version this instance left it at, for the one it wrote, and updates one written plainly elsewhere", async () => {
      const { sent, store, ws, elsewhere } = await twoInstances(d, "v");
      const persist = (on: WorkflowsStorage, runId: string, n: number, extra = {}) =>
        on.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: step(runId, n, extra) });
      // Runs this instance makes and writes twice (it left each at version 2), then each made again
      // elsewhere, with an entry in a row, and written there to version 2 as well; and runs written
      // plainly elsewhere after this instance (at a version this instance did not leave them at).
      const [first, ...others] = Array.from({ length: 5 }, () => randomUUID()) as [string, ...string[]];
      const [again, againTogether, shared, sharedTogether] = others as [string, string, string, string];
      for (const runId of [first, ...others]) {
        await persist(ws, runId, 1);
        await persist(ws, runId, 2);
      }
      for (const runId of [again, againTogether]) {
        await elsewhere.deleteWorkflowRunById({ workflowName: "w", runId });
        await persist(elsewhere, runId, 1, { big: { output: BIG } });
        await persist(elsewhere, runId, 2, { big: { output: BIG } });
      }
      for (const runId of [shared, sharedTogether]) await persist(elsewhere, runId, 3);
      const before = await stored(store, others);
      for (const runId of [again, againTogether]) {
        expect(before.get(runKey("w", runId))).toEqual({ version: 2, rows: 1 });
      }
      sent.length = 0;

      // Alone, then the others at once (the first of them alone, the rest by the statements for many).
      await persist(ws, again, 3);
      await persist(ws, shared, 4);
      await Promise.all([first, againTogether, sharedTogether].map((runId) => persist(ws, runId, 4)));

      for (const runId of [again, againTogether]) {
        const n = runId === again ? 3 : 4;
        expect(await elsewhere.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(step(runId, n));
      }
      for (const runId of [shared, sharedTogether, first]) {
        expect(await elsewhere.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(step(runId, 4));
      }
      const after = await stored(store, [first, ...others]);
      // The run made again: its row no longer kept by the state, deleted by the statement that deletes
      // rows, which the update left it to.
      for (const runId of [again, againTogether]) {
        expect(after.get(runKey("w", runId))).toEqual({ version: 3, rows: 0 });
      }
      for (const runId of [shared, sharedTogether]) {
        expect(after.get(runKey("w", runId))).toEqual({ version: 4, rows: 0 });
      }
      expect(after.get(runKey("w", first))).toEqual({ version: 3, rows: 0 });
      const writes = (runId: string) => writesOf(sent, runId);
      expect(writes(again)).toEqual(["update", "make", "with rows"]);
      // A run written plainly elsewhere has no rows still: its update writes it, by its state.
      expect(writes(shared)).toEqual(["update"]);
      expect(writes(againTogether)).toEqual(["update", "persist many", "with rows"]);
      expect(writes(sharedTogether)).toEqual(["update"]);
      await store.close();
    });

    it("writes two persists of one run made at once in their order, the second after the first", async () => {
      const store = await d.open();
      const ws = (await new FlowstoreMastraStorage({ id: "o", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      const runId = randomUUID();
      // A run with an entry in a row: the first persist below, made alone, deletes it, while the second
      // waits for the run's key.
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
