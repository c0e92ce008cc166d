import { describe, expect, it } from "vitest";
import {
  ConflictError,
  NotFoundError,
  type Task,
  type TaskRecord,
  type TaskStatus,
  uuidv7,
  ValidationError,
} from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until, waitingOnLocks } from "../support/waiting.js";
import { countRows, definition, execution } from "../support/workflow-fixtures.js";

/** A deterministic pseudo-random sequence, so a failing tree can be reproduced. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

forEachDriver((driver) => {
  describe("tasks", () => {
    it("upsert inserts, then overwrites by taskExecId and bumps the version", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const task = await store.tasks.upsert({
        executionId: e.id,
        taskId: "fetch",
        workflowId: "order",
        agentId: "agent-1",
        input: { url: "x" },
      });
      expect(task).toMatchObject({
        executionId: e.id,
        taskId: "fetch",
        workflowId: "order",
        status: "pending",
        executionType: "basic",
        parentId: null,
        agentId: "agent-1",
        toolId: null,
        input: { url: "x" },
        output: null,
        error: null,
        attempt: 1,
        version: 1,
      });
      const updated = await store.tasks.upsert({
        taskExecId: task.taskExecId,
        executionId: e.id,
        taskId: "fetch",
        status: "completed",
        output: { ok: true },
        attempt: 2,
      });
      expect(updated).toMatchObject({
        status: "completed",
        output: { ok: true },
        input: null,
        attempt: 2,
        version: 2,
      });
      expect(updated.createdAt).toEqual(task.createdAt);
      expect(await store.tasks.get(task.taskExecId)).toEqual(updated);
      const other = await execution(store);
      await expect(
        store.tasks.upsert({ taskExecId: task.taskExecId, executionId: other.id, taskId: "fetch" }),
      ).rejects.toBeInstanceOf(ConflictError);
      await expect(store.tasks.upsert({ executionId: uuidv7(), taskId: "x" })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await expect(store.tasks.get(uuidv7())).rejects.toBeInstanceOf(NotFoundError);
      expect(await countRows(store, "tasks")).toBe(1);
    });

    it("upsertMany writes a batch in the order given, all or none", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const other = await execution(store);
      const batch: TaskRecord[] = Array.from({ length: 50 }, (_, i) => ({
        taskExecId: uuidv7(),
        executionId: e.id,
        taskId: `step-${i}`,
        status: "running",
      }));
      const written = await store.tasks.upsertMany([...batch].reverse());
      expect(written.map((t) => t.taskId)).toEqual([...batch].reverse().map((t) => t.taskId));
      const again = await store.tasks.upsertMany(batch.map((t) => ({ ...t, status: "completed" as const })));
      expect(again.every((t) => t.version === 2 && t.status === "completed")).toBe(true);
      const bad = [
        { executionId: e.id, taskId: "new" },
        { ...(batch[0] as TaskRecord), executionId: other.id },
      ];
      await expect(store.tasks.upsertMany(bad)).rejects.toBeInstanceOf(ConflictError);
      await expect(
        store.tasks.upsertMany([batch[0] as TaskRecord, batch[0] as TaskRecord]),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(
        store.tasks.upsertMany([{ executionId: e.id, taskId: "x", status: "nope" as TaskStatus }]),
      ).rejects.toBeInstanceOf(ValidationError);
      expect(await countRows(store, "tasks")).toBe(50);
    });

    it("lists by execution, status, agent, tool, parent and execution type, page by page", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const e1 = await execution(store, d.id);
      const e2 = await execution(store, d.id);
      const parent = await store.tasks.upsert({
        executionId: e1.id,
        taskId: "parent",
        executionType: "parallel",
      });
      const statuses: TaskStatus[] = ["pending", "running", "completed"];
      const records: TaskRecord[] = Array.from({ length: 24 }, (_, i) => ({
        executionId: i % 2 ? e1.id : e2.id,
        taskId: `t${i}`,
        status: statuses[i % 3],
        agentId: i % 4 === 0 ? "agent-a" : null,
        toolId: i % 6 === 0 ? "tool-x" : null,
        parentId: i % 2 && i < 10 ? parent.taskExecId : null,
      }));
      const tasks = [parent, ...(await store.tasks.upsertMany(records))];
      const names = async (filter: Parameters<typeof store.tasks.list>[0]) =>
        (await store.tasks.list({ ...filter, limit: 100 })).items.map((t) => t.taskId).sort();
      const expected = (pick: (t: Task) => boolean) =>
        tasks
          .filter(pick)
          .map((t) => t.taskId)
          .sort();
      expect(await names({ executionId: e1.id, status: "running" })).toEqual(
        expected((t) => t.executionId === e1.id && t.status === "running"),
      );
      expect(await names({ status: ["pending", "completed"] })).toEqual(
        expected((t) => t.status !== "running"),
      );
      expect(await names({ agentId: "agent-a" })).toEqual(expected((t) => t.agentId === "agent-a"));
      expect(await names({ toolId: "tool-x" })).toEqual(expected((t) => t.toolId === "tool-x"));
      expect(await names({ parentId: parent.taskExecId })).toEqual(
        expected((t) => t.parentId === parent.taskExecId),
      );
      expect(await names({ executionType: "parallel" })).toEqual(["parent"]);

      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.tasks.list({ limit: 5, cursor });
        seen.push(...page.items.map((t) => t.taskExecId));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([
        parent.taskExecId,
        ...tasks
          .slice(1)
          .map((t) => t.taskExecId)
          .sort(),
      ]);

      const inExecution = await store.tasks.listInExecution(e1.id);
      expect([...inExecution.keys()].sort()).toEqual(expected((t) => t.executionId === e1.id));
      expect(inExecution.get("t1")?.executionId).toBe(e1.id);
    });

    it("children: list, outputs by task id, one child by task id, atomic creation", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const parent = await store.tasks.upsert({ executionId: e.id, taskId: "fan-out", workflowId: "wf" });
      const children = await store.tasks.createChildren(parent.taskExecId, [
        { taskId: "a", input: 1 },
        { taskId: "b", status: "completed", output: { b: true } },
        { taskId: "c", status: "completed", output: [3], agentId: "agent" },
      ]);
      expect(children.map((c) => c.taskId)).toEqual(["a", "b", "c"]);
      expect(children.every((c) => c.executionId === e.id && c.parentId === parent.taskExecId)).toBe(true);
      expect(children.every((c) => c.workflowId === "wf")).toBe(true);
      expect((await store.tasks.listChildren(parent.taskExecId)).map((c) => c.taskId)).toEqual([
        "a",
        "b",
        "c",
      ]);
      expect(await store.tasks.childOutputs(parent.taskExecId)).toEqual(
        new Map<string, unknown>([
          ["b", { b: true }],
          ["c", [3]],
        ]),
      );
      expect((await store.tasks.getChild(parent.taskExecId, "c"))?.taskExecId).toBe(children[2]?.taskExecId);
      expect(await store.tasks.getChild(parent.taskExecId, "zzz")).toBeNull();

      const before = await countRows(store, "tasks");
      const taken = children[0]?.taskExecId as string;
      await expect(
        store.tasks.createChildren(parent.taskExecId, [{ taskId: "d" }, { taskId: "e", taskExecId: taken }]),
      ).rejects.toBeInstanceOf(ConflictError);
      await expect(
        store.tasks.createChildren(parent.taskExecId, [{ taskId: "d" }, { taskId: "", input: 1 }]),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(store.tasks.createChildren(uuidv7(), [{ taskId: "d" }])).rejects.toBeInstanceOf(
        NotFoundError,
      );
      expect(await countRows(store, "tasks")).toBe(before);
      expect(await store.tasks.createChildren(parent.taskExecId, [])).toEqual([]);
    });

    it("children may carry their executionId: the parent's is taken, another is refused", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const other = await execution(store);
      const parent = await store.tasks.upsert({ executionId: e.id, taskId: "fan-out" });
      // As an engine that writes the run's id on every state it makes passes them.
      const children = await store.tasks.createChildren(parent.taskExecId, [
        { taskId: "a", executionId: e.id },
        { taskId: "b" },
      ]);
      expect(children.map((c) => [c.taskId, c.executionId, c.parentId])).toEqual([
        ["a", e.id, parent.taskExecId],
        ["b", e.id, parent.taskExecId],
      ]);

      const before = await countRows(store, "tasks");
      const refused = store.tasks.createChildren(parent.taskExecId, [
        { taskId: "c", executionId: e.id },
        { taskId: "d", executionId: other.id },
      ]);
      await expect(refused).rejects.toBeInstanceOf(ValidationError);
      await expect(refused).rejects.toMatchObject({ field: "children[1].executionId" });
      await expect(refused).rejects.toThrow(other.id);
      // Every child naming another execution than the parent's: found by the write, not before it.
      await expect(
        store.tasks.createChildren(parent.taskExecId, [{ taskId: "c", executionId: other.id }]),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(
        store.tasks.createChildren(parent.taskExecId, [{ taskId: "c", executionId: "run-1" }]),
      ).rejects.toBeInstanceOf(ValidationError);
      expect(await countRows(store, "tasks")).toBe(before);
      expect((await store.tasks.listChildren(parent.taskExecId)).map((c) => c.taskId)).toEqual(["a", "b"]);
      // A missing parent is still a missing parent, with or without an executionId.
      await expect(
        store.tasks.createChildren(uuidv7(), [{ taskId: "c", executionId: e.id }]),
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it("tree returns a 1,000-node random tree exactly as built in memory", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const next = random(42);
      const ids = Array.from({ length: 1000 }, () => uuidv7());
      const parentOf = new Map<string, string | null>();
      const records: TaskRecord[] = ids.map((id, i) => {
        const parent = i === 0 ? null : (ids[Math.floor(next() * i)] as string);
        parentOf.set(id, parent);
        return { taskExecId: id, executionId: e.id, taskId: `n${i}`, parentId: parent };
      });
      // Inserted in a shuffled order, in batches, so the answer cannot come from insertion order.
      const shuffled = [...records].sort(() => next() - 0.5);
      for (let i = 0; i < shuffled.length; i += 250) await store.tasks.upsertMany(shuffled.slice(i, i + 250));

      const childrenOf = new Map<string, string[]>();
      for (const [id, parent] of parentOf) {
        if (parent) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), id]);
      }
      const expected: [string, number][] = [];
      const visit = (id: string, depth: number) => {
        expected.push([id, depth]);
        for (const child of [...(childrenOf.get(id) ?? [])].sort()) visit(child, depth + 1);
      };
      visit(ids[0] as string, 0);

      const tree = await store.tasks.tree(ids[0] as string);
      expect(tree.map((n) => [n.taskExecId, n.depth])).toEqual(expected);
      expect(tree.every((n) => n.parentId === parentOf.get(n.taskExecId))).toBe(true);

      const sub = ids[1] as string;
      const subtree = await store.tasks.tree(sub);
      const start = expected.findIndex(([id]) => id === sub);
      const baseDepth = expected[start]?.[1] as number;
      let end = start + 1;
      while (end < expected.length && (expected[end]?.[1] as number) > baseDepth) end++;
      expect(subtree.map((n) => [n.taskExecId, n.depth + baseDepth])).toEqual(expected.slice(start, end));
      await expect(store.tasks.tree(uuidv7())).rejects.toBeInstanceOf(NotFoundError);
    });

    it("progress matches counts computed here", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const parent = await store.tasks.upsert({ executionId: e.id, taskId: "p" });
      const statuses: TaskStatus[] = [
        "pending",
        "running",
        "waiting",
        "completed",
        "failed",
        "cancelled",
        "timed_out",
      ];
      const next = random(7);
      const picked = Array.from(
        { length: 60 },
        () => statuses[Math.floor(next() * statuses.length)] as TaskStatus,
      );
      await store.tasks.createChildren(
        parent.taskExecId,
        picked.map((status, i) => ({ taskId: `c${i}`, status })),
      );
      const byStatus = Object.fromEntries(statuses.map((s) => [s, picked.filter((p) => p === s).length]));
      const progress = await store.tasks.progress(parent.taskExecId);
      expect(progress.total).toBe(60);
      expect(progress.byStatus).toEqual(byStatus);
      expect(progress.completionRate).toBeCloseTo((byStatus.completed as number) / 60, 10);
      expect(progress.failureRate).toBeCloseTo((byStatus.failed as number) / 60, 10);
      const empty = await store.tasks.progress(uuidv7());
      expect(empty).toMatchObject({ total: 0, completionRate: 0, failureRate: 0 });
      expect(empty.byStatus.completed).toBe(0);
    });

    it("getForUpdate needs a transaction", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const task = await store.tasks.upsert({ executionId: e.id, taskId: "lock" });
      await expect(store.tasks.getForUpdate(task.taskExecId)).rejects.toBeInstanceOf(ValidationError);
      const locked = await store.transaction(async (tx) => {
        const row = await tx.tasks.getForUpdate(task.taskExecId);
        return tx.tasks.upsert({ ...row, status: "running" });
      });
      expect(locked).toMatchObject({ status: "running", version: 2 });
    });

    if (driver.concurrent) {
      it("getForUpdate on a task blocks a second transaction until the first commits", async () => {
        const store = await driver.open();
        const e = await execution(store);
        const task = await store.tasks.upsert({ executionId: e.id, taskId: "lock" });
        let release!: () => void;
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked!: () => void;
        const isLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const first = store.transaction(async (tx) => {
          const row = await tx.tasks.getForUpdate(task.taskExecId);
          locked();
          await held;
          await tx.tasks.upsert({ ...row, attempt: row.attempt + 1 });
        });
        await isLocked;
        const second = store.transaction((tx) => tx.tasks.getForUpdate(task.taskExecId));
        await until(async () => (await waitingOnLocks(store)) > 0);
        release();
        await first;
        expect(await second).toMatchObject({ attempt: 2, version: 2 });
      });
    }
  });
});
