/**
 * Execution lifecycle and writes: start (idempotent), update with expected versions, complete and
 * fail, upsert, row locks, cancel.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, type Execution, NotFoundError, uuidv7, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until, waitingOnLocks } from "../support/waiting.js";
import { countRows, counts, definition, execution } from "../support/workflow-fixtures.js";

forEachDriver((driver) => {
  describe("executions", () => {
    it("starts by definition id or by name and version, with database timestamps", async () => {
      const store = await driver.open();
      const d1 = await store.definitions.create({ name: "pay", definition: {}, status: "active" });
      const d2 = await store.definitions.create({ name: "pay", definition: {}, status: "draft" });
      const byId = await store.executions.start({ definitionId: d1.id, input: { amount: 5 } });
      expect(byId.created).toBe(true);
      expect(byId.execution).toMatchObject({
        definitionId: d1.id,
        status: "pending",
        input: { amount: 5 },
        output: null,
        error: null,
        state: null,
        metadata: {},
        idempotencyKey: null,
        version: 1,
        startedAt: null,
        completedAt: null,
      });
      expect(byId.execution.createdAt).toBeInstanceOf(Date);
      const byVersion = await store.executions.start({ name: "pay", version: 2, status: "running" });
      expect(byVersion.execution.definitionId).toBe(d2.id);
      expect(byVersion.execution.startedAt).toBeInstanceOf(Date);
      const latestActive = await store.executions.start({ name: "pay" });
      expect(latestActive.execution.definitionId).toBe(d1.id);
      const mine = uuidv7();
      const parent = byId.execution.id;
      const child = await store.executions.start({
        id: mine,
        definitionId: d1.id,
        parentExecutionId: parent,
        parentTaskId: uuidv7(),
        metadata: { tenant: "t1" },
      });
      expect(child.execution).toMatchObject({
        id: mine,
        parentExecutionId: parent,
        metadata: { tenant: "t1" },
      });
      expect(await store.executions.get(mine)).toEqual(child.execution);
      await expect(store.executions.start({ name: "pay", version: 7 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.executions.start({ definitionId: uuidv7() })).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.executions.start({})).rejects.toBeInstanceOf(ValidationError);
      await expect(store.executions.get(uuidv7())).rejects.toBeInstanceOf(NotFoundError);
      expect(await countRows(store, "executions")).toBe(4);
    });

    it("returns the existing execution for a known idempotency key", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const first = await store.executions.start({ definitionId: d.id, idempotencyKey: "k1", input: 1 });
      const second = await store.executions.start({ definitionId: d.id, idempotencyKey: "k1", input: 2 });
      expect(first.created).toBe(true);
      expect(second.created).toBe(false);
      expect(second.execution).toEqual(first.execution);
      expect(await store.executions.findByIdempotencyKey("k1")).toEqual(first.execution);
      expect(await store.executions.findByIdempotencyKey("k2")).toBeNull();
    });

    it("two concurrent starts with one idempotency key create one execution", async () => {
      const store = await driver.open();
      const d = await definition(store);
      for (let round = 0; round < 5; round++) {
        const key = `race-${round}`;
        const results = await Promise.all(
          Array.from({ length: 2 }, () =>
            store.executions.start({ definitionId: d.id, idempotencyKey: key }),
          ),
        );
        expect(results.filter((r) => r.created).length).toBe(1);
        expect(results[0]?.execution.id).toBe(results[1]?.execution.id);
      }
      expect(await countRows(store, "executions")).toBe(5);
    });

    it("update patches only the given fields; null clears, absent keeps", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const running = await store.executions.update(e.id, { status: "running", state: { step: 1 } });
      expect(running).toMatchObject({ status: "running", state: { step: 1 }, input: { n: 1 }, version: 2 });
      expect(running.startedAt).toBeInstanceOf(Date);
      expect(running.updatedAt.getTime()).toBeGreaterThanOrEqual(e.updatedAt.getTime());
      const cleared = await store.executions.update(e.id, { input: null, metadata: { a: 1 } });
      expect(cleared).toMatchObject({ input: null, state: { step: 1 }, metadata: { a: 1 }, version: 3 });
      expect(cleared.startedAt).toEqual(running.startedAt);
      const noop = await store.executions.update(e.id, {});
      expect(noop.version).toBe(4);
      await expect(store.executions.update(uuidv7(), { state: 1 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.executions.update(e.id, { status: "done" as "completed" })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it("a stale expectedVersion is a ConflictError and writes nothing", async () => {
      const store = await driver.open();
      const e = await execution(store);
      const next = await store.executions.update(e.id, { state: "a" }, { expectedVersion: 1 });
      expect(next.version).toBe(2);
      const error = await store.executions
        .update(e.id, { state: "b" }, { expectedVersion: 1 })
        .catch((x: unknown) => x);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toContain("version 2");
      const now = await store.executions.get(e.id);
      expect(now).toMatchObject({ state: "a", version: 2 });
      await expect(store.executions.complete(e.id, 1, { expectedVersion: 1 })).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect((await store.executions.get(e.id)).status).toBe("pending");
    });

    it("of two concurrent updates with the same expectedVersion exactly one wins", async () => {
      const store = await driver.open();
      const e = await execution(store);
      for (let round = 0; round < 5; round++) {
        const { version } = await store.executions.get(e.id);
        const results = await Promise.allSettled(
          ["x", "y"].map((who) =>
            store.executions.update(e.id, { state: who }, { expectedVersion: version }),
          ),
        );
        const won = results.filter((r) => r.status === "fulfilled");
        const lost = results.filter((r) => r.status === "rejected");
        expect(won.length).toBe(1);
        expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
        const now = await store.executions.get(e.id);
        expect(now.version).toBe(version + 1);
        expect(now.state).toBe((won[0] as PromiseFulfilledResult<Execution>).value.state);
      }
    });

    it("complete and fail finish a run; a finished run cannot go back to running", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const a = await execution(store, d.id);
      const done = await store.executions.complete(a.id, { total: 3 });
      expect(done).toMatchObject({ status: "completed", output: { total: 3 }, version: 2 });
      expect(done.completedAt).toBeInstanceOf(Date);
      await expect(store.executions.update(a.id, { status: "running" })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(store.executions.complete(a.id, 1)).rejects.toBeInstanceOf(ConflictError);
      await expect(store.executions.fail(a.id, "late")).rejects.toBeInstanceOf(ConflictError);
      await expect(store.executions.cancel(a.id)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.executions.get(a.id)).toEqual(done);
      // Other fields of a finished run may still change.
      expect((await store.executions.update(a.id, { metadata: { archived: true } })).status).toBe(
        "completed",
      );
      const b = await execution(store, d.id);
      const failed = await store.executions.fail(b.id, { message: "boom" });
      expect(failed).toMatchObject({ status: "failed", error: { message: "boom" } });
      const c = await execution(store, d.id);
      const timedOut = await store.executions.update(c.id, { status: "timed_out" });
      expect(timedOut.completedAt).toBeInstanceOf(Date);
      await expect(store.executions.upsert({ ...timedOut, status: "running" })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(store.executions.complete(uuidv7())).rejects.toBeInstanceOf(NotFoundError);
    });

    it("upsert writes the whole object; upsertMany does many in one statement, all or none", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const id = uuidv7();
      const inserted = await store.executions.upsert({ id, definitionId: d.id, status: "running", state: 1 });
      expect(inserted).toMatchObject({ id, status: "running", state: 1, version: 1, metadata: {} });
      const replaced = await store.executions.upsert({
        id,
        definitionId: d.id,
        status: "waiting",
        output: "o",
      });
      expect(replaced).toMatchObject({ status: "waiting", state: null, output: "o", version: 2 });
      expect(replaced.startedAt).toEqual(inserted.startedAt);
      const records = Array.from({ length: 20 }, (_, i) => ({
        id: uuidv7(),
        definitionId: d.id,
        status: "pending" as const,
        input: { i },
        metadata: { batch: true },
      }));
      const many = await store.executions.upsertMany(records.reverse());
      expect(many.map((e) => e.id)).toEqual(records.map((r) => r.id));
      expect(many.every((e, i) => (e.input as { i: number }).i === records[i]?.input.i)).toBe(true);
      await store.executions.complete(id, null);
      const before = await counts(store);
      const mixed = [
        { id: uuidv7(), definitionId: d.id, status: "pending" as const },
        { id, definitionId: d.id, status: "running" as const },
      ];
      await expect(store.executions.upsertMany(mixed)).rejects.toBeInstanceOf(ConflictError);
      expect(await counts(store)).toEqual(before);
      const twice = [mixed[0], mixed[0]] as typeof mixed;
      await expect(store.executions.upsertMany(twice)).rejects.toBeInstanceOf(ValidationError);
      await expect(
        store.executions.upsertMany([{ id: uuidv7(), definitionId: uuidv7(), status: "pending" }]),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect(await counts(store)).toEqual(before);
    });

    it("getForUpdate needs a transaction and returns the row", async () => {
      const store = await driver.open();
      const e = await execution(store);
      await expect(store.executions.getForUpdate(e.id)).rejects.toBeInstanceOf(ValidationError);
      const locked = await store.transaction((tx) => tx.executions.getForUpdate(e.id));
      expect(locked).toEqual(e);
      await expect(store.transaction((tx) => tx.executions.getForUpdate(uuidv7()))).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    if (driver.concurrent) {
      it("getForUpdate blocks a second transaction until the first commits", async () => {
        const store = await driver.open();
        const e = await execution(store);
        const events: string[] = [];
        let release!: () => void;
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked!: () => void;
        const isLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const first = store.transaction(async (tx) => {
          const row = await tx.executions.getForUpdate(e.id);
          locked();
          await held;
          await tx.executions.update(e.id, { state: "first" }, { expectedVersion: row.version });
          events.push("first commits");
        });
        await isLocked;
        const second = store.transaction(async (tx) => {
          const row = await tx.executions.getForUpdate(e.id);
          events.push("second reads");
          return row;
        });
        // Wait until the server shows the second transaction waiting on a lock, then let the first go.
        await until(async () => (await waitingOnLocks(store)) > 0);
        expect(events).toEqual([]);
        release();
        await first;
        const seen = await second;
        expect(events).toEqual(["first commits", "second reads"]);
        expect(seen).toMatchObject({ state: "first", version: 2 });
      });
    }

    it("cancel with cascade cancels a three-level tree and its unfinished tasks in one go", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const start = async (parent?: string) =>
        (await store.executions.start({ definitionId: d.id, parentExecutionId: parent, status: "running" }))
          .execution;
      const root = await start();
      const children = [await start(root.id), await start(root.id)];
      const grandchildren = [];
      for (const child of children) grandchildren.push(await start(child.id), await start(child.id));
      const finished = grandchildren[0] as Execution;
      await store.executions.complete(finished.id, "done");
      const other = await start();
      const task = (executionId: string, status: "running" | "completed") =>
        store.tasks.upsert({ executionId, taskId: `t-${status}`, status });
      const runningTasks = [
        await task(root.id, "running"),
        await task(children[1]?.id as string, "running"),
        await task(grandchildren[3]?.id as string, "running"),
      ];
      const doneTask = await task(grandchildren[2]?.id as string, "completed");
      const finishedRunTask = await task(finished.id, "running");
      const otherTask = await task(other.id, "running");

      const cancelled = await store.executions.cancel(root.id, { cascade: true });
      expect(cancelled).toMatchObject({ id: root.id, status: "cancelled", version: root.version + 1 });
      expect(cancelled.completedAt).toBeInstanceOf(Date);
      for (const e of [...children, ...grandchildren.slice(1)]) {
        expect((await store.executions.get(e.id)).status).toBe("cancelled");
      }
      expect((await store.executions.get(finished.id)).status).toBe("completed");
      expect((await store.executions.get(other.id)).status).toBe("running");
      for (const t of runningTasks) expect((await store.tasks.get(t.taskExecId)).status).toBe("cancelled");
      expect((await store.tasks.get(doneTask.taskExecId)).status).toBe("completed");
      expect((await store.tasks.get(finishedRunTask.taskExecId)).status).toBe("running");
      expect((await store.tasks.get(otherTask.taskExecId)).status).toBe("running");
    });

    it("cancel without cascade leaves children alone; inside a transaction it rolls back with it", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const root = (await store.executions.start({ definitionId: d.id })).execution;
      const child = (await store.executions.start({ definitionId: d.id, parentExecutionId: root.id }))
        .execution;
      await expect(
        store.transaction(async (tx) => {
          await tx.executions.cancel(root.id, { cascade: true });
          throw new Error("changed my mind");
        }),
      ).rejects.toThrow("changed my mind");
      expect((await store.executions.get(child.id)).status).toBe("pending");
      expect((await store.executions.cancel(root.id)).status).toBe("cancelled");
      expect((await store.executions.get(child.id)).status).toBe("pending");
      await expect(store.executions.cancel(uuidv7())).rejects.toBeInstanceOf(NotFoundError);
    });
  });
});
