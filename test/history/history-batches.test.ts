/**
 * Task and execution writes that append to a history, made at the same time outside a transaction,
 * share statements and commits. Each is still answered as if it had gone alone: its own row and its own events, numbered
 * without gaps in every history (several writes to one history in one batch included), and a refused
 * write fails alone with the error it would have had, writing nothing.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, type Store, uuidv7 } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { statementLog } from "../support/waiting.js";

const taskWrites = (sql: string[], verb: "insert" | "update") =>
  sql
    .filter((text) => /^with b as \(\s*select \* from jsonb_to_recordset/.test(text.trim()))
    .filter((text) => text.includes(verb === "insert" ? "insert into" : "update ")).length;

/** Task writes with history that went alone, each in a statement of its own. */
const alone = (sql: string[]) =>
  sql.filter((text) => /^with written as \(\s*(insert into|update) \S+\.tasks/.test(text.trim())).length;

async function runs(store: Store, count: number) {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const { execution } = await store.executions.start({ name: "wf", status: "running" });
      return execution.id;
    }),
  );
}

forEachDriver((driver) => {
  describe("batched writes with history", () => {
    it("creates and updates made together share statements, each with its own events", async () => {
      const log = statementLog();
      const store = await driver.open({ logStatements: true, logger: log });
      const ids = await runs(store, 12);
      // Two tasks per run, all at once: several writes to one history can share a batch.
      const created = await Promise.all(
        ids.flatMap((executionId) =>
          ["a", "b"].map((taskId) =>
            store.tasks.create(
              { executionId, taskId, status: "running", input: { taskId } },
              {
                append: [
                  { type: "created", correlationId: taskId },
                  { type: "started", correlationId: taskId, payload: new Uint8Array([1, 2]) },
                ],
              },
            ),
          ),
        ),
      );
      expect(taskWrites(log.sql, "insert")).toBeGreaterThan(0);
      expect(taskWrites(log.sql, "insert")).toBeLessThan(created.length);
      expect(alone(log.sql)).toBe(0);
      for (const task of created) {
        expect(task.appended?.map((e) => [e.type, e.correlationId, e.executionId])).toEqual([
          ["created", task.taskId, task.executionId],
          ["started", task.taskId, task.executionId],
        ]);
        expect(task.appended?.[1]?.payload).toEqual(Buffer.from([1, 2]));
        expect(task).toMatchObject({ status: "running", input: { taskId: task.taskId }, version: 1 });
      }

      const updated = await Promise.all(
        created.map((task) =>
          store.tasks.update(
            task.taskExecId,
            { status: "completed", output: { done: task.taskId }, completedAt: new Date(0) },
            {
              expectedStatus: ["running"],
              append: { type: "completed", correlationId: task.taskId },
              historyAfter: 0,
            },
          ),
        ),
      );
      expect(taskWrites(log.sql, "update")).toBeGreaterThan(0);
      expect(taskWrites(log.sql, "update")).toBeLessThan(updated.length);
      expect(alone(log.sql)).toBe(0);
      for (const [i, task] of updated.entries()) {
        expect(task).toMatchObject({
          taskExecId: created[i]?.taskExecId,
          status: "completed",
          output: { done: task.taskId },
          completedAt: new Date(0),
          version: 2,
        });
        expect(task.appended?.map((e) => [e.type, e.correlationId])).toEqual([["completed", task.taskId]]);
        // The history is the run's, as events.list reads it once the write committed, up to the write's own.
        const own = task.appended?.[0]?.sequence as number;
        const listed = (await store.events.list(task.executionId)).items.filter((e) => e.sequence <= own);
        expect(task.history).toEqual(listed);
      }
      for (const executionId of ids) {
        const history = (await store.events.list(executionId)).items;
        expect(history.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(history.filter((e) => e.type === "completed")).toHaveLength(2);
      }
    });

    it("a write its batch leaves out fails alone, as it would alone, and writes nothing", async () => {
      const store = await driver.open();
      const [live, done] = await runs(store, 2);
      const missing = uuidv7();
      await store.executions.complete(done as string);
      const taken = await store.tasks.create({ executionId: live as string, taskId: "taken" });
      const append = { append: { type: "created" } };
      const results = await Promise.allSettled([
        store.tasks.create({ executionId: live as string, taskId: "ok" }, append),
        store.tasks.create(
          { executionId: live as string, taskId: "again", taskExecId: taken.taskExecId },
          append,
        ),
        store.tasks.create({ executionId: done as string, taskId: "late" }, append),
        store.tasks.create({ executionId: missing, taskId: "nowhere" }, append),
        store.tasks.update(taken.taskExecId, { status: "running" }, { expectedVersion: 7, ...append }),
        store.tasks.update(uuidv7(), { status: "running" }, append),
      ]);
      expect(results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as Error).constructor))).toEqual(
        ["ok", ConflictError, ConflictError, NotFoundError, ConflictError, NotFoundError],
      );
      expect((await store.events.list(live as string)).items.map((e) => e.sequence)).toEqual([1]);
      expect((await store.events.list(done as string)).items).toEqual([]);
      expect((await store.tasks.get(taken.taskExecId)).version).toBe(1);
      expect((await store.tasks.list({ executionId: done as string })).items).toEqual([]);
    });

    it("starts, changes and finishes of executions that append share statements too", async () => {
      const log = statementLog();
      const store = await driver.open({ logStatements: true, logger: log });
      const started = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.executions.start(
            { name: "wf", input: { i } },
            { append: [{ type: "created", payload: { i } }, { type: "queued" }] },
          ),
        ),
      );
      const changed = await Promise.all(
        started.map(({ execution }, i) =>
          store.executions.update(
            execution.id,
            i % 2 ? { status: "running", state: { i } } : { status: "running" },
            { expectedStatus: "pending", append: { type: "started" }, historyAfter: 1 },
          ),
        ),
      );
      const finished = await Promise.all(
        changed.map((execution, i) =>
          i % 2
            ? store.executions.complete(execution.id, { i }, { append: { type: "completed" } })
            : store.executions.fail(execution.id, { i }, { append: { type: "failed" } }),
        ),
      );
      const batches = log.sql.filter((text) => text.trim().startsWith("with b as (")).length;
      expect(batches).toBeGreaterThan(0);
      expect(batches).toBeLessThan(started.length * 3);
      expect(log.sql.filter((text) => /^with written as/.test(text.trim()))).toEqual([]);
      for (const [i, { execution, created, appended }] of started.entries()) {
        expect(created).toBe(true);
        expect(execution).toMatchObject({ status: "pending", input: { i } });
        expect(appended?.map((e) => [e.sequence, e.type, e.payload])).toEqual([
          [1, "created", { i }],
          [2, "queued", null],
        ]);
        const run = changed[i];
        expect(run).toMatchObject({ status: "running", state: i % 2 ? { i } : null, version: 2 });
        expect(run?.startedAt).toBeInstanceOf(Date);
        expect(run?.history?.map((e) => e.type)).toEqual(["queued", "started"]);
        const done = finished[i];
        expect(done).toMatchObject(
          i % 2 ? { status: "completed", output: { i } } : { status: "failed", error: { i } },
        );
        expect(done?.appended?.map((e) => e.sequence)).toEqual([4]);
        expect((await store.events.list(execution.id)).items.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
      }
    });

    it("an execution write its batch leaves out fails alone, as it would alone, and writes nothing", async () => {
      const store = await driver.open();
      const [pending, done] = await runs(store, 2);
      await store.executions.update(pending as string, { status: "pending" });
      await store.executions.complete(done as string);
      const append = { append: { type: "x" } };
      const results = await Promise.allSettled([
        store.executions.start({ id: pending as string, name: "wf" }, append),
        store.executions.update(pending as string, { status: "running" }, { expectedVersion: 9, ...append }),
        store.executions.update(done as string, { status: "running" }, append),
        store.executions.complete(done as string, null, append),
        store.executions.fail(uuidv7(), null, append),
        store.executions.update(pending as string, { output: 1 }, { expectedStatus: "pending", ...append }),
      ]);
      expect(results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as Error).constructor))).toEqual(
        [ConflictError, ConflictError, ConflictError, ConflictError, NotFoundError, "ok"],
      );
      expect((await store.events.list(pending as string)).items.map((e) => e.sequence)).toEqual([1]);
      expect((await store.events.list(done as string)).items).toEqual([]);
      expect(await store.executions.get(pending as string)).toMatchObject({ status: "pending", output: 1 });
    });
  });
});
