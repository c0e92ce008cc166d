import { describe, expect, it } from "vitest";
import {
  ConflictError,
  type Logger,
  NotFoundError,
  type Store,
  uuidv7,
  ValidationError,
} from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { counts, definition, execution } from "../support/workflow-fixtures.js";

/** A logger that counts the statements the store sends (statement logging is on). */
function statementCounter(): { logger: Logger; sent: () => number } {
  let n = 0;
  const ignore = () => {};
  return {
    logger: { debug: () => n++, info: ignore, warn: ignore, error: ignore },
    sent: () => n,
  };
}

forEachDriver((driver) => {
  describe("componentState", () => {
    it("puts, gets, lists and deletes versioned component state", async () => {
      const store = await driver.open();
      const e = await execution(store);
      expect(await store.componentState.get(e.id, "form")).toBeNull();
      const first = await store.componentState.put(e.id, "form", { fields: 2 });
      expect(first).toMatchObject({
        executionId: e.id,
        componentId: "form",
        state: { fields: 2 },
        version: 1,
      });
      const second = await store.componentState.put(e.id, "form", { fields: 3 }, { expectedVersion: 1 });
      expect(second).toMatchObject({ state: { fields: 3 }, version: 2 });
      expect(second.createdAt).toEqual(first.createdAt);
      await store.componentState.put(e.id, "cart", null);
      // A stored null is an entry whose state is null, not a missing entry.
      expect(await store.componentState.get(e.id, "cart")).toMatchObject({ state: null, version: 1 });
      expect((await store.componentState.list(e.id)).map((s) => s.componentId)).toEqual(["cart", "form"]);
      expect(await store.componentState.delete(e.id, "cart")).toBe(true);
      expect(await store.componentState.delete(e.id, "cart")).toBe(false);
      expect(await store.componentState.get(e.id, "cart")).toBeNull();
      await expect(store.componentState.put(uuidv7(), "x", 1)).rejects.toBeInstanceOf(NotFoundError);
    });

    it("expectedVersion: 0 creates only, n compares and sets; a conflict writes nothing", async () => {
      const store = await driver.open();
      const e = await execution(store);
      await store.componentState.put(e.id, "c", "a", { expectedVersion: 0 });
      await expect(store.componentState.put(e.id, "c", "b", { expectedVersion: 0 })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(store.componentState.put(e.id, "c", "b", { expectedVersion: 5 })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(
        store.componentState.put(e.id, "none", "b", { expectedVersion: 1 }),
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.componentState.delete(e.id, "c", { expectedVersion: 2 })).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await store.componentState.get(e.id, "c")).toMatchObject({ state: "a", version: 1 });
      const results = await Promise.allSettled(
        ["x", "y"].map((v) => store.componentState.put(e.id, "c", v, { expectedVersion: 1 })),
      );
      expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
      expect(await store.componentState.delete(e.id, "c", { expectedVersion: 2 })).toBe(true);
    });
  });

  describe("correlations", () => {
    it("routes a key to the live executions waiting for it, oldest first", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const [a, b, c, done] = [
        await execution(store, d.id),
        await execution(store, d.id),
        await execution(store, d.id),
        await execution(store, d.id),
      ] as const;
      const added = await store.correlations.add("order-1", a.id);
      expect(added).toMatchObject({ key: "order-1", executionId: a.id, expiresAt: null });
      await store.correlations.add("order-1", b.id, { ttlMs: 60_000 });
      await store.correlations.add("order-1", c.id, { expiresAt: new Date(Date.now() - 1000) });
      await store.correlations.add("order-1", done.id);
      await store.executions.complete(done.id);
      await store.correlations.add("order-2", a.id);
      expect((await store.correlations.resolve("order-1")).map((r) => r.executionId)).toEqual([a.id, b.id]);
      expect(await store.correlations.resolve("nobody")).toEqual([]);
      // Adding again only moves the expiry: c becomes live, still ordered by when it was first added.
      const refreshed = await store.correlations.add("order-1", c.id, { ttlMs: 60_000 });
      expect(refreshed.expiresAt?.getTime()).toBeGreaterThan(Date.now() - 5000);
      expect((await store.correlations.resolve("order-1")).map((r) => r.executionId)).toEqual([
        a.id,
        b.id,
        c.id,
      ]);
      expect((await store.correlations.listForExecution(a.id)).map((r) => r.key)).toEqual([
        "order-1",
        "order-2",
      ]);
      expect(await store.correlations.remove("order-1", a.id)).toBe(1);
      expect((await store.correlations.resolve("order-1")).map((r) => r.executionId)).toEqual([b.id, c.id]);
      expect(await store.correlations.remove("order-1")).toBe(3);
      expect(await store.correlations.resolve("order-1")).toEqual([]);
      await expect(store.correlations.add("k", uuidv7())).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        store.correlations.add("k", a.id, { ttlMs: 5, expiresAt: new Date() }),
      ).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe("payload rules", () => {
    async function setup(): Promise<{ store: Store; sent: () => number }> {
      const counter = statementCounter();
      const store = await driver.open({
        limits: { jsonBytes: 1024 },
        logStatements: true,
        logger: counter.logger,
      });
      return { store, sent: counter.sent };
    }

    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const bad: [string, unknown][] = [
      ["a BigInt", { n: 1n }],
      ["a cycle", cycle],
      ["a function", { f: () => 1 }],
      ["NaN", { n: Number.NaN }],
      ["Infinity", [Number.POSITIVE_INFINITY]],
      ["a NUL in a string", { s: "a\u0000b" }],
      ["a NUL in a key", { "a\u0000": 1 }],
      ["a Map", new Map([["a", 1]])],
      ["a payload over the limit", { big: "x".repeat(2000) }],
    ];

    it("every JSON field rejects each bad value with a ValidationError before anything is sent", async () => {
      const { store, sent } = await setup();
      const d = await definition(store);
      const e = await execution(store, d.id);
      const parent = await store.tasks.upsert({ executionId: e.id, taskId: "p" });
      const before = await counts(store);
      const snapshot = async () => [
        await store.executions.get(e.id),
        await store.tasks.get(parent.taskExecId),
      ];
      const rowsBefore = await snapshot();
      const calls: [string, (value: unknown) => Promise<unknown>][] = [
        ["definitions.create", (v) => store.definitions.create({ name: "x", definition: v })],
        ["definitions.list contains", (v) => store.definitions.list({ contains: v })],
        ["executions.start input", (v) => store.executions.start({ definitionId: d.id, input: v })],
        ["executions.start metadata", (v) => store.executions.start({ definitionId: d.id, metadata: { v } })],
        ["executions.update input", (v) => store.executions.update(e.id, { input: v })],
        ["executions.update output", (v) => store.executions.update(e.id, { output: v })],
        ["executions.update error", (v) => store.executions.update(e.id, { error: v })],
        ["executions.update state", (v) => store.executions.update(e.id, { state: v })],
        ["executions.complete", (v) => store.executions.complete(e.id, v)],
        ["executions.fail", (v) => store.executions.fail(e.id, v)],
        [
          "executions.upsert",
          (v) => store.executions.upsert({ id: e.id, definitionId: d.id, status: "running", state: v }),
        ],
        [
          "executions.upsertMany",
          (v) =>
            store.executions.upsertMany([
              { id: uuidv7(), definitionId: d.id, status: "pending" },
              { id: uuidv7(), definitionId: d.id, status: "pending", output: v },
            ]),
        ],
        ["tasks.upsert", (v) => store.tasks.upsert({ executionId: e.id, taskId: "t", input: v })],
        [
          "tasks.upsertMany",
          (v) =>
            store.tasks.upsertMany([
              { executionId: e.id, taskId: "ok" },
              { executionId: e.id, taskId: "t", error: v },
            ]),
        ],
        [
          "tasks.createChildren",
          (v) =>
            store.tasks.createChildren(parent.taskExecId, [{ taskId: "ok" }, { taskId: "t", output: v }]),
        ],
        ["componentState.put", (v) => store.componentState.put(e.id, "c", v)],
      ];
      for (const [call, run] of calls) {
        for (const [what, value] of bad) {
          const statements = sent();
          const error = await run(value).catch((x: unknown) => x);
          expect(error, `${call} with ${what}`).toBeInstanceOf(ValidationError);
          expect(sent(), `${call} with ${what} sent a statement`).toBe(statements);
        }
      }
      expect(await counts(store)).toEqual(before);
      expect(await snapshot()).toEqual(rowsBefore);
    });

    it("undefined is refused where a value is required, and text fields refuse NUL", async () => {
      const { store, sent } = await setup();
      const e = await execution(store);
      const before = await counts(store);
      const statements = sent();
      const attempts: Promise<unknown>[] = [
        store.definitions.create({ name: "x", definition: undefined }),
        store.componentState.put(e.id, "c", undefined),
        store.definitions.create({ name: "a\u0000", definition: {} }),
        store.executions.start({ name: "a\u0000" }),
        store.executions.start({ definitionId: e.definitionId as string, idempotencyKey: "k\u0000" }),
        store.tasks.upsert({ executionId: e.id, taskId: "t\u0000" }),
        store.tasks.upsert({ executionId: e.id, taskId: "t", agentId: "\u0000" }),
        store.componentState.put(e.id, "c\u0000", 1),
        store.correlations.add("k\u0000", e.id),
        store.executions.start({
          definitionId: e.definitionId as string,
          metadata: [] as unknown as Record<string, unknown>,
        }),
        store.executions.get("nope"),
        store.tasks.list({ limit: 0 }),
      ];
      for (const attempt of attempts) await expect(attempt).rejects.toBeInstanceOf(ValidationError);
      expect(sent()).toBe(statements);
      expect(await counts(store)).toEqual(before);
    });

    it("dates round-trip as ISO strings; null and absent stay distinct", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const at = new Date("2026-01-02T03:04:05.678Z");
      const { execution: e } = await store.executions.start({
        definitionId: d.id,
        input: { at, list: [at] },
      });
      expect((await store.executions.get(e.id)).input).toEqual({
        at: at.toISOString(),
        list: [at.toISOString()],
      });
      const withState = await store.executions.update(e.id, { state: { s: 1 }, output: "x" });
      const cleared = await store.executions.update(e.id, { output: null });
      expect(cleared.output).toBeNull();
      expect(cleared.state).toEqual(withState.state);
      const exact = await store.executions.update(e.id, {
        state: { n: 0.1 + 0.2, s: "é\u{1F600}", nested: [null, true] },
      });
      expect(exact.state).toEqual({ n: 0.1 + 0.2, s: "é\u{1F600}", nested: [null, true] });
    });
  });
});
