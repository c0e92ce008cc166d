import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { definition, execution } from "../support/workflow-fixtures.js";

/** A JSON value nested `depth` arrays deep. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** `n` CJK characters (3 bytes each in UTF-8) that do not repeat, so no index entry can compress them. */
const cjkText = (n: number) =>
  Array.from({ length: n }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20_000))).join("");
const cjk = cjkText(1024); // 1,024 characters, 3,072 bytes

async function refused(call: Promise<unknown>, field?: string): Promise<ValidationError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  if (field !== undefined) expect((error as ValidationError).field).toBe(field);
  return error as ValidationError;
}

forEachDriver((driver) => {
  describe("input checks", () => {
    it("refuses JSON nested too deep with a ValidationError, and takes 1,000 levels", async () => {
      const store = await driver.open();
      const run = await execution(store);
      await refused(store.componentState.put(run.id, "c", nested(10_000)), "state");
      await refused(store.componentState.put(run.id, "c", nested(1_001)), "state");
      await refused(store.componentState.put(run.id, "c", { a: nested(1_000) }), "state");
      const entry = await store.componentState.put(run.id, "c", nested(1_000));
      expect(entry.state).toEqual(nested(1_000));
      expect(await store.componentState.list(run.id)).toHaveLength(1);
    });

    it("limits indexed text by its UTF-8 bytes, before anything is sent", async () => {
      const store = await driver.open();
      const def = await definition(store);
      const run = await execution(store, def.id);
      await refused(store.executions.start({ definitionId: def.id, idempotencyKey: cjk }), "idempotencyKey");
      await refused(store.correlations.add(cjk, run.id), "key");
      await refused(store.componentState.put(run.id, cjk, 1), "componentId");
      const task = { executionId: run.id, taskId: "t" };
      await refused(store.tasks.upsert({ ...task, taskId: cjk }), "taskId");
      await refused(store.tasks.upsert({ ...task, agentId: cjk }), "agentId");
      await refused(store.tasks.upsert({ ...task, toolId: cjk }), "toolId");
      await refused(store.blobs.put(cjk, Buffer.from("x")), "key");
      // 1,024 bytes still fit, whatever the characters: 341 of three bytes, or 512 of two (measured,
      // where a text of 341 characters or fewer cannot be over and is not).
      const key = cjkText(341);
      expect((await store.correlations.add(key, run.id)).key).toBe(key);
      const twoByteKey = "é".repeat(512);
      expect((await store.correlations.add(twoByteKey, run.id)).key).toBe(twoByteKey);
      await refused(store.correlations.add(`${twoByteKey}é`, run.id), "key");
    });

    it("returns every row of a batch given upper-case ids", async () => {
      const store = await driver.open();
      const def = await definition(store);
      const run = await execution(store, def.id);
      const id = "0190A0B0-C0D0-7000-8000-00000000000A";
      const [written] = await store.executions.upsertMany([{ id, definitionId: def.id, status: "pending" }]);
      expect(written?.id).toBe(id.toLowerCase());
      const taskExecId = "0190A0B0-C0D0-7000-8000-00000000000B";
      const [task] = await store.tasks.upsertMany([{ taskExecId, executionId: run.id, taskId: "t" }]);
      expect(task?.taskExecId).toBe(taskExecId.toLowerCase());
      const childId = "0190A0B0-C0D0-7000-8000-00000000000C";
      const [child] = await store.tasks.createChildren(taskExecId, [{ taskExecId: childId, taskId: "c" }]);
      expect(child?.taskExecId).toBe(childId.toLowerCase());
    });

    it("refuses a ttlMs whose expiry is past what a Date can hold", async () => {
      const store = await driver.open();
      const run = await execution(store);
      await refused(store.kv.set("p", "k", "v", { ttlMs: 2 ** 53 }), "ttlMs");
      await refused(store.correlations.add("k", run.id, { ttlMs: 2 ** 53 }), "ttlMs");
      expect(await store.kv.get("p", "k")).toBeUndefined();
      expect(await store.correlations.listForExecution(run.id)).toEqual([]);
      await store.kv.set("p", "k", "v", { ttlMs: 100 * 365 * 24 * 3600 * 1000 });
      expect((await store.kv.get("p", "k"))?.expiresAt?.getTime()).not.toBeNaN();
    });

    it("refuses dates outside the years 1000 to 9999, which PGlite would read back wrong", async () => {
      const store = await driver.open();
      const run = await execution(store);
      const early = new Date("0001-06-01T00:00:00Z");
      await refused(store.correlations.add("k", run.id, { expiresAt: early }), "expiresAt");
      await refused(store.jobs.enqueue({ queue: "q", name: "n", runAt: early }), "job.runAt");
      const late = new Date("9999-12-31T00:00:00Z");
      expect((await store.correlations.add("k", run.id, { expiresAt: late })).expiresAt).toEqual(late);
    });

    it("refuses a timer's fireAt and a retry's retryAt outside those years, writing nothing", async () => {
      const store = await driver.open();
      const run = await execution(store);
      const early = new Date("0050-06-01T00:00:00Z");
      await refused(store.timers.schedule({ executionId: run.id, name: "t", fireAt: early }), "fireAt");
      expect(await store.timers.list(run.id)).toEqual([]);
      const id = await store.jobs.enqueue({ queue: "q", name: "n" });
      const [lease] = await store.jobs.claim({ queue: "q", workerId: "w" });
      if (!lease) throw new Error("no job claimed");
      await refused(store.jobs.fail(lease, new Error("e"), { retryAt: early }), "retryAt");
      const job = await store.jobs.get(id);
      expect(job.status).toBe("running");
      expect(job.lastError).toBeNull();
    });

    it("refuses text with a lone surrogate instead of letting two keys collide", async () => {
      const store = await driver.open();
      const def = await definition(store);
      const run = await execution(store, def.id);
      for (const key of ["a\udc00b", "a\ud800b"]) {
        const error = await refused(
          store.executions.start({ definitionId: def.id, idempotencyKey: key }),
          "idempotencyKey",
        );
        expect(error.message).toMatch(/lone surrogate/);
      }
      expect((await store.executions.list()).items.map((e) => e.id)).toEqual([run.id]);
      await refused(store.kv.set("p", "a\ud800", "v"), "key");
      await refused(store.kv.set("p\udfff", "a", "v"), "prefix");
      await refused(store.componentState.put(run.id, "c", { text: "x\ud800" }), "state");
      await refused(store.componentState.put(run.id, "c", { "k\udc00": 1 }), "state");
      // A pair is one character, and is kept.
      await store.kv.set("p", "😀", "v");
      expect((await store.kv.list("p")).items.map((e) => e.key)).toEqual(["😀"]);
    });
  });
});
