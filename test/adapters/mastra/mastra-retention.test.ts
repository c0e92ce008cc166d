/**
 * Mastra's own retention on FlowstoreMastraStorage (`retention` in its options, `storage.prune()`):
 * runs idle past their maxAge go with their context rows, threads idle past theirs go with
 * their messages, old messages and idle resources go; what is younger stays. A batch at a time, so a
 * bounded prune says it is not done and the next one goes on.
 */
import { randomUUID } from "node:crypto";
import type { MemoryStorage, WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY);

describeMastra("flowstore/mastra retention", () => {
  forEachDriver((d) => {
    it("prunes what is older than each table's maxAge, with what it owns, and keeps the rest", async () => {
      const store = await d.open();
      const storage = new FlowstoreMastraStorage({
        id: "retention",
        store,
        retention: {
          workflows: { workflowSnapshot: { maxAge: "1d" } },
          memory: { messages: { maxAge: "1d" }, threads: { maxAge: "2d" }, resources: { maxAge: "1d" } },
        },
      });
      const workflows = (await storage.getStore("workflows")) as WorkflowsStorage;
      const memory = (await storage.getStore("memory")) as MemoryStorage;

      const [oldRun, newRun] = [randomUUID(), randomUUID()];
      const snapshot = {
        status: "success",
        // A big entry (a row of its own, runs.ts) and a small one (in the run's state).
        context: { input: { n: 1 }, step: { status: "success", output: "x".repeat(4096) } },
      } as never;
      await workflows.persistWorkflowSnapshot({
        workflowName: "w",
        runId: oldRun,
        snapshot,
        createdAt: ago(5),
        updatedAt: ago(3),
      });
      await workflows.persistWorkflowSnapshot({ workflowName: "w", runId: newRun, snapshot });

      const thread = (id: string, updatedAt: Date) => ({
        id,
        resourceId: "r",
        title: "",
        createdAt: ago(10),
        updatedAt,
      });
      const message = (threadId: string, createdAt: Date) => ({
        id: randomUUID(),
        threadId,
        resourceId: "r",
        role: "user" as const,
        createdAt,
        content: { format: 2 as const, parts: [{ type: "text" as const, text: "hi" }] },
      });
      const [idle, active] = [`idle-${randomUUID()}`, `active-${randomUUID()}`];
      await memory.saveThread({ thread: thread(idle, ago(1)) });
      await memory.saveThread({ thread: thread(active, ago(1)) });
      const kept = message(active, new Date());
      const idleMessage = message(idle, new Date());
      await memory.saveMessages({ messages: [message(active, ago(3)), kept, idleMessage] });
      // Saving marked both threads active now: one is made idle again, as if nothing were said since.
      await store.query(`update "${store.schema}".mastra_threads set updated_at = $2 where id = $1`, [
        idle,
        ago(3),
      ]);
      await memory.saveResource({ resource: { id: "old", createdAt: ago(5), updatedAt: ago(3) } });
      await memory.saveResource({ resource: { id: "new", createdAt: new Date(), updatedAt: new Date() } });

      const results = await storage.prune();
      expect(results.map((r) => [r.domain, r.table, r.deleted, r.done])).toEqual([
        ["workflows", "mastra_runs", 1, true],
        ["memory", "mastra_messages", 1, true],
        ["memory", "mastra_resources", 1, true],
        ["memory", "mastra_threads", 1, true],
      ]);
      expect(await workflows.getWorkflowRunById({ runId: oldRun, workflowName: "w" })).toBeNull();
      expect((await workflows.listWorkflowRuns()).runs.map((r) => r.runId)).toEqual([newRun]);
      expect(await memory.getThreadById({ threadId: idle })).toBeNull();
      expect((await memory.listMessagesById({ messageIds: [idleMessage.id] })).messages).toEqual([]);
      expect((await memory.listMessages({ threadId: active })).messages.map((m) => m.id)).toEqual([kept.id]);
      expect([
        await memory.getResourceById({ resourceId: "old" }),
        (await memory.getResourceById({ resourceId: "new" }))?.id,
      ]).toEqual([null, "new"]);
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".mastra_run_parts`,
      );
      expect(rows[0]?.n).toBe(1); // the kept run's big entry
      // Its key is free: the run id can be stored again.
      await workflows.persistWorkflowSnapshot({ workflowName: "w", runId: oldRun, snapshot });
      expect((await workflows.getWorkflowRunById({ runId: oldRun }))?.runId).toBe(oldRun);
    });

    it("goes a batch at a time: a prune bounded by maxBatches says it is not done", async () => {
      const store = await d.open();
      const storage = new FlowstoreMastraStorage({
        id: "batches",
        store,
        retention: { workflows: { workflowSnapshot: { maxAge: "1d", batchSize: 2 } } },
      });
      const workflows = (await storage.getStore("workflows")) as WorkflowsStorage;
      for (let i = 0; i < 5; i++) {
        await workflows.persistWorkflowSnapshot({
          workflowName: "w",
          runId: `r${i}`,
          snapshot: { status: "running", context: {} } as never,
          updatedAt: ago(2),
        });
      }
      const first = await storage.prune({ maxBatches: 1 });
      expect(first.map((r) => [r.deleted, r.done])).toEqual([[2, false]]);
      const rest = await storage.prune();
      expect(rest.map((r) => [r.deleted, r.done])).toEqual([[3, true]]);
      expect((await workflows.listWorkflowRuns()).total).toBe(0);
    });
  });
});
