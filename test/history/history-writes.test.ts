/**
 * Writes that record what happened: tasks.create and tasks.update, executions.start, update, complete
 * and fail take `append`, events written to the execution's history in the same statement; and
 * `expectedStatus` makes an update compare-and-set on the status.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, type Store, uuidv7, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until, waitingOnLocks } from "../support/waiting.js";

async function run(store: Store) {
  const { execution } = await store.executions.start({ name: "order", status: "running" });
  return execution;
}

const types = async (store: Store, executionId: string) =>
  (await store.events.list(executionId)).items.map((e) => `${e.sequence}:${e.type}`);

forEachDriver((driver) => {
  describe("writes that append to the history", () => {
    it("tasks.create and tasks.update append their events with the write, or not at all", async () => {
      const store = await driver.open();
      const e = await run(store);
      const taskExecId = uuidv7();
      const created = await store.tasks.create(
        { taskExecId, executionId: e.id, taskId: "charge", status: "running" },
        {
          append: [
            { type: "step_created", correlationId: "charge" },
            { type: "step_started", payload: new Uint8Array([1]) },
          ],
        },
      );
      expect(created).toMatchObject({ taskExecId, status: "running" });
      expect(created.appended?.map((a) => [a.sequence, a.type, a.correlationId])).toEqual([
        [1, "step_created", "charge"],
        [2, "step_started", null],
      ]);
      expect(created.appended?.[1]?.payload).toEqual(Buffer.from([1]));
      // Taken: nothing is written, the history included.
      await expect(
        store.tasks.create(
          { taskExecId, executionId: e.id, taskId: "charge" },
          { append: { type: "step_created" } },
        ),
      ).rejects.toBeInstanceOf(ConflictError);

      const done = await store.tasks.update(
        taskExecId,
        { status: "completed", output: { ok: true } },
        {
          expectedStatus: ["pending", "running"],
          append: { type: "step_completed", correlationId: "charge" },
        },
      );
      expect(done).toMatchObject({ status: "completed", output: { ok: true }, version: 2 });
      expect(done.appended?.map((a) => a.sequence)).toEqual([3]);
      await expect(
        store.tasks.update(
          taskExecId,
          { status: "failed" },
          { expectedStatus: "running", append: { type: "x" } },
        ),
      ).rejects.toThrow(/is completed, not running/);
      expect(await types(store, e.id)).toEqual(["1:step_created", "2:step_started", "3:step_completed"]);
      expect((await store.tasks.get(taskExecId)).status).toBe("completed");
      // Without append nothing is added to the result.
      expect(await store.tasks.update(taskExecId, { agentId: "a" })).not.toHaveProperty("appended");
    });

    it("a finished execution takes no new task; a missing one is not found", async () => {
      const store = await driver.open();
      const e = await run(store);
      await store.executions.complete(e.id);
      await expect(
        store.tasks.create({ executionId: e.id, taskId: "late" }, { append: { type: "step_created" } }),
      ).rejects.toThrow(/finished execution takes no new task/);
      await expect(store.tasks.create({ executionId: uuidv7(), taskId: "x" })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      expect(await types(store, e.id)).toEqual([]);
    });

    it("of writers racing on one status, one wins and only its event is recorded", async () => {
      const store = await driver.open();
      const e = await run(store);
      const task = await store.tasks.create({ executionId: e.id, taskId: "t", status: "running" });
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          store.tasks.update(
            task.taskExecId,
            { status: "completed", output: { by: i } },
            { expectedStatus: "running", append: { type: "done", payload: { by: i } } },
          ),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      const history = (await store.events.list(e.id)).items;
      expect(history.map((h) => h.sequence)).toEqual([1]);
      expect(history[0]?.payload).toEqual((await store.tasks.get(task.taskExecId)).output);
    });

    it("executions.start, update, complete and fail append their events", async () => {
      const store = await driver.open();
      const id = uuidv7();
      const started = await store.executions.start(
        { id, name: "order", idempotencyKey: `k-${id}` },
        { append: { type: "run_created", payload: { n: 1 } } },
      );
      expect(started.created).toBe(true);
      expect(started.appended?.map((a) => a.type)).toEqual(["run_created"]);
      const again = await store.executions.start(
        { name: "order", idempotencyKey: `k-${id}` },
        { append: { type: "run_created" } },
      );
      expect(again).toEqual({ execution: started.execution, created: false });

      const running = await store.executions.update(
        id,
        { status: "running" },
        { expectedStatus: "pending", append: { type: "run_started" } },
      );
      expect(running).toMatchObject({
        status: "running",
        appended: [expect.objectContaining({ sequence: 2 })],
      });
      await expect(
        store.executions.update(
          id,
          { status: "running" },
          { expectedStatus: "pending", append: { type: "run_started" } },
        ),
      ).rejects.toThrow(/is running, not pending/);
      const done = await store.executions.complete(id, { total: 3 }, { append: { type: "run_completed" } });
      expect(done).toMatchObject({ status: "completed", output: { total: 3 } });
      await expect(
        store.executions.fail(id, "late", { append: { type: "run_failed" } }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await types(store, id)).toEqual(["1:run_created", "2:run_started", "3:run_completed"]);

      const other = await run(store);
      const failed = await store.executions.fail(
        other.id,
        { reason: "x" },
        { append: [{ type: "a" }, { type: "b" }] },
      );
      expect(failed.appended?.map((a) => a.sequence)).toEqual([1, 2]);
      await expect(store.executions.update(uuidv7(), {}, { append: { type: "x" } })).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it("with historyAfter, a write returns the history after that number, its own events last", async () => {
      const store = await driver.open();
      const e = await run(store);
      const task = await store.tasks.create(
        { executionId: e.id, taskId: "t", status: "running" },
        { append: [{ type: "created" }, { type: "started", payload: { n: 1 } }], historyAfter: 0 },
      );
      expect(task.history?.map((h) => `${h.sequence}:${h.type}`)).toEqual(["1:created", "2:started"]);
      await store.events.append(e.id, [{ type: "other" }, { type: "more", payload: new Uint8Array([7]) }]);
      const done = await store.tasks.update(
        task.taskExecId,
        { status: "completed" },
        { append: { type: "completed", correlationId: "t" }, historyAfter: 1 },
      );
      expect(done.appended?.map((h) => h.sequence)).toEqual([5]);
      expect(done.history?.map((h) => `${h.sequence}:${h.type}`)).toEqual([
        "2:started",
        "3:other",
        "4:more",
        "5:completed",
      ]);
      // Read back as events.list reads them: the same payloads, bytes included.
      expect(done.history).toEqual((await store.events.list(e.id, { afterSequence: 1 })).items);
      // Without historyAfter there is no history.
      const plain = await store.executions.complete(e.id, null, { append: { type: "run_completed" } });
      expect(plain).not.toHaveProperty("history");
    });

    it("leaves the history out past 1,000 events before its own, and refuses a bad historyAfter", async () => {
      const store = await driver.open();
      const e = await run(store);
      await store.events.append(
        e.id,
        Array.from({ length: 1000 }, () => ({ type: "x" })),
      );
      await store.events.append(e.id, { type: "y" });
      const task = await store.tasks.create({ executionId: e.id, taskId: "t", status: "running" });
      const far = await store.tasks.update(
        task.taskExecId,
        { agentId: "a" },
        { append: { type: "z" }, historyAfter: 0 },
      );
      expect(far.appended?.map((h) => h.sequence)).toEqual([1002]);
      expect(far).not.toHaveProperty("history");
      const near = await store.tasks.update(
        task.taskExecId,
        { agentId: "b" },
        { append: { type: "z" }, historyAfter: 2 },
      );
      // 1,000 before its own: still there.
      expect(near.history?.map((h) => h.sequence)).toEqual(Array.from({ length: 1001 }, (_, i) => i + 3));
      for (const bad of [-1, 1.5, Number.NaN, "3"]) {
        await expect(
          store.tasks.update(
            task.taskExecId,
            { agentId: "c" },
            { append: { type: "never" }, historyAfter: bad as number },
          ),
        ).rejects.toBeInstanceOf(ValidationError);
      }
      expect((await store.tasks.get(task.taskExecId)).agentId).toBe("b");
      expect((await store.events.list(e.id, { afterSequence: 1002 })).items.map((h) => h.type)).toEqual([
        "z",
      ]);
    });

    it.runIf(driver.concurrent)(
      "the history a write returns has the append that committed while it waited",
      async () => {
        const store = await driver.open();
        const e = await run(store);
        const task = await store.tasks.create(
          { executionId: e.id, taskId: "t", status: "running" },
          { append: { type: "created" } },
        );
        let release = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        // An append that holds the history's head row until released: the write below waits for it,
        // and its own statement began before that append committed.
        const other = store.transaction(async (tx) => {
          await tx.events.append(e.id, { type: "meanwhile" });
          await held;
        });
        await until(async () => (await store.events.list(e.id)).items.length === 1);
        const write = store.tasks.update(
          task.taskExecId,
          { status: "completed" },
          { append: { type: "completed" }, historyAfter: 1 },
        );
        await until(async () => (await waitingOnLocks(store)) === 1);
        release();
        await other;
        const done = await write;
        expect(done.history?.map((h) => `${h.sequence}:${h.type}`)).toEqual(["2:meanwhile", "3:completed"]);
      },
    );
  });
});
