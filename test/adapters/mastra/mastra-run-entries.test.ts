/**
 * Where a Mastra run's context entries live (runs.ts): small ones in the run's state, big ones in rows
 * of their own, the run marked when it has some. Whatever the mix, every read gives the snapshot back
 * as written; a step's result moves between the two as its size says; a run stored before entries were
 * kept in the state (every entry a row, no mark), marked by migration 0048, reads back whole and is moved
 * on its next persist.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import type { WorkflowRunState } from "@mastra/core/workflows";
import { beforeAll, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { ROWS_MARK, runKey } from "../../../src/adapters/mastra/runs.js";
import { type Store, ValidationError } from "../../../src/index.js";
import { loadMigrations, renderMigration } from "../../../src/migrations/runner.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { statementLog } from "../../support/waiting.js";

const BIG = "x".repeat(5000);

const snapshot = (runId: string, context: Record<string, unknown>) =>
  runSnapshot(runId, context, "running", 1);

describeMastra("flowstore/mastra: a run's entries in its state and in rows", () => {
  forEachDriver((d) => {
    let store: Store;
    let ws: WorkflowsStorage;
    beforeAll(async () => {
      store = await d.open();
      ws = (await new FlowstoreMastraStorage({ id: "t", store }).getStore("workflows")) as WorkflowsStorage;
    });

    /** A workflows domain on a store of its own whose statements are logged. */
    async function loggedWorkflows() {
      const logger = statementLog();
      const logged = await d.open({ logStatements: true, logger });
      const w = (await new FlowstoreMastraStorage({ id: "s", store: logged }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      return { logger, logged, w };
    }

    /** The run's rows (their entries' keys) and its state as stored. */
    async function stored(runId: string, workflowName = "w") {
      const { rows } = await store.query<{ state: Record<string, unknown>; parts: string[] | null }>(
        `select e.state, (select array_agg(c.part_id order by c.part_id)
                            from "${store.schema}".mastra_run_parts c where c.run_id = e.id) as parts
           from "${store.schema}".mastra_runs e where e.key = $1`,
        [runKey(workflowName, runId)],
      );
      return { state: rows[0]?.state, parts: rows[0]?.parts ?? [] };
    }

    it("keeps small entries in the state and big ones in rows, and reads them back as one snapshot", async () => {
      const runId = randomUUID();
      const context = { input: { n: 1 }, small: { status: "success", output: 2 }, big: { output: BIG } };
      await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: snapshot(runId, context) });
      const { state, parts } = await stored(runId);
      expect(parts).toEqual(["context/big"]);
      expect(Object.keys(state?.context as object).sort()).toEqual(["input", "small"]);
      expect(state?.["$flowstore:rows"]).toBe(true);

      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "w", runId });
      const byId = await ws.getWorkflowRunById({ runId, workflowName: "w" });
      const listed = await ws.listWorkflowRuns({ workflowName: "w", perPage: 10, page: 0 });
      for (const read of [loaded, byId?.snapshot, listed.runs.find((r) => r.runId === runId)?.snapshot]) {
        expect(read).toEqual(snapshot(runId, context));
      }
      // Made small, the big entry moves into the state: no row is left, nor the mark.
      const smaller = { ...context, big: { output: "short" } };
      await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: snapshot(runId, smaller) });
      const after = await stored(runId);
      expect(after.parts).toEqual([]);
      expect(after.state?.["$flowstore:rows"]).toBeUndefined();
      expect(await ws.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(snapshot(runId, smaller));
    });

    // A snapshot no longer than one entry may be is checked and written whole, a longer one entry by
    // entry: either way every small entry is in the state, which holds the snapshot as given.
    it("stores a small snapshot the same whether its JSON is within one entry's size or past it", async () => {
      for (const note of [1, 300, 500, 800]) {
        const runId = randomUUID();
        const given = snapshot(runId, {
          input: { note: "n".repeat(note) },
          a: { status: "success", output: { text: "a".repeat(600) } },
          b: { status: "success", output: { text: "b".repeat(600), at: new Date(5) } },
        });
        await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: given });
        const plain = JSON.parse(JSON.stringify(given));
        expect(await stored(runId)).toEqual({ state: plain, parts: [] });
        expect(await ws.loadWorkflowSnapshot({ workflowName: "w", runId })).toEqual(plain);
      }
    });

    it("writes a small step result into the state and a big one as a row, the context whole each time", async () => {
      const runId = randomUUID();
      await ws.persistWorkflowSnapshot({
        workflowName: "w",
        runId,
        snapshot: snapshot(runId, { input: { n: 1 } }),
      });
      const step = (output: unknown) =>
        ws.updateWorkflowResults({
          workflowName: "w",
          runId,
          stepId: "s",
          result: { status: "success", output, startedAt: 1, endedAt: 2 } as never,
          requestContext: { k: 1 },
        });
      const big = await step(BIG);
      expect(Object.keys(big).sort()).toEqual(["input", "s"]);
      expect((big.s as { output: unknown }).output).toBe(BIG);
      let now = await stored(runId);
      expect(now.parts).toEqual(["context/s"]);
      expect(Object.keys(now.state?.context as object)).toEqual(["input"]);
      expect(now.state?.["$flowstore:rows"]).toBe(true);

      const small = await step("done");
      expect((small.s as { output: unknown }).output).toBe("done");
      now = await stored(runId);
      expect(now.parts).toEqual([]);
      expect(Object.keys(now.state?.context as object).sort()).toEqual(["input", "s"]);
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "w", runId });
      expect(loaded?.context).toEqual({
        input: { n: 1 },
        s: { status: "success", output: "done", startedAt: 1, endedAt: 2 },
      });
      expect(loaded?.requestContext).toEqual({ k: 1 });
      expect(loaded).not.toHaveProperty("$flowstore:rows");
    });

    it("writes a step result of a run of small entries in one statement, its context read back from it", async () => {
      const { logger, logged, w } = await loggedWorkflows();
      const runId = randomUUID();
      await w.persistWorkflowSnapshot({
        workflowName: "w",
        runId,
        snapshot: snapshot(runId, { input: { n: 1 } }),
      });
      logger.sql.length = 0;
      const context = await w.updateWorkflowResults({
        workflowName: "w",
        runId,
        stepId: "s",
        result: { status: "success", output: 2, startedAt: 1, endedAt: 2 } as never,
        requestContext: {},
      });
      expect(context).toEqual({
        input: { n: 1 },
        s: { status: "success", output: 2, startedAt: 1, endedAt: 2 },
      });
      expect(logger.sql).toHaveLength(1);
      await logged.close();
    });

    it("reads a run of small entries by one statement of its row alone, one with rows with them", async () => {
      const { logger, logged, w } = await loggedWorkflows();
      const reads = () => logger.sql.splice(0);
      const small = randomUUID();
      const smallSnapshot = snapshot(small, { input: { n: 1 }, s: { status: "success", output: 2 } });
      const big = randomUUID();
      const bigSnapshot = snapshot(big, { input: { n: 1 }, big: { output: BIG } });
      await w.persistWorkflowSnapshot({ workflowName: "w", runId: small, snapshot: smallSnapshot });
      await w.persistWorkflowSnapshot({ workflowName: "w", runId: big, snapshot: bigSnapshot });
      reads();
      expect(await w.loadWorkflowSnapshot({ workflowName: "w", runId: small })).toEqual(smallSnapshot);
      const [smallRead, ...more] = reads();
      expect(more).toEqual([]);
      expect(smallRead).not.toContain("mastra_run_parts");
      // The state says the run has rows: they are read with it again, in one statement.
      expect(await w.loadWorkflowSnapshot({ workflowName: "w", runId: big })).toEqual(bigSnapshot);
      const bigReads = reads();
      expect(bigReads).toHaveLength(2);
      expect(bigReads[1]).toContain("mastra_run_parts");
      await logged.close();
    });

    it("reads a run stored with every entry a row and no mark, once migration 0048 marked it, and moves it on its next persist", async () => {
      const runId = randomUUID();
      const context = { input: { n: 1 }, a: { status: "success", output: "a" } };
      // This storage wrote the run, so its next persist tries the update that leaves runs with rows alone.
      await ws.persistWorkflowSnapshot({ workflowName: "old", runId, snapshot: snapshot(runId, context) });
      // As such a store left it: the state's context empty, each entry a row, no mark.
      await store.query(
        `with e as (select e.id, e.state from "${store.schema}".mastra_runs e where e.key = $1),
              rows as (insert into "${store.schema}".mastra_run_parts (run_id, part_id, state)
                       select e.id, 'context/' || x.key, x.value from e, jsonb_each(e.state->'context') x)
         update "${store.schema}".mastra_runs t set state = jsonb_set(t.state, '{context}', '{}') from e where t.id = e.id`,
        [runKey("old", runId)],
      );
      const marked = loadMigrations().find((m) => m.id === 48);
      expect(marked?.name).toBe("mastra_runs_marked");
      await store.query(renderMigration(marked as { sql: string }, store.schema));
      expect((await stored(runId, "old")).state?.[ROWS_MARK]).toBe(true);
      expect((await stored(runId, "old")).parts).toEqual(["context/a", "context/input"]);
      expect(await ws.loadWorkflowSnapshot({ workflowName: "old", runId })).toEqual(snapshot(runId, context));
      expect((await ws.getWorkflowRunById({ runId }))?.snapshot).toEqual(snapshot(runId, context));

      const later = { ...context, b: { status: "success", output: "b" } };
      await ws.persistWorkflowSnapshot({ workflowName: "old", runId, snapshot: snapshot(runId, later) });
      const moved = await stored(runId, "old");
      expect(moved.parts).toEqual([]);
      expect(moved.state?.context).toEqual(later);
      expect(moved.state?.[ROWS_MARK]).toBeUndefined();
      expect(await ws.loadWorkflowSnapshot({ workflowName: "old", runId })).toEqual(snapshot(runId, later));
    });

    it("marks no run whose context has entries, and reads a run of an empty context written now as it is", async () => {
      const { logger, logged, w } = await loggedWorkflows();
      const runId = randomUUID();
      const empty = snapshot(runId, {});
      await w.persistWorkflowSnapshot({ workflowName: "empty", runId, snapshot: empty });
      const other = randomUUID();
      await w.persistWorkflowSnapshot({
        workflowName: "empty",
        runId: other,
        snapshot: snapshot(other, { input: {} }),
      });
      logger.sql.length = 0;
      expect(await w.loadWorkflowSnapshot({ workflowName: "empty", runId })).toEqual(empty);
      // Its state alone: an empty context no longer says the run may have rows.
      expect(logger.sql).toHaveLength(1);
      expect(logger.sql[0]).not.toContain("mastra_run_parts");
      const marked = loadMigrations().find((m) => m.id === 48) as { sql: string };
      await logged.query(renderMigration(marked, logged.schema));
      const { rows } = await logged.query<{ key: string; marked: boolean | null }>(
        `select key, (state->'${ROWS_MARK}')::boolean as marked from "${logged.schema}".mastra_runs order by key`,
      );
      expect(Object.fromEntries(rows.map((r) => [r.key, r.marked]))).toEqual({
        [runKey("empty", runId)]: true,
        [runKey("empty", other)]: null,
      });
      expect(await w.loadWorkflowSnapshot({ workflowName: "empty", runId })).toEqual(empty);
      await logged.close();
    });

    it("finds a run by the thread its small entries name, as Mastra's memory looks for it", async () => {
      const runId = randomUUID();
      const thread = `thread-${randomUUID()}`;
      const suspended = {
        status: "suspended",
        suspendPayload: { __streamState: { messageList: { memoryInfo: { threadId: thread } } } },
      };
      await ws.persistWorkflowSnapshot({
        workflowName: "threads",
        runId,
        snapshot: snapshot(runId, { input: {}, ask: suspended }),
      });
      const other = randomUUID();
      await ws.persistWorkflowSnapshot({
        workflowName: "threads",
        runId: other,
        snapshot: snapshot(other, { input: { messageListState: { memoryInfo: { threadId: thread } } } }),
      });
      const found = await ws.listWorkflowRuns({ workflowName: "threads", threadId: thread });
      expect(found.runs.map((r) => r.runId).sort()).toEqual([runId, other].sort());
      const none = await ws.listWorkflowRuns({ workflowName: "threads", threadId: "nobody" });
      expect(none.runs).toEqual([]);
    });

    it("finds a run deleted and made again by another storage, whose id this one read", async () => {
      const other = (await new FlowstoreMastraStorage({ id: "o", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      const runId = randomUUID();
      const persist = (on: WorkflowsStorage, n: number) =>
        on.persistWorkflowSnapshot({ workflowName: "again", runId, snapshot: snapshot(runId, { n: { n } }) });
      await persist(ws, 1);
      expect((await ws.loadWorkflowSnapshot({ workflowName: "again", runId }))?.context).toEqual({
        n: { n: 1 },
      });
      // Elsewhere: deleted, then made again (a new row, a new id).
      await other.deleteWorkflowRunById({ workflowName: "again", runId });
      await persist(other, 2);
      expect((await ws.loadWorkflowSnapshot({ workflowName: "again", runId }))?.context).toEqual({
        n: { n: 2 },
      });
      await other.deleteWorkflowRunById({ workflowName: "again", runId });
      await persist(other, 3);
      await persist(ws, 4);
      expect((await other.loadWorkflowSnapshot({ workflowName: "again", runId }))?.context).toEqual({
        n: { n: 4 },
      });
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".mastra_runs where key = $1`,
        [runKey("again", runId)],
      );
      expect(rows[0]?.n).toBe(1);
      // Deleted elsewhere and not made again: a persist makes it anew, a load finds nothing.
      await other.deleteWorkflowRunById({ workflowName: "again", runId });
      expect(await ws.loadWorkflowSnapshot({ workflowName: "again", runId })).toBeNull();
      await persist(ws, 5);
      expect((await other.loadWorkflowSnapshot({ workflowName: "again", runId }))?.context).toEqual({
        n: { n: 5 },
      });
    });

    it("reads of one run asked for at once share a statement, each caller with a copy of its own", async () => {
      const { logger, w } = await loggedWorkflows();
      const statements = logger.sql;
      const runId = randomUUID();
      await w.persistWorkflowSnapshot({
        workflowName: "shared",
        runId,
        snapshot: snapshot(runId, { a: { n: 1 } }),
      });
      statements.length = 0;
      const loads = await Promise.all(
        Array.from({ length: 8 }, () => w.loadWorkflowSnapshot({ workflowName: "shared", runId })),
      );
      const byId = await Promise.all(
        Array.from({ length: 3 }, () => w.getWorkflowRunById({ workflowName: "shared", runId })),
      );
      expect(statements).toHaveLength(2);
      (loads[0]?.context as Record<string, unknown>).a = "changed by its caller";
      for (const load of loads.slice(1)) expect(load).toEqual(snapshot(runId, { a: { n: 1 } }));
      expect(new Set(byId.map((run) => run?.snapshot)).size).toBe(3);
      // A read asked for after a write sees it: it never joins a statement sent before.
      await w.persistWorkflowSnapshot({
        workflowName: "shared",
        runId,
        snapshot: snapshot(runId, { a: { n: 2 } }),
      });
      expect((await w.loadWorkflowSnapshot({ workflowName: "shared", runId }))?.context).toEqual({
        a: { n: 2 },
      });
    });

    it("refuses a snapshot that uses the state's mark as a name of its own, and writes nothing", async () => {
      const runId = randomUUID();
      const bad = { ...snapshot(runId, {}), "$flowstore:rows": false } as unknown as WorkflowRunState;
      await expect(ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: bad })).rejects.toThrow(
        ValidationError,
      );
      expect(await ws.loadWorkflowSnapshot({ workflowName: "w", runId })).toBeNull();
    });
  });
});
