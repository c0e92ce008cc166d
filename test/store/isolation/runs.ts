/** Definitions, executions, tasks, component state, correlations, history and steps. */
import { expect } from "vitest";
import { big, type CallCase, call, running, unique } from "./case.js";

export const runCases: CallCase[] = [
  call({
    call: "definitions.create",
    prepare: async () => unique("def"),
    run: async (tx, name) => {
      expect((await tx.definitions.create({ name, definition: big("d"), status: "active" })).name).toBe(name);
    },
    after: async (store, name) => expect(await store.definitions.find(name)).not.toBeNull(),
  }),
  call({
    call: "definitions.get, find, list",
    prepare: (store) => store.definitions.create({ name: unique("def"), definition: {}, status: "active" }),
    run: async (tx, def) => {
      expect((await tx.definitions.get(def.id)).name).toBe(def.name);
      expect((await tx.definitions.find(def.name))?.id).toBe(def.id);
      expect((await tx.definitions.list({ name: def.name })).map((d) => d.id)).toEqual([def.id]);
    },
  }),
  call({
    call: "definitions.setStatus",
    prepare: (store) => store.definitions.create({ name: unique("def"), definition: {} }),
    run: async (tx, def) => {
      expect((await tx.definitions.setStatus(def.id, "active")).status).toBe("active");
    },
    after: async (store, def) => expect((await store.definitions.get(def.id)).status).toBe("active"),
  }),
  call({
    call: "executions.start",
    prepare: async () => unique("key"),
    run: async (tx, key) => {
      const { execution } = await tx.executions.start({ name: "iso", idempotencyKey: key, input: big("i") });
      expect(execution.input).toEqual(big("i"));
      expect((await tx.executions.findByIdempotencyKey(key))?.id).toBe(execution.id);
    },
    after: async (store, key) => expect(await store.executions.findByIdempotencyKey(key)).not.toBeNull(),
  }),
  call({
    call: "executions.get, getForUpdate, list, countByStatus, statusCounts, finishedSince",
    prepare: running,
    run: async (tx, id) => {
      expect((await tx.executions.get(id)).status).toBe("running");
      expect((await tx.executions.getForUpdate(id)).id).toBe(id);
      expect((await tx.executions.list({ status: "running" })).items.length).toBeGreaterThan(0);
      expect((await tx.executions.countByStatus()).running).toBeGreaterThan(0);
      expect((await tx.executions.statusCounts()).running.count).toBeGreaterThan(0);
      expect(await tx.executions.finishedSince(new Date(0))).toBeGreaterThanOrEqual(0);
    },
  }),
  call({
    call: "executions.update (big state, then small)",
    prepare: running,
    run: async (tx, id) => {
      await tx.executions.update(id, { state: big("s") }, { append: { type: "big", payload: big("e") } });
      expect((await tx.executions.get(id)).state).toEqual(big("s"));
      await tx.executions.update(id, { state: { small: true } });
    },
    after: async (store, id) => expect((await store.executions.get(id)).state).toEqual({ small: true }),
  }),
  call({
    call: "executions.mergeState",
    prepare: running,
    run: async (tx, id) => {
      await tx.executions.mergeState(id, { a: 1 });
      expect((await tx.executions.mergeState(id, { b: big("m") })).state).toEqual({ a: 1, b: big("m") });
    },
    after: async (store, id) => expect((await store.executions.get(id)).state).toEqual({ a: 1, b: big("m") }),
  }),
  call({
    call: "executions.upsert, upsertMany",
    prepare: running,
    run: async (tx, id) => {
      expect(
        (await tx.executions.upsert({ id, name: "iso", status: "waiting", state: big("u") })).state,
      ).toEqual(big("u"));
      const [again] = await tx.executions.upsertMany([
        { id, name: "iso", status: "running", state: big("v") },
      ]);
      expect(again?.state).toEqual(big("v"));
    },
    after: async (store, id) => expect((await store.executions.get(id)).state).toEqual(big("v")),
  }),
  call({
    call: "executions.complete, fail, cancel",
    prepare: async (store) => [await running(store), await running(store), await running(store)],
    run: async (tx, [a, b, c]) => {
      expect((await tx.executions.complete(a as string, big("o"))).output).toEqual(big("o"));
      expect((await tx.executions.fail(b as string, { reason: "x" })).status).toBe("failed");
      expect((await tx.executions.cancel(c as string, { cascade: true })).status).toBe("cancelled");
    },
    after: async (store, [a]) => expect((await store.executions.get(a as string)).status).toBe("completed"),
  }),
  call({
    call: "tasks.create, upsert, upsertMany, update, createChildren",
    prepare: running,
    run: async (tx, executionId) => {
      const root = await tx.tasks.create(
        { executionId, taskId: "root", input: big("t") },
        { append: { type: "task_created", payload: big("a") } },
      );
      await tx.tasks.upsert({ taskExecId: root.taskExecId, executionId, taskId: "root", status: "running" });
      await tx.tasks.upsertMany([{ executionId, taskId: "other" }]);
      await tx.tasks.update(root.taskExecId, { status: "completed", output: big("o") });
      const [child] = await tx.tasks.createChildren(root.taskExecId, [{ taskId: "child" }]);
      expect(child?.parentId).toBe(root.taskExecId);
    },
    after: async (store, executionId) =>
      expect((await store.tasks.listInExecution(executionId)).size).toBe(3),
  }),
  call({
    call: "tasks.get, getForUpdate, list, listInExecution, listChildren, childOutputs, getChild, tree, progress",
    prepare: async (store) => {
      const executionId = await running(store);
      const root = await store.tasks.create({ executionId, taskId: "root" });
      await store.tasks.createChildren(root.taskExecId, [{ taskId: "c", output: big("c") }]);
      return root.taskExecId;
    },
    run: async (tx, root) => {
      expect((await tx.tasks.get(root)).taskId).toBe("root");
      expect((await tx.tasks.getForUpdate(root)).taskId).toBe("root");
      const task = await tx.tasks.get(root);
      expect((await tx.tasks.list({ executionId: task.executionId })).items).toHaveLength(2);
      expect((await tx.tasks.listInExecution(task.executionId)).size).toBe(2);
      expect(await tx.tasks.listChildren(root)).toHaveLength(1);
      expect((await tx.tasks.childOutputs(root)).get("c")).toEqual(big("c"));
      expect((await tx.tasks.getChild(root, "c"))?.taskId).toBe("c");
      expect(await tx.tasks.tree(root)).toHaveLength(2);
      expect((await tx.tasks.progress(root)).total).toBe(1);
    },
  }),
  call({
    call: "componentState.put, get, list, delete",
    prepare: running,
    run: async (tx, id) => {
      await tx.componentState.put(id, "form", big("f"));
      await tx.componentState.put(id, "gone", { n: 1 });
      expect((await tx.componentState.get(id, "form"))?.state).toEqual(big("f"));
      expect(await tx.componentState.list(id)).toHaveLength(2);
      expect(await tx.componentState.delete(id, "gone")).toBe(true);
    },
    after: async (store, id) => expect(await store.componentState.list(id)).toHaveLength(1),
  }),
  call({
    call: "correlations.add, resolve, listForExecution, remove",
    prepare: async (store) => ({ id: await running(store), key: unique("corr") }),
    run: async (tx, { id, key }) => {
      await tx.correlations.add(key, id);
      await tx.correlations.add(`${key}-gone`, id);
      expect((await tx.correlations.resolve(key)).map((c) => c.executionId)).toEqual([id]);
      expect(await tx.correlations.listForExecution(id)).toHaveLength(2);
      expect(await tx.correlations.remove(`${key}-gone`)).toBe(1);
    },
    after: async (store, { id }) => expect(await store.correlations.listForExecution(id)).toHaveLength(1),
  }),
  call({
    call: "events.append, get, lastSequence, list, byCorrelation",
    prepare: async (store) => ({ id: await running(store), correlation: unique("hook") }),
    run: async (tx, { id, correlation }) => {
      await tx.events.append(id, { type: "small", correlationId: correlation });
      await tx.events.append(id, [{ type: "big", payload: big("e") }], { expectedLastSequence: 1 });
      expect((await tx.events.get(id, 2)).payload).toEqual(big("e"));
      expect(await tx.events.lastSequence(id)).toBe(2);
      expect((await tx.events.list(id)).items).toHaveLength(2);
      expect((await tx.events.byCorrelation(correlation)).items).toHaveLength(1);
    },
    after: async (store, { id }) => expect(await store.events.lastSequence(id)).toBe(2),
  }),
  call({
    call: "steps.record, get, list, delete",
    prepare: async (store) => [await running(store), await running(store)],
    run: async (tx, [id, other]) => {
      const recorded = await tx.steps.record({
        executionId: id as string,
        number: 0,
        name: "s",
        output: big("s"),
      });
      expect(recorded.created).toBe(true);
      expect((await tx.steps.get(id as string, 0))?.output).toEqual(big("s"));
      expect(await tx.steps.list(id as string)).toHaveLength(1);
      await tx.steps.record({ executionId: other as string, number: 0, name: "s" });
      expect(await tx.steps.delete(other as string)).toBe(1);
    },
    after: async (store, [id]) => expect(await store.steps.list(id as string)).toHaveLength(1),
  }),
];
