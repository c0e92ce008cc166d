/** Step checkpoints: first writer wins in one statement, non-determinism is refused, replay reads in order. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConflictError, NonDeterminismError, type Store, uuidv7, ValidationError } from "../../src/index.js";
import {
  asJson,
  badUuid,
  checkProperty,
  json,
  number,
  rowCounts,
  text,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";
import { statementLog, until, waitingOnLocks } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("steps", () => {
    it("keeps the first writer's outcome and hands it to every later writer", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      const first = await store.steps.record({ executionId, number: 0, name: "charge", output: { id: 1 } });
      expect(first).toMatchObject({ created: true, step: { executionId, number: 0, name: "charge" } });
      expect(first.step.output).toEqual({ id: 1 });
      expect(first.step.error).toBeUndefined();
      expect(first.step.createdAt).toBeInstanceOf(Date);

      const again = await store.steps.record({ executionId, number: 0, name: "charge", output: { id: 2 } });
      expect(again).toEqual({ step: first.step, created: false });
      expect(await store.steps.get(executionId, 0)).toEqual(first.step);
      expect(await store.steps.get(executionId, 1)).toBeUndefined();
      expect(await store.steps.get(uuidv7(), 0)).toBeUndefined();
    });

    it("records JSON, bytes, nothing, and errors, and reads each back as given", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      const outputs: unknown[] = [
        { a: [1, "é", null] },
        "text",
        0,
        null,
        false,
        [],
        Buffer.from([0, 1, 255]),
      ];
      for (const [number, output] of outputs.entries()) {
        await store.steps.record({ executionId, number, name: `s${number}`, output });
      }
      const n = outputs.length;
      await store.steps.record({ executionId, number: n, name: "void" });
      await store.steps.record({ executionId, number: n + 1, name: "bytes", output: new Uint8Array([7, 8]) });
      const boom = new TypeError("boom");
      await store.steps.record({ executionId, number: n + 2, name: "failed", error: boom });
      await store.steps.record({
        executionId,
        number: n + 3,
        name: "both",
        output: "partial",
        error: { code: "E_LIMIT", retryable: false },
      });
      await store.steps.record({ executionId, number: n + 4, name: "not failed", output: 1, error: null });

      const steps = await store.steps.list(executionId);
      expect(steps.map((s) => s.number)).toEqual(Array.from({ length: n + 5 }, (_, i) => i));
      for (const [number, output] of outputs.entries()) expect(steps[number]?.output).toEqual(output);
      expect(Buffer.isBuffer(steps[n - 1]?.output)).toBe(true);
      expect(steps[n]).toMatchObject({ name: "void", output: undefined, error: undefined });
      expect(steps[3]?.output).toBeNull();
      expect(steps[n + 1]?.output).toEqual(Buffer.from([7, 8]));
      expect(steps[n + 2]?.output).toBeUndefined();
      expect(steps[n + 2]?.error).toEqual({ name: "TypeError", message: "boom", stack: boom.stack });
      expect(steps[n + 3]).toMatchObject({ output: "partial", error: { code: "E_LIMIT", retryable: false } });
      expect(steps[n + 4]?.error).toBeUndefined();
    });

    it("refuses another step under a recorded number with NonDeterminismError, writing nothing", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.steps.record({ executionId, number: 0, name: "reserve", output: "r" });
      await store.steps.record({ executionId, number: 1, name: "charge", output: "c" });
      const before = await store.steps.list(executionId);
      const counts = await rowCounts(store);

      const error = await store.steps
        .record({ executionId, number: 1, name: "ship", output: "s" })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NonDeterminismError);
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({
        code: "CONFLICT",
        name: "NonDeterminismError",
        executionId,
        stepNumber: 1,
        recordedName: "charge",
        givenName: "ship",
      });
      expect((error as Error).message).toMatch(
        /non-determinism detected: step 1 .* "charge", and now "ship"/,
      );
      expect(await store.steps.list(executionId)).toEqual(before);
      expect(await rowCounts(store)).toEqual(counts);
      // The step itself, under its own name, is still a plain replay.
      expect((await store.steps.record({ executionId, number: 1, name: "charge" })).step.output).toBe("c");
    });

    it("reads a run's checkpoints in step order, in one statement, from a number and up to a limit", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      const executionId = uuidv7();
      const other = uuidv7();
      for (const number of [5, 0, 3, 1, 4, 2]) {
        await store.steps.record({ executionId, number, name: `step-${number}`, output: number * 10 });
      }
      await store.steps.record({ executionId: other, number: 0, name: "elsewhere" });

      log.sql.length = 0;
      const all = await store.steps.list(executionId);
      expect(log.sql).toHaveLength(1);
      expect(all.map((s) => [s.number, s.name, s.output])).toEqual(
        [0, 1, 2, 3, 4, 5].map((n) => [n, `step-${n}`, n * 10]),
      );
      expect((await store.steps.list(executionId, { from: 4 })).map((s) => s.number)).toEqual([4, 5]);
      expect((await store.steps.list(executionId, { from: 1, limit: 2 })).map((s) => s.number)).toEqual([
        1, 2,
      ]);
      expect(await store.steps.list(uuidv7())).toEqual([]);
    });

    it("records a step in one statement outside a transaction: no BEGIN, no COMMIT", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      const executionId = uuidv7();
      log.sql.length = 0;
      await store.steps.record({ executionId, number: 0, name: "a", output: 1 });
      await store.steps.record({ executionId, number: 0, name: "a", output: 2 });
      expect(log.sql).toHaveLength(2);
      expect(log.sql.every((sql) => sql.includes("insert into"))).toBe(true);
    });

    it("shares one statement among records made at the same time, each answered as if alone", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      const runs = Array.from({ length: 16 }, () => uuidv7());
      await store.steps.record({ executionId: runs[0] as string, number: 0, name: "a", output: "first" });
      log.sql.length = 0;
      const bytes = new Uint8Array([0, 1, 255]);
      const results = await Promise.allSettled([
        ...runs.map((executionId, i) =>
          store.steps.record({ executionId, number: 0, name: "a", output: i === 1 ? bytes : { i } }),
        ),
        // The same step twice in one batch: the earlier call writes it, the later finds it.
        store.steps.record({ executionId: runs[2] as string, number: 0, name: "a", output: "late" }),
        // Another name under a number recorded in the same batch is refused, and only that call.
        store.steps.record({ executionId: runs[3] as string, number: 0, name: "b", output: "other" }),
      ]);
      // The first call goes out alone; the others gather while it is on its way.
      expect(log.sql.length).toBeLessThanOrEqual(3);
      const value = (k: number) => {
        const result = results[k];
        if (result?.status !== "fulfilled") throw new Error(`call ${k} failed`);
        return result.value;
      };
      expect(value(0)).toMatchObject({ created: false, step: { output: "first" } });
      expect(value(1)).toMatchObject({ created: true, step: { output: Buffer.from(bytes) } });
      for (let i = 2; i < 16; i++) expect(value(i)).toMatchObject({ created: true, step: { output: { i } } });
      expect(value(16)).toMatchObject({ created: false, step: { output: { i: 2 } } });
      expect(results[17]).toMatchObject({ status: "rejected", reason: expect.any(NonDeterminismError) });
      for (const [i, executionId] of runs.entries()) {
        const stored = await store.steps.get(executionId, 0);
        expect(stored?.output).toEqual(i === 0 ? "first" : i === 1 ? Buffer.from(bytes) : { i });
      }
    });

    it("keeps how many times a step ran, when told, alone or in a shared statement", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      const alone = await store.steps.record({ executionId, number: 0, name: "charge", attempts: 3 });
      expect(alone.step.attempts).toBe(3);
      // Recorded at the same time, outside a transaction: one statement for all of them.
      await Promise.all([
        store.steps.record({ executionId, number: 1, name: "ship", output: "ok", attempts: 1 }),
        store.steps.record({ executionId, number: 2, name: "mail", error: new Error("down"), attempts: 5 }),
        store.steps.record({ executionId, number: 3, name: "told nothing" }),
      ]);
      await store.transaction((tx) => tx.steps.record({ executionId, number: 4, name: "tx", attempts: 2 }));
      const listed = await store.steps.list(executionId);
      expect(listed.map((step) => step.attempts)).toEqual([3, 1, 5, undefined, 2]);
      expect("attempts" in (listed[3] as object)).toBe(false);
      expect((await store.steps.get(executionId, 2))?.attempts).toBe(5);
      // A later writer's count changes nothing: the first writer's outcome is the step's.
      const later = await store.steps.record({ executionId, number: 0, name: "charge", attempts: 9 });
      expect(later).toMatchObject({ created: false, step: { attempts: 3 } });
    });

    it("commits and rolls back with the transaction it is recorded in", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await expect(
        store.transaction(async (tx) => {
          await tx.steps.record({ executionId, number: 0, name: "a", output: "lost" });
          expect((await tx.steps.get(executionId, 0))?.output).toBe("lost");
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.steps.get(executionId, 0)).toBeUndefined();
      await store.transaction((tx) => tx.steps.record({ executionId, number: 0, name: "a", output: "kept" }));
      expect((await store.steps.get(executionId, 0))?.output).toBe("kept");
    });

    it("deletes a run's checkpoints and no one else's", async () => {
      const store = await driver.open();
      const [a, b] = [uuidv7(), uuidv7()];
      for (const number of [0, 1, 2]) await store.steps.record({ executionId: a, number, name: "x" });
      await store.steps.record({ executionId: b, number: 0, name: "x" });
      expect(await store.steps.delete(a)).toBe(3);
      expect(await store.steps.list(a)).toEqual([]);
      expect(await store.steps.list(b)).toHaveLength(1);
      expect(await store.steps.delete(a)).toBe(0);
    });

    it("refuses bad input with a ValidationError and writes nothing", async () => {
      const store = await driver.open({ limits: { jsonBytes: 1024 } });
      const executionId = uuidv7();
      await store.steps.record({ executionId, number: 0, name: "kept", output: "kept" });
      const counts = await rowCounts(store);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const good = { executionId, number: 1, name: "n" };
      const bad: unknown[] = [
        undefined,
        { ...good, executionId: "not-a-uuid" },
        { ...good, executionId: undefined },
        { ...good, number: -1 },
        { ...good, number: 1.5 },
        { ...good, number: 2 ** 31 },
        { ...good, number: "1" },
        { ...good, number: undefined },
        { ...good, name: "" },
        { ...good, name: "nul\u0000" },
        { ...good, name: "x".repeat(256) },
        { ...good, name: 42 },
        { ...good, output: 1n },
        { ...good, output: cyclic },
        { ...good, output: { a: Number.NaN } },
        { ...good, output: "x".repeat(2000) },
        { ...good, output: new Uint8Array(1025) },
        { ...good, output: new ArrayBuffer(4) },
        { ...good, output: new Float32Array([1.5]) },
        { ...good, error: { code: 1n } },
        { ...good, error: "lone \ud800" },
        { ...good, attempts: 0 },
        { ...good, attempts: -1 },
        { ...good, attempts: 1.5 },
        { ...good, attempts: "2" },
        { ...good, attempts: null },
        { ...good, attempts: 2 ** 31 },
      ];
      for (const [i, input] of bad.entries()) {
        await expect(
          store.steps.record(input as Parameters<Store["steps"]["record"]>[0]),
          `bad input ${i}`,
        ).rejects.toBeInstanceOf(ValidationError);
      }
      await expect(store.steps.get("nope", 0)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.steps.get(executionId, -1)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.steps.list(executionId, { limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.steps.list(executionId, { from: -1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.steps.delete("nope")).rejects.toBeInstanceOf(ValidationError);
      expect(await rowCounts(store)).toEqual(counts);
      expect((await store.steps.get(executionId, 0))?.output).toBe("kept");
    });

    it("steps.record, fuzzed: stores what it is given or refuses it and changes no row", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await checkProperty(
        [
          fc.oneof({ weight: 4, arbitrary: fc.constant(executionId) }, badUuid),
          fc.oneof({ weight: 2, arbitrary: fc.nat({ max: 20 }) }, number),
          fc.oneof({ weight: 3, arbitrary: fc.constantFrom("a", "b") }, text),
          json,
          fc.oneof(fc.constant(undefined), json),
        ],
        (id, n, name, output, error) =>
          writeOrRefuse(
            store,
            () =>
              store.steps.record({
                executionId: id as string,
                number: n as number,
                name: name as string,
                output,
                error,
              }),
            async ({ step, created }) => {
              const read = await store.steps.get(executionId, n as number);
              expect(read).toEqual(step);
              if (created) {
                expect(step.name).toBe(name);
                expect(step.output).toEqual(asJson(output));
              }
            },
          ),
      );
    });

    if (driver.concurrent) {
      it("lets exactly one of many concurrent writers of a step win; all get its output", async () => {
        const store = await driver.open({ pool: { max: 16 } });
        const executionId = uuidv7();
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, step) =>
            Promise.all(
              Array.from({ length: 8 }, (_, writer) =>
                store.steps.record({
                  executionId,
                  number: step % 10,
                  name: `s${step % 10}`,
                  output: { writer, step },
                }),
              ),
            ),
          ),
        );
        const byNumber = new Map<number, Array<{ created: boolean; output: unknown }>>();
        for (const result of results.flat()) {
          const list = byNumber.get(result.step.number) ?? [];
          list.push({ created: result.created, output: result.step.output });
          byNumber.set(result.step.number, list);
        }
        expect(byNumber.size).toBe(10);
        for (const [number, outcomes] of byNumber) {
          expect(outcomes.filter((o) => o.created)).toHaveLength(1);
          const stored = (await store.steps.get(executionId, number))?.output;
          for (const outcome of outcomes) expect(outcome.output).toEqual(stored);
        }
      });

      it("finds the winner that committed after a waiting writer's snapshot was taken", async () => {
        const store = await driver.open({ pool: { max: 12 } });
        const executionId = uuidv7();
        let waiting: Promise<Array<{ created: boolean; output: unknown }>> | undefined;
        await store.transaction(async (tx) => {
          await tx.steps.record({ executionId, number: 0, name: "a", output: "winner" });
          // These start while the winner's row is uncommitted. Made at once, they share statements: the
          // first goes out, its insert waits for the winner, and its snapshot predates the commit.
          waiting = Promise.all(
            Array.from({ length: 8 }, (_, i) =>
              store.steps
                .record({ executionId, number: 0, name: "a", output: `loser ${i}` })
                .then(({ created, step }) => ({ created, output: step.output })),
            ),
          );
          await until(async () => (await waitingOnLocks(store)) >= 1);
        });
        const outcomes = await (waiting as Promise<Array<{ created: boolean; output: unknown }>>);
        expect(outcomes).toEqual(Array.from({ length: 8 }, () => ({ created: false, output: "winner" })));
      });

      it("refuses a concurrent writer of another name once the first commits", async () => {
        const store = await driver.open({ pool: { max: 4 } });
        const executionId = uuidv7();
        let other: Promise<unknown> | undefined;
        await store.transaction(async (tx) => {
          await tx.steps.record({ executionId, number: 0, name: "a", output: 1 });
          other = store.steps
            .record({ executionId, number: 0, name: "b", output: 2 })
            .catch((e: unknown) => e);
          await until(async () => (await waitingOnLocks(store)) >= 1);
        });
        expect(await other).toBeInstanceOf(NonDeterminismError);
        expect(await store.steps.list(executionId)).toMatchObject([{ name: "a", output: 1 }]);
      });
    }
  });
});
