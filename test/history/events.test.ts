/**
 * Event history: appends numbered 1, 2, 3... per execution with no gap and in commit order (under
 * concurrent appenders on the real server too), compare-and-set on the last sequence, reads by
 * sequence and correlation id with keyset cursors, waiting for the next events, and bad input refused
 * with nothing written.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, type HistoryEvent, NotFoundError, uuidv7, ValidationError } from "../../src/index.js";
import { isHistoryRead, refused, runs } from "../support/event-fixtures.js";
import { forEachDriver } from "../support/harness.js";
import { nextMillisecond, statementLog, until, waitingOnLocks } from "../support/waiting.js";

async function all<T>(fetch: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>) {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetch(cursor);
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

const sequences = (events: HistoryEvent[]) => events.map((e) => e.sequence);

forEachDriver((driver) => {
  describe("events", () => {
    it("appends one event or many in order, JSON or bytes, and reads them back", async () => {
      const store = await driver.open();
      const [run] = (await runs(store)) as [string];
      expect(await store.events.lastSequence(run)).toBe(0);
      const first = await store.events.append(run, { type: "run_created", payload: { input: [1, "two"] } });
      expect(first).toMatchObject({
        executionId: run,
        sequence: 1,
        type: "run_created",
        payload: { input: [1, "two"] },
        correlationId: null,
      });
      expect(first.createdAt).toBeInstanceOf(Date);
      const bytes = new Uint8Array([0, 1, 254, 255]);
      const batch = await store.events.append(run, [
        { type: "step_started", correlationId: "step-1" },
        { type: "step_completed", correlationId: "step-1", payload: bytes },
        { type: "note", payload: null },
      ]);
      expect(sequences(batch)).toEqual([2, 3, 4]);
      expect(await store.events.lastSequence(run)).toBe(4);
      const read = await store.events.get(run, 3);
      expect(read.payload).toBeInstanceOf(Uint8Array);
      expect([...(read.payload as Uint8Array)]).toEqual([0, 1, 254, 255]);
      expect(read.correlationId).toBe("step-1");
      expect((await store.events.get(run, 2)).payload).toBeNull();
      expect((await store.events.get(run.toUpperCase(), 1)).payload).toEqual({ input: [1, "two"] });
      await expect(store.events.get(run, 5)).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.events.append(run, [])).toEqual([]);
      // Another execution's history is numbered on its own.
      const [other] = (await runs(store)) as [string];
      expect((await store.events.append(other, { type: "x" })).sequence).toBe(1);
      // Appending to a finished run is the engine's call: the history is a log of what happened.
      await store.executions.complete(run, null);
      expect((await store.events.append(run, { type: "late" })).sequence).toBe(5);
    });

    it("compares and sets on the last sequence number; a stale writer writes nothing", async () => {
      const store = await driver.open();
      const [run] = (await runs(store)) as [string];
      await refused(
        store,
        () => store.events.append(run, { type: "a" }, { expectedLastSequence: 3 }),
        ConflictError,
      );
      await store.events.append(run, [{ type: "a" }, { type: "b" }], { expectedLastSequence: 0 });
      await refused(
        store,
        () => store.events.append(run, { type: "c" }, { expectedLastSequence: 0 }),
        ConflictError,
      );
      await refused(
        store,
        () => store.events.append(run, [{ type: "c" }, { type: "d" }], { expectedLastSequence: 1 }),
        ConflictError,
      );
      const next = await store.events.append(run, { type: "c" }, { expectedLastSequence: 2 });
      expect(next.sequence).toBe(3);
      await expect(store.events.append(run, { type: "d" }, { expectedLastSequence: 2 })).rejects.toThrow(
        /at sequence 3, not the expected 2/,
      );
    });

    it("needs the execution to exist", async () => {
      const store = await driver.open();
      await runs(store);
      for (const expectedLastSequence of [undefined, 0, 4]) {
        await refused(
          store,
          () => store.events.append(uuidv7(), { type: "a" }, { expectedLastSequence }),
          NotFoundError,
        );
      }
    });

    it("lists by sequence both ways, within bounds, with cursors, and iterates", async () => {
      const store = await driver.open();
      const [run] = (await runs(store)) as [string];
      await store.events.append(
        run,
        Array.from({ length: 25 }, (_, i) => ({ type: `e${i + 1}` })),
      );
      const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
      const asc = await all((cursor) => store.events.list(run, { limit: 7, cursor }));
      expect(sequences(asc)).toEqual(range(1, 25));
      const desc = await all((cursor) => store.events.list(run, { limit: 4, order: "desc", cursor }));
      expect(sequences(desc)).toEqual(range(1, 25).reverse());
      const window = await all((cursor) =>
        store.events.list(run, { afterSequence: 10, beforeSequence: 20, limit: 3, cursor }),
      );
      expect(sequences(window)).toEqual(range(11, 19));
      const windowDesc = await all((cursor) =>
        store.events.list(run, { afterSequence: 10, beforeSequence: 20, limit: 3, order: "desc", cursor }),
      );
      expect(sequences(windowDesc)).toEqual(range(11, 19).reverse());
      const first = await store.events.list(run, { limit: 25 });
      expect(first.nextCursor).toBeNull();
      const iterated: number[] = [];
      for await (const event of store.events.iterate(run, { afterSequence: 20, pageSize: 2 })) {
        iterated.push(event.sequence);
      }
      expect(iterated).toEqual(range(21, 25));
      expect((await store.events.list(uuidv7())).items).toEqual([]);
    });

    it("finds events by correlation id, within one execution or across them, a page at a time", async () => {
      const store = await driver.open();
      const [a, b] = (await runs(store, 2)) as [string, string];
      await store.events.append(a, [
        { type: "hook_created", correlationId: "hook-1" },
        { type: "other", correlationId: "hook-2" },
        { type: "hook_received", correlationId: "hook-1", payload: { n: 1 } },
      ]);
      // Across executions, events are ordered by their time. PGlite's clock counts whole
      // milliseconds, so each of these appends waits for the next one to be told apart.
      await nextMillisecond();
      await store.events.append(b, { type: "hook_received", correlationId: "hook-1", payload: { n: 2 } });
      await nextMillisecond();
      await store.events.append(a, { type: "hook_disposed", correlationId: "hook-1" });
      const across = await all((cursor) => store.events.byCorrelation("hook-1", { limit: 1, cursor }));
      expect(across.map((e) => [e.executionId, e.sequence])).toEqual([
        [a, 1],
        [a, 3],
        [b, 1],
        [a, 4],
      ]);
      const inA = await all((cursor) =>
        store.events.byCorrelation("hook-1", { executionId: a, limit: 2, cursor }),
      );
      expect(sequences(inA)).toEqual([1, 3, 4]);
      const newest = await all((cursor) =>
        store.events.byCorrelation("hook-1", { order: "desc", limit: 3, cursor }),
      );
      expect(newest.map((e) => [e.executionId, e.sequence])).toEqual([
        [a, 4],
        [b, 1],
        [a, 3],
        [a, 1],
      ]);
      await expect(store.events.byCorrelation("hook-1", { order: "up" as "asc" })).rejects.toBeInstanceOf(
        ValidationError,
      );
      expect((await store.events.byCorrelation("nothing")).items).toEqual([]);
      await expect(store.events.byCorrelation("hook-1", { cursor: "bm9wZQ" })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it("appends in the caller's transaction: a rollback leaves neither the event nor the run's change", async () => {
      const store = await driver.open();
      const [run] = (await runs(store)) as [string];
      const before = await store.executions.get(run);
      await expect(
        store.transaction(async (tx) => {
          await tx.events.append(run, { type: "run_completed", payload: { ok: true } });
          await tx.executions.complete(run, { ok: true });
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.events.lastSequence(run)).toBe(0);
      expect((await store.executions.get(run)).status).toBe(before.status);
      await store.transaction(async (tx) => {
        await tx.events.append(run, { type: "run_completed", payload: { ok: true } });
        await tx.executions.complete(run, { ok: true });
      });
      expect((await store.events.get(run, 1)).type).toBe("run_completed");
      expect((await store.executions.get(run)).status).toBe("completed");
      // The numbers a rolled-back append took are given out again: no gap.
      await store.transaction(async (tx) => {
        await tx.events.append(run, { type: "kept" });
        await tx
          .transaction(async (inner) => {
            await inner.events.append(run, [{ type: "dropped" }, { type: "dropped" }]);
            throw new Error("savepoint");
          })
          .catch(() => {});
        await tx.events.append(run, { type: "kept too" });
      });
      expect((await store.events.list(run)).items.map((e) => [e.sequence, e.type])).toEqual([
        [1, "run_completed"],
        [2, "kept"],
        [3, "kept too"],
      ]);
    });

    it("refuses bad input before anything is written", async () => {
      const store = await driver.open({ limits: { jsonBytes: 1024 } });
      const [run] = (await runs(store)) as [string];
      await store.events.append(run, { type: "first" });
      const bad: Array<[string, () => Promise<unknown>]> = [
        ["bad id", () => store.events.append("not-a-uuid", { type: "a" })],
        ["no type", () => store.events.append(run, { payload: 1 } as never)],
        ["not an event", () => store.events.append(run, [{ type: "ok" }, 42 as never])],
        ["NUL in type", () => store.events.append(run, { type: "a\u0000b" })],
        ["type too long", () => store.events.append(run, { type: "t".repeat(256) })],
        ["NUL in JSON", () => store.events.append(run, { type: "a", payload: { s: "x\u0000" } })],
        ["BigInt", () => store.events.append(run, { type: "a", payload: { n: 1n } })],
        ["NaN", () => store.events.append(run, { type: "a", payload: [Number.NaN] })],
        ["lone surrogate", () => store.events.append(run, { type: "a", payload: "\ud800" })],
        ["JSON too large", () => store.events.append(run, { type: "a", payload: "x".repeat(2000) })],
        ["bytes too large", () => store.events.append(run, { type: "a", payload: new Uint8Array(1025) })],
        ["an ArrayBuffer", () => store.events.append(run, { type: "a", payload: new ArrayBuffer(4) })],
        [
          "correlation id too long",
          () => store.events.append(run, { type: "a", correlationId: "é".repeat(513) }),
        ],
        ["correlation id NUL", () => store.events.append(run, { type: "a", correlationId: "\u0000" })],
        ["the last one bad", () => store.events.append(run, [{ type: "ok" }, { type: "ok" }, { type: "" }])],
        [
          "too many",
          () =>
            store.events.append(
              run,
              Array.from({ length: 1001 }, () => ({ type: "a" })),
            ),
        ],
        ["negative expected", () => store.events.append(run, { type: "a" }, { expectedLastSequence: -1 })],
        ["fractional expected", () => store.events.append(run, { type: "a" }, { expectedLastSequence: 1.5 })],
        [
          "expected as text",
          () => store.events.append(run, { type: "a" }, { expectedLastSequence: "1" as never }),
        ],
        ["notify as text", () => store.events.append(run, { type: "a" }, { notify: "yes" as never })],
      ];
      for (const [what, write] of bad) {
        await refused(store, write, ValidationError).catch((error: unknown) => {
          throw new Error(`${what}: ${String(error)}`);
        });
      }
      // Reads refuse bad arguments the same way.
      await expect(store.events.get(run, 0)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.get(run, -1)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.list(run, { afterSequence: -1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.list(run, { limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.list(run, { order: "up" as never })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.list(run, { cursor: "x" })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.list("nope")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.byCorrelation("x".repeat(1025))).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.wait(run, { timeoutMs: -1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.events.wait(run, { signal: {} as never })).rejects.toBeInstanceOf(ValidationError);
      // Exactly at the limits is fine.
      await store.events.append(run, [
        { type: "t".repeat(255), payload: new Uint8Array(1024) },
        { type: "a", correlationId: "é".repeat(512) },
      ]);
    });

    it("waits for the next events: at once when there are some, woken by a notifying append, or until the timeout", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      const [run] = (await runs(store)) as [string];
      await store.events.append(run, { type: "a" });
      expect(sequences(await store.events.wait(run))).toEqual([1]);
      expect(await store.events.wait(run, { afterSequence: 1, timeoutMs: 0 })).toEqual([]);
      expect(await store.events.wait(run, { afterSequence: 1, timeoutMs: 50, pollIntervalMs: 10 })).toEqual(
        [],
      );
      // Once the waiter has looked and found nothing, only the NOTIFY can end a wait that polls every
      // ten minutes within the test's time.
      const reads = log.sql.filter(isHistoryRead).length;
      const waiting = store.events.wait(run, { afterSequence: 1, pollIntervalMs: 600_000 });
      await until(() => log.sql.filter(isHistoryRead).length > reads);
      await store.transaction(async (tx) => {
        await tx.events.append(run, [{ type: "b" }, { type: "c" }], { notify: true });
      });
      expect(sequences(await waiting)).toEqual([2, 3]);
      // An append without notify is found at the next poll.
      const polled = store.events.wait(run, { afterSequence: 3, pollIntervalMs: 20 });
      await store.events.append(run, { type: "d" });
      expect(sequences(await polled)).toEqual([4]);
      const aborted = new AbortController();
      const abortable = store.events.wait(run, { afterSequence: 4, signal: aborted.signal });
      aborted.abort(new Error("stop waiting"));
      await expect(abortable).rejects.toThrow("stop waiting");
      await expect(
        store.transaction((tx) => tx.events.wait(run, { afterSequence: 4, timeoutMs: 0 })),
      ).rejects.toBeInstanceOf(ValidationError);
      // A transaction begun without a level and set to one by hand is named by the level it has.
      await expect(
        store.transaction(async (tx) => {
          await tx.query("set transaction isolation level repeatable read");
          await tx.events.wait(run, { afterSequence: 4, timeoutMs: 0 });
        }),
      ).rejects.toThrow(/inside this repeatable read transaction: it reads from a snapshot/);
    });

    it.skipIf(!driver.concurrent)(
      "8 concurrent appenders to one execution leave 1..N, gap-free, no duplicate",
      async () => {
        const store = await driver.open();
        const [run] = (await runs(store)) as [string];
        const appended = await Promise.all(
          Array.from({ length: 8 }, async (_, writer) => {
            const mine: number[] = [];
            for (let i = 0; i < 15; i++) {
              const batch = Array.from({ length: 1 + ((writer + i) % 3) }, (_, k) => ({
                type: "append",
                payload: { writer, i, k },
              }));
              const events = await store.events.append(run, batch);
              mine.push(...sequences(events));
            }
            return mine;
          }),
        );
        const total = appended.reduce((n, mine) => n + mine.length, 0);
        const stored = await all((cursor) => store.events.list(run, { limit: 1000, cursor }));
        expect(sequences(stored)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        expect(new Set(appended.flat()).size).toBe(total);
        // Each writer's own appends follow one another.
        for (const mine of appended) expect(mine).toEqual([...mine].sort((x, y) => x - y));
        for (const event of stored) {
          const { writer, i, k } = event.payload as { writer: number; i: number; k: number };
          expect(appended[writer]).toContain(event.sequence);
          expect(event.type).toBe("append");
          expect(k).toBeLessThan(3);
          expect(i).toBeLessThan(15);
        }
        expect(await store.events.lastSequence(run)).toBe(total);
      },
    );

    it.skipIf(!driver.concurrent)(
      "numbers in commit order: a later append waits for an earlier uncommitted one",
      async () => {
        const store = await driver.open();
        const [run] = (await runs(store)) as [string];
        let commit!: () => void;
        const gate = new Promise<void>((resolve) => {
          commit = resolve;
        });
        let appendedA!: () => void;
        const aAppended = new Promise<void>((resolve) => {
          appendedA = resolve;
        });
        const a = store.transaction(async (tx) => {
          const event = await tx.events.append(run, { type: "a" });
          appendedA();
          await gate;
          return event;
        });
        await aAppended;
        const b = store.events.append(run, { type: "b" });
        await until(async () => (await waitingOnLocks(store)) >= 1);
        // Neither is visible yet, and B has not taken a number.
        expect((await store.events.list(run)).items).toEqual([]);
        commit();
        const [eventA, eventB] = await Promise.all([a, b]);
        expect([eventA.sequence, eventB.sequence]).toEqual([1, 2]);
        expect(eventB.createdAt.getTime()).toBeGreaterThanOrEqual(eventA.createdAt.getTime());
      },
    );
  });
});
