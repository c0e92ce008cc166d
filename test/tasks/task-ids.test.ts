/**
 * Task ids across executions: tasks are keyed within their execution and task_ids holds each id once,
 * so an id another execution holds is refused by every way of writing a task, with nothing written;
 * retention frees an id with its execution; a schema migrated with tasks in it keeps them by id.
 */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { ConflictError, openStore, type Store, uuidv7 } from "../../src/index.js";
import { loadMigrations, migrate } from "../../src/migrations/runner.js";
import { forEachDriver, uniqueSchema } from "../support/harness.js";
import { countRows, execution } from "../support/workflow-fixtures.js";

/** Every task and registered id, to compare before and after a write that must write nothing. */
async function snapshot(store: Store): Promise<unknown[]> {
  const tasks = await store.query(`select * from ${store.schema}.tasks order by task_exec_id, execution_id`);
  const ids = await store.query(`select * from ${store.schema}.task_ids order by task_exec_id`);
  return [tasks.rows, ids.rows];
}

async function holderOf(store: Store, taskExecId: string): Promise<string | undefined> {
  const { rows } = await store.query<{ execution_id: string }>(
    `select execution_id from ${store.schema}.task_ids where task_exec_id = $1`,
    [taskExecId],
  );
  return rows[0]?.execution_id;
}

/** The migration that keys tasks by execution, by its position: the schema's version just before it. */
const TASK_KEYS = loadMigrations().findIndex((m) => m.name === "task_keys");

