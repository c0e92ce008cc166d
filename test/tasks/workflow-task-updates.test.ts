/** Tasks: a partial update with compare-and-set, and the engine's startedAt, completedAt and retryAt. */
import { describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, type Store, uuidv7, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { execution } from "../support/workflow-fixtures.js";

const FIRST = new Date("1000-01-01T00:00:00.000Z");
const LAST = new Date("9999-12-31T23:59:59.999Z");
const NOON = new Date("2030-06-01T12:00:00.123Z");

async function taskRows(store: Store): Promise<unknown[]> {
  return (await store.query(`select * from ${store.schema}.tasks order by task_exec_id`)).rows;
}

forEachDriver((driver) => {
  describe("tasks: engine dates and partial updates", () => {
    it("takes startedAt, completedAt and retryAt on every write, and returns them on every read", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const root = await store.tasks.upsert({
        executionId: e.id,
        taskId: "root",
        status: "completed",
        startedAt: FIRST,
        completedAt: LAST,
      });
      expect(root).toMatchObject({ startedAt: FIRST, completedAt: LAST, retryAt: null });
      const [many] = await store.tasks.upsertMany([{ executionId: e.id, taskId: "many", retryAt: NOON }]);
      expect(many).toMatchObject({ startedAt: null, completedAt: null, retryAt: NOON });
      const [child] = await store.tasks.createChildren(root.taskExecId, [
        { taskId: "child", status: "running", startedAt: NOON, retryAt: LAST },
      ]);
      expect(child).toMatchObject({ startedAt: NOON, completedAt: null, retryAt: LAST });

      expect(await store.tasks.get(root.taskExecId)).toEqual(root);
      expect(await store.tasks.listChildren(root.taskExecId)).toEqual([child]);
      expect((await store.tasks.tree(root.taskExecId))[1]).toEqual({ ...child, depth: 1 });
      const listed = await store.tasks.list({ executionId: e.id });
      expect(listed.items.map((t) => t.retryAt)).toEqual([null, NOON, LAST]);
      // An upsert writes the whole task: a date it leaves out is cleared.
      const rewritten = await store.tasks.upsert({ ...root, completedAt: undefined });
      expect(rewritten).toMatchObject({ startedAt: FIRST, completedAt: null, version: 2 });
    });

    it("update changes only the fields given; null clears one; the version goes up by one", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const task = await store.tasks.upsert({
        executionId: e.id,
        taskId: "charge",
        agentId: "agent",
        input: { amount: 5 },
        output: { partial: true },
        retryAt: NOON,
      });
      const running = await store.tasks.update(task.taskExecId, { status: "running", startedAt: NOON });
      expect(running).toEqual({
        ...task,
        status: "running",
        startedAt: NOON,
        version: 2,
        updatedAt: running.updatedAt,
      });
      const done = await store.tasks.update(
        task.taskExecId,
        { status: "completed", output: { paid: true }, completedAt: LAST, retryAt: null, attempt: 3 },
        { expectedVersion: 2 },
      );
      expect(done).toMatchObject({
        status: "completed",
        output: { paid: true },
        input: { amount: 5 },
        agentId: "agent",
        startedAt: NOON,
        completedAt: LAST,
        retryAt: null,
        attempt: 3,
        version: 3,
      });
      const cleared = await store.tasks.update(task.taskExecId, {
        output: null,
        agentId: null,
        toolId: undefined,
      });
      expect(cleared).toMatchObject({ output: null, agentId: null, toolId: null, status: "completed" });
      // An empty patch only moves the version: a compare-and-set that claims the task.
      expect((await store.tasks.update(task.taskExecId, {}, { expectedVersion: 4 })).version).toBe(5);
      expect(await store.tasks.get(task.taskExecId)).toMatchObject({ version: 5, output: null });
    });

    it("a stale expectedVersion is a ConflictError and writes nothing; a missing task is NotFound", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const task = await store.tasks.upsert({ executionId: e.id, taskId: "t" });
      await store.tasks.update(task.taskExecId, { status: "running" });
      const before = await taskRows(store);
      const error = await store.tasks
        .update(task.taskExecId, { status: "failed", error: { x: 1 } }, { expectedVersion: 1 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toContain("is at version 2, not the expected 1");
      await expect(store.tasks.update(uuidv7(), { status: "failed" })).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        store.tasks.update(uuidv7(), { status: "failed" }, { expectedVersion: 1 }),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect(await taskRows(store)).toEqual(before);
    });

    it("of racing updates at one expected version, exactly one wins", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const task = await store.tasks.upsert({ executionId: e.id, taskId: "t" });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.tasks.update(task.taskExecId, { attempt: i + 2 }, { expectedVersion: 1 }),
        ),
      );
      const won = outcomes.filter((o) => o.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const o of outcomes.filter((o) => o.status === "rejected")) {
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      }
      const read = await store.tasks.get(task.taskExecId);
      expect(read.version).toBe(2);
      expect(read.attempt).toBe((won[0] as PromiseFulfilledResult<{ attempt: number }>).value.attempt);
    });

    it("refuses bad input with a ValidationError before anything is written", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const task = await store.tasks.upsert({ executionId: e.id, taskId: "t" });
      const [child] = await store.tasks.createChildren(task.taskExecId, [{ taskId: "c" }]);
      const before = await taskRows(store);
      const badDates: unknown[] = [
        new Date("0999-12-31T23:59:59.999Z"),
        new Date("+010000-01-01T00:00:00.000Z"),
        new Date(Number.NaN),
        "2030-01-01",
        0,
      ];
      const patches: unknown[] = [
        ...badDates.flatMap((d) => [{ startedAt: d }, { completedAt: d }, { retryAt: d }]),
        { status: "bogus" },
        { status: null },
        { executionType: null },
        { attempt: -1 },
        { attempt: 1.5 },
        { output: 1n },
        { agentId: "a\u0000" },
        { taskId: "renamed" },
        { parentId: null },
        { executionId: e.id },
        { version: 9 },
        null,
        [],
        "status",
      ];
      for (const patch of patches) {
        const error = await store.tasks
          .update(task.taskExecId, patch as Record<string, never>)
          .catch((e: unknown) => e);
        expect(
          error,
          JSON.stringify(patch, (_, v) => (typeof v === "bigint" ? "1n" : v)),
        ).toBeInstanceOf(ValidationError);
      }
      await expect(store.tasks.update("nope", { status: "running" })).rejects.toBeInstanceOf(ValidationError);
      await expect(
        store.tasks.update(task.taskExecId, { status: "running" }, { expectedVersion: -1 }),
      ).rejects.toBeInstanceOf(ValidationError);
      for (const d of badDates) {
        const date = d as Date;
        const attempts = [
          store.tasks.upsert({ executionId: e.id, taskId: "n", startedAt: date }),
          store.tasks.upsertMany([{ executionId: e.id, taskId: "n", completedAt: date }]),
          store.tasks.createChildren(task.taskExecId, [{ taskId: "n", retryAt: date }]),
        ];
        for (const attempt of attempts) await expect(attempt).rejects.toBeInstanceOf(ValidationError);
      }
      expect(child).toBeDefined();
      expect(await taskRows(store)).toEqual(before);
    });

    it("create inserts a new task and refuses a taken taskExecId, writing nothing", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const taskExecId = uuidv7();
      const created = await store.tasks.create({
        taskExecId,
        executionId: e.id,
        taskId: "step-1",
        status: "running",
        attempt: 1,
        startedAt: NOON,
      });
      expect(created).toMatchObject({ taskExecId, taskId: "step-1", status: "running", version: 1 });
      await expect(
        store.tasks.create({ taskExecId, executionId: e.id, taskId: "other", status: "completed" }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await store.tasks.get(taskExecId)).toEqual(created);
      await expect(store.tasks.create({ executionId: uuidv7(), taskId: "orphan" })).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it("concurrent creates of one task have exactly one winner", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const taskExecId = uuidv7();
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.transaction((tx) =>
            tx.tasks.create({ taskExecId, executionId: e.id, taskId: "step", toolId: `writer-${i}` }),
          ),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
      }
      expect((await store.tasks.get(taskExecId)).toolId).toBe(
        (won[0] as PromiseFulfilledResult<{ toolId: string }>).value.toolId,
      );
    });

    it("an update inside a transaction that rolls back leaves the task as it was", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const task = await store.tasks.upsert({ executionId: e.id, taskId: "t" });
      await expect(
        store.transaction(async (tx) => {
          const locked = await tx.tasks.getForUpdate(task.taskExecId);
          await tx.tasks.update(
            locked.taskExecId,
            { status: "running" },
            { expectedVersion: locked.version },
          );
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.tasks.get(task.taskExecId)).toEqual(task);
    });
  });
});
