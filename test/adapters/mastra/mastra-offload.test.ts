/**
 * Big context entries out of the row: with the store's `limits.offloadAbove`, a Mastra run's entry
 * over it is kept in the blob store under the run, its row holding a reference; reads put it back;
 * an entry persisted again unchanged puts nothing; a blob no row names any more goes (entry replaced,
 * made small, deleted, run deleted or pruned); the thread filter still finds such runs; two storages
 * writing one run and a reader beside them never meet a missing blob, and no blob is left behind.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import type { WorkflowRunState } from "@mastra/core/workflows";
import { beforeAll, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { type Store, ValidationError } from "../../../src/index.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

const LIMIT = 4096;
/** Text of `bytes` that does not compress. */
const big = (bytes = 20_000) => randomBytes(bytes * 0.75).toString("base64");

const snapshot = runSnapshot;

describeMastra("flowstore/mastra: big entries in the blob store", () => {
  forEachDriver((d) => {
    let store: Store;
    let ws: WorkflowsStorage;
    beforeAll(async () => {
      store = await d.open({ limits: { offloadAbove: LIMIT } });
      ws = (await new FlowstoreMastraStorage({ id: "offload", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
    });

    /** The run's rows that hold a reference, by entry, and the blobs under the run. */
    async function stored(workflowName: string, runId: string) {
      const run = await ws.getWorkflowRunById({ workflowName, runId });
      const { rows } = await store.query<{ id: string }>(
        `select e.id from "${store.schema}".mastra_runs e where e.key = $1`,
        [`mastra:${JSON.stringify([runId, workflowName])}`],
      );
      const id = rows[0]?.id;
      const refs = id
        ? (
            await store.query<{ entry: string; key: string }>(
              `select part_id as entry, state #>> '{$flowstore:offloaded,key}' as key
                 from "${store.schema}".mastra_run_parts where run_id = $1 and state ? '$flowstore:offloaded'
                order by 1`,
              [id],
            )
          ).rows
        : [];
      const blobs = id ? (await store.blobs.list(`flowstore:offloaded/${id}/`)).items.map((b) => b.key) : [];
      return { run, id, refs, blobs: blobs.sort() };
    }

    it("keeps an entry over the limit in the blob store, reads it back, and puts it once", async () => {
      const runId = randomUUID();
      const input = { document: big() };
      const context = { input, small: { status: "success", output: { n: 1 } } };
      await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: snapshot(runId, context) });
      const first = await stored("w", runId);
      expect(first.refs.map((r) => r.entry)).toEqual(["context/input"]);
      expect(first.blobs).toEqual([first.refs[0]?.key]);
      const loaded = await ws.loadWorkflowSnapshot({ workflowName: "w", runId });
      expect(loaded?.context).toEqual(context);
      const listed = await ws.listWorkflowRuns({ workflowName: "w" });
      expect((listed.runs[0]?.snapshot as WorkflowRunState | undefined)?.context).toEqual(context);

      // The same entry again (a later step persisting the whole snapshot): the same blob, not put again.
      const { createdAt } = await store.blobs.head(first.blobs[0] as string);
      const more = { ...context, next: { status: "success", output: { n: 2 } } };
      await ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: snapshot(runId, more) });
      const again = await stored("w", runId);
      expect(again.blobs).toEqual(first.blobs);
      expect((await store.blobs.head(first.blobs[0] as string)).createdAt).toEqual(createdAt);
      expect((again.run?.snapshot as WorkflowRunState | undefined)?.context).toEqual(more);
    });

    it("removes a blob once no row names it: replaced, made small, or its entry gone", async () => {
      const runId = randomUUID();
      const persist = (context: Record<string, unknown>) =>
        ws.persistWorkflowSnapshot({ workflowName: "w", runId, snapshot: snapshot(runId, context) });
      await persist({ input: { a: big() }, other: { b: big() } });
      const two = await stored("w", runId);
      expect(two.blobs).toHaveLength(2);

      const replaced = { a: big() };
      await persist({ input: replaced, other: { b: "small" } });
      const after = await stored("w", runId);
      expect(after.refs.map((r) => r.entry)).toEqual(["context/input"]);
      expect(after.blobs).toEqual([after.refs[0]?.key]);
      expect(two.blobs).not.toContain(after.blobs[0]);
      expect((after.run?.snapshot as WorkflowRunState | undefined)?.context).toEqual({
        input: replaced,
        other: { b: "small" },
      });

      await persist({ input: { a: "small" } });
      const none = await stored("w", runId);
      expect(none.refs).toEqual([]);
      expect(none.blobs).toEqual([]);
    });

    it("offloads a big step result, merges a foreach step's stored array, and releases both", async () => {
      const runId = randomUUID();
      await ws.persistWorkflowSnapshot({
        workflowName: "w",
        runId,
        snapshot: snapshot(runId, { input: {} }),
      });
      const output = { text: big() };
      const result = { status: "success", output, startedAt: 1, endedAt: 2 } as never;
      const context = await ws.updateWorkflowResults({
        workflowName: "w",
        runId,
        stepId: "s",
        result,
        requestContext: {},
      });
      expect((context.s as { output: unknown }).output).toEqual(output);
      expect((await stored("w", runId)).refs.map((r) => r.entry)).toEqual(["context/s"]);

      // A foreach step whose results are big: each update merges into the array in the blob store.
      const items = [big(), big()];
      const each = (i: number) =>
        ws.updateWorkflowResults({
          workflowName: "w",
          runId,
          stepId: "each",
          result: { status: "running", output: items.map((item, k) => (k === i ? item : null)) } as never,
          requestContext: {},
        });
      await each(0);
      const merged = await each(1);
      expect((merged.each as { output: unknown }).output).toEqual(items);
      const withBoth = await stored("w", runId);
      expect(withBoth.refs.map((r) => r.entry)).toEqual(["context/each", "context/s"]);
      expect(withBoth.blobs).toEqual(withBoth.refs.map((r) => r.key).sort());

      const small = { status: "success", output: { n: 1 }, startedAt: 1, endedAt: 2 } as never;
      await ws.updateWorkflowResults({
        workflowName: "w",
        runId,
        stepId: "s",
        result: small,
        requestContext: {},
      });
      const left = await stored("w", runId);
      expect(left.refs.map((r) => r.entry)).toEqual(["context/each"]);
      expect(left.blobs).toEqual([left.refs[0]?.key]);
    });

    it("finds a run by thread when the entry that names it is in the blob store", async () => {
      const [suspended, durable] = [randomUUID(), randomUUID()];
      const memoryInfo = { threadId: `thread-${suspended}`, resourceId: "r" };
      await ws.persistWorkflowSnapshot({
        workflowName: "threads",
        runId: suspended,
        snapshot: snapshot(suspended, {
          step: {
            status: "suspended",
            suspendPayload: { __streamState: { messageList: { memoryInfo } }, text: big() },
          },
        }),
      });
      await ws.persistWorkflowSnapshot({
        workflowName: "threads",
        runId: durable,
        snapshot: snapshot(durable, { input: { messageListState: { memoryInfo }, text: big() } }),
      });
      expect((await stored("threads", suspended)).refs).toHaveLength(1);
      const found = await ws.listWorkflowRuns({ threadId: memoryInfo.threadId });
      expect(found.runs.map((r) => r.runId).sort()).toEqual([suspended, durable].sort());
      expect((await ws.listWorkflowRuns({ threadId: "thread-nobody" })).total).toBe(0);
    });

    it("deletes a run's blobs with the run", async () => {
      const runId = randomUUID();
      await ws.persistWorkflowSnapshot({
        workflowName: "w",
        runId,
        snapshot: snapshot(runId, { input: { a: big() } }),
      });
      const { id, blobs } = await stored("w", runId);
      expect(blobs).toHaveLength(1);
      await ws.deleteWorkflowRunById({ workflowName: "w", runId });
      expect(await ws.loadWorkflowSnapshot({ workflowName: "w", runId })).toBeNull();
      expect((await store.blobs.list(`flowstore:offloaded/${id}/`)).items).toEqual([]);
    });

    it("prunes a run's blobs with the run, by Mastra's retention and by flowstore's", async () => {
      const storage = new FlowstoreMastraStorage({
        id: "retention",
        store,
        retention: { workflows: { workflowSnapshot: { maxAge: "1d" } } },
      });
      const workflows = (await storage.getStore("workflows")) as WorkflowsStorage;
      const [byMastra, byFlowstore] = [randomUUID(), randomUUID()];
      const longAgo = new Date(Date.now() - 3 * 86_400_000);
      for (const [runId, status] of [
        [byMastra, "running"],
        [byFlowstore, "success"],
      ] as const) {
        await workflows.persistWorkflowSnapshot({
          workflowName: "pruned",
          runId,
          snapshot: snapshot(runId, { input: { a: big() } }, status),
          updatedAt: longAgo,
        });
      }
      const ids = [(await stored("pruned", byMastra)).id, (await stored("pruned", byFlowstore)).id];
      await storage.prune();
      for (const id of ids) expect((await store.blobs.list(`flowstore:offloaded/${id}/`)).items).toEqual([]);
      expect(await workflows.loadWorkflowSnapshot({ workflowName: "pruned", runId: byMastra })).toBeNull();
      // Mastra's prune took both (by their last activity); flowstore's takes a finished run's blobs too.
      await workflows.persistWorkflowSnapshot({
        workflowName: "pruned",
        runId: byFlowstore,
        snapshot: snapshot(byFlowstore, { input: { a: big() } }, "success"),
      });
      const again = await stored("pruned", byFlowstore);
      expect(again.blobs).toHaveLength(1);
      await store.prune({ finishedBefore: new Date(Date.now() + 60_000) });
      expect((await store.blobs.list(`flowstore:offloaded/${again.id}/`)).items).toEqual([]);
      expect(await workflows.loadWorkflowSnapshot({ workflowName: "pruned", runId: byFlowstore })).toBeNull();
    });

    it("refuses an entry that holds the reference's key, and writes nothing", async () => {
      const runId = randomUUID();
      const forged = { "$flowstore:offloaded": { key: "elsewhere", bytes: 1, kind: "json" } };
      await expect(
        ws.persistWorkflowSnapshot({
          workflowName: "w",
          runId,
          snapshot: snapshot(runId, { input: forged }),
        }),
      ).rejects.toThrow(ValidationError);
      expect(await ws.loadWorkflowSnapshot({ workflowName: "w", runId })).toBeNull();
    });

    it("never loses a blob a row names, nor keeps one none does, with two writers and a reader", async () => {
      const other = (await new FlowstoreMastraStorage({ id: "other", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      const runId = randomUUID();
      const write = (storage: WorkflowsStorage, i: number) =>
        storage.persistWorkflowSnapshot({
          workflowName: "race",
          runId,
          snapshot: snapshot(runId, {
            input: { text: big(8_000) },
            [`s${i % 3}`]: { n: i, text: big(6_000) },
          }),
        });
      let reading = true;
      let reads = 0;
      const reader = (async () => {
        while (reading) {
          const loaded = await ws.loadWorkflowSnapshot({ workflowName: "race", runId });
          if (loaded) {
            for (const value of Object.values(loaded.context))
              expect(JSON.stringify(value)).not.toContain("offloaded");
            reads++;
          }
        }
      })();
      try {
        await Promise.all([
          (async () => {
            for (let i = 0; i < 12; i++) await write(ws, i);
          })(),
          (async () => {
            for (let i = 0; i < 12; i++) await write(other, i + 100);
          })(),
        ]);
      } finally {
        // A writer's failure ends the reader too, not left reading a store the harness closes.
        reading = false;
        await reader;
      }
      expect(reads).toBeGreaterThan(0);
      const end = await stored("race", runId);
      expect(end.blobs).toEqual([...new Set(end.refs.map((r) => r.key))].sort());
      expect(end.refs.length).toBeGreaterThan(0);
    });
  });
});