forEachDriver((driver) => {
  describe("tasks: ids across executions", () => {
    it("refuses an id another execution holds on every write, and writes nothing", async () => {
      const store = await driver.open();
      const [a, b] = [await execution(store), await execution(store)];
      const held = await store.tasks.create({ executionId: a.id, taskId: "held", input: { v: 1 } });
      const parent = await store.tasks.create({ executionId: b.id, taskId: "parent" });
      const before = await snapshot(store);
      const taskExecId = held.taskExecId;
      const attempts: Array<[string, () => Promise<unknown>]> = [
        ["create", () => store.tasks.create({ taskExecId, executionId: b.id, taskId: "x" })],
        [
          "create with append",
          () =>
            store.tasks.create(
              { taskExecId, executionId: b.id, taskId: "x" },
              { append: { type: "task_created" } },
            ),
        ],
        [
          "create in a transaction",
          () => store.transaction((tx) => tx.tasks.create({ taskExecId, executionId: b.id, taskId: "x" })),
        ],
        ["upsert", () => store.tasks.upsert({ taskExecId, executionId: b.id, taskId: "x" })],
        [
          "upsertMany",
          () =>
            store.tasks.upsertMany([
              { executionId: b.id, taskId: "fresh" },
              { taskExecId, executionId: b.id, taskId: "x" },
            ]),
        ],
        [
          "createChildren",
          () =>
            store.tasks.createChildren(parent.taskExecId, [{ taskId: "fresh" }, { taskExecId, taskId: "x" }]),
        ],
      ];
      for (const [name, attempt] of attempts) {
        const failure = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(failure, name).toBeInstanceOf(ConflictError);
        expect(String((failure as Error).message), name).toContain("nothing was written");
        expect(await snapshot(store), name).toEqual(before);
      }
      expect(await store.tasks.get(taskExecId)).toMatchObject({ executionId: a.id, input: { v: 1 } });
      // In its own execution the id is the task's: upsert overwrites it, create finds it taken.
      const overwritten = await store.tasks.upsert({
        taskExecId,
        executionId: a.id,
        taskId: "held",
        input: { v: 2 },
      });
      expect(overwritten).toMatchObject({ version: 2, input: { v: 2 } });
      await expect(store.tasks.create({ taskExecId, executionId: a.id, taskId: "again" })).rejects.toThrow(
        ConflictError,
      );
      expect(await countRows(store, "task_ids")).toBe(await countRows(store, "tasks"));
    });

    it("a transaction that was refused an id another execution holds goes on", async () => {
      const store = await driver.open();
      const [a, b] = [await execution(store), await execution(store)];
      const held = await store.tasks.create({ executionId: a.id, taskId: "held" });
      const written = await store.transaction(async (tx) => {
        const taskExecId = held.taskExecId;
        await expect(tx.tasks.create({ taskExecId, executionId: b.id, taskId: "x" })).rejects.toThrow(
          ConflictError,
        );
        await expect(tx.tasks.upsert({ taskExecId, executionId: b.id, taskId: "x" })).rejects.toThrow(
          ConflictError,
        );
        return tx.tasks.create({ executionId: b.id, taskId: "after" });
      });
      expect((await store.tasks.get(written.taskExecId)).executionId).toBe(b.id);
      expect((await store.tasks.get(held.taskExecId)).executionId).toBe(a.id);
    });

    it("a batch of creates writes the others when one of them names an id another execution holds", async () => {
      const store = await driver.open();
      const [a, b] = [await execution(store), await execution(store)];
      const held = await store.tasks.create({ executionId: a.id, taskId: "held" });
      // Outside a transaction, creates that append share a statement (tasks/batch.ts).
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.tasks.create(
            { taskExecId: i === 3 ? held.taskExecId : uuidv7(), executionId: b.id, taskId: `step-${i}` },
            { append: { type: "task_created", payload: { i } } },
          ),
        ),
      );
      results.forEach((result, i) => {
        if (i === 3) {
          expect(result.status).toBe("rejected");
          expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
        } else {
          expect(result.status).toBe("fulfilled");
        }
      });
      expect((await store.tasks.get(held.taskExecId)).executionId).toBe(a.id);
      expect((await store.tasks.list({ executionId: b.id })).items).toHaveLength(7);
      expect(await countRows(store, "task_ids")).toBe(8);
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.events where execution_id = $1`,
        [b.id],
      );
      expect(rows[0]?.n).toBe(7);
    });

    it("frees an id when retention prunes its execution, for another execution to take", async () => {
      const store = await driver.open();
      const [a, b] = [await execution(store), await execution(store)];
      const root = await store.tasks.create({ executionId: a.id, taskId: "root" });
      const [child] = await store.tasks.createChildren(root.taskExecId, [{ taskId: "child" }]);
      const kept = await store.tasks.create({ executionId: b.id, taskId: "kept" });
      await store.executions.update(a.id, { status: "completed" });
      const pruned = await store.prune({ finishedBefore: new Date(Date.now() + 1000) });
      expect(pruned).toMatchObject({ executions: 1, tasks: 2 });
      expect(await holderOf(store, root.taskExecId)).toBeUndefined();
      expect(await holderOf(store, kept.taskExecId)).toBe(b.id);
      const reused = await store.tasks.create({
        taskExecId: root.taskExecId,
        executionId: b.id,
        taskId: "reused",
      });
      expect(reused.executionId).toBe(b.id);
      const upserted = await store.tasks.upsert({
        taskExecId: (child as { taskExecId: string }).taskExecId,
        executionId: b.id,
        taskId: "again",
      });
      expect(upserted).toMatchObject({ executionId: b.id, version: 1 });
      expect(await holderOf(store, root.taskExecId)).toBe(b.id);
      expect(await countRows(store, "task_ids")).toBe(3);
    });

    it("of concurrent writers of one id in two executions, one execution wins: create, append, upsert", async () => {
      const store = await driver.open();
      const executions = [await execution(store), await execution(store)];
      for (let round = 0; round < 5; round++) {
        const taskExecId = uuidv7();
        const writers = Array.from({ length: 8 }, (_, i) => {
          const task = {
            taskExecId,
            executionId: (executions[i % 2] as { id: string }).id,
            taskId: `w${i}`,
          };
          if (i % 4 === 0) return store.transaction((tx) => tx.tasks.create(task));
          if (i % 4 === 1) return store.tasks.create(task);
          if (i % 4 === 2) return store.tasks.create(task, { append: { type: "task_created" } });
          return store.tasks.upsert(task);
        });
        const results = await Promise.allSettled(writers);
        for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
        const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        // Upserts in the winning execution overwrite its task: every success is that execution's.
        const winner = (await store.tasks.get(taskExecId)).executionId;
        expect(won.length).toBeGreaterThanOrEqual(1);
        for (const task of won) expect(task.executionId).toBe(winner);
        expect(await holderOf(store, taskExecId)).toBe(winner);
        const { rows } = await store.query<{ n: number }>(
          `select count(*)::int as n from ${store.schema}.tasks where task_exec_id = $1`,
          [taskExecId],
        );
        expect(rows[0]?.n).toBe(1);
      }
    });

    it("of creates of one id in two executions, exactly one succeeds", async () => {
      const store = await driver.open();
      const [a, b] = [await execution(store), await execution(store)];
      const taskExecId = uuidv7();
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.transaction((tx) =>
            tx.tasks.create({ taskExecId, executionId: (i % 2 ? a : b).id, taskId: `w${i}` }),
          ),
        ),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
      expect(await holderOf(store, taskExecId)).toBe((await store.tasks.get(taskExecId)).executionId);
    });

    for (const version of [...new Set([16, TASK_KEYS])]) {
      it(`keeps the tasks of a schema migrated from version ${version}, by id`, async () => {
        const schema = uniqueSchema("tasks");
        const store = await openStore({ connection: await driver.connection(), schema, migrate: false });
        try {
          await migrate(store.driver, schema, silentLogger, loadMigrations().slice(0, version));
          const [a, b, root, child] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
          await store.query(
            `insert into ${schema}.executions (id, name, status) values ($1, 'old', 'running'), ($2, 'old', 'running')`,
            [a, b],
          );
          await store.query(
            `insert into ${schema}.tasks (task_exec_id, task_id, execution_id, status, parent_id, input)
             values ($1, 'root', $3, 'running', null, '{"n":1}'), ($2, 'child', $3, 'pending', $1, null)`,
            [root, child, a],
          );
          expect((await store.migrate()).version).toBe(loadMigrations().length);
          expect(await store.tasks.get(root)).toMatchObject({ executionId: a, input: { n: 1 }, version: 1 });
          expect((await store.tasks.tree(root)).map((t) => t.taskExecId)).toEqual([root, child]);
          await store.transaction(async (tx) => {
            expect((await tx.tasks.getForUpdate(child)).parentId).toBe(root);
          });
          expect(await store.tasks.update(child, { status: "running" })).toMatchObject({ version: 2 });
          expect(await holderOf(store, child)).toBe(a);
          await expect(store.tasks.create({ taskExecId: root, executionId: b, taskId: "x" })).rejects.toThrow(
            ConflictError,
          );
          await expect(
            store.tasks.upsert({ taskExecId: child, executionId: b, taskId: "x" }),
          ).rejects.toThrow(ConflictError);
          expect(await countRows(store, "tasks")).toBe(2);
        } finally {
          await store.close();
        }
      });
    }
  });
});
