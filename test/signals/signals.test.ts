/**
 * Signals: a token held by one live execution at a time, free again once its holder releases it,
 * finishes or is deleted; a payload delivered to it becomes an event in the holder's history and wakes
 * a waiter, in another store instance too (through NOTIFY on the real server).
 */
import { describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, uuidv7, ValidationError } from "../../src/index.js";
import { historyState, isHistoryRead, refused, runs } from "../support/event-fixtures.js";
import { cyclic } from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";
import { statementLog, until } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("signals", () => {
    it("claims a token for one execution, reads it by token and by execution, and releases it", async () => {
      const store = await driver.open();
      const [a, b] = (await runs(store, 2)) as [string, string];
      const { claimed, signal } = await store.signals.claim("hook:order-1", a, { metadata: { url: "/h/1" } });
      expect(claimed).toBe(true);
      expect(signal).toMatchObject({ token: "hook:order-1", executionId: a, metadata: { url: "/h/1" } });
      expect(signal.createdAt).toBeInstanceOf(Date);
      expect(await store.signals.get("hook:order-1")).toEqual(signal);
      expect(await store.signals.get("hook:other")).toBeNull();
      // Claimed again by its holder: returned as it is.
      expect((await store.signals.claim("hook:order-1", a.toUpperCase(), { metadata: 2 })).signal).toEqual(
        signal,
      );
      const bytes = new Uint8Array([7, 0, 255]);
      await store.signals.claim("b-token", b, { metadata: bytes });
      const held = await store.signals.get("b-token");
      expect(Buffer.from(held?.metadata as Uint8Array)).toEqual(Buffer.from([7, 0, 255]));
      for (const token of ["z", "é", "a", "hook:order-2", "A"]) await store.signals.claim(token, a);
      const tokens: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.signals.list(a, { limit: 2, cursor });
        tokens.push(...page.items.map((s) => s.token));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(tokens).toEqual(["A", "a", "hook:order-1", "hook:order-2", "z", "é"]);
      expect(await store.signals.release("hook:order-1", { executionId: b })).toBe(false);
      expect(await store.signals.get("hook:order-1")).not.toBeNull();
      expect(await store.signals.release("hook:order-1")).toBe(true);
      expect(await store.signals.release("hook:order-1")).toBe(false);
      expect(await store.signals.get("hook:order-1")).toBeNull();
      expect((await store.signals.claim("hook:order-1", b)).signal.executionId).toBe(b);
    });

    it("refuses a token another live execution holds, or says who holds it when asked", async () => {
      const store = await driver.open();
      const [a, b] = (await runs(store, 2)) as [string, string];
      await store.signals.claim("t", a);
      await refused(store, () => store.signals.claim("t", b, { metadata: { mine: true } }), ConflictError);
      await expect(store.signals.claim("t", b)).rejects.toThrow(`held by execution ${a}`);
      const before = await historyState(store);
      const result = await store.signals.claim("t", b, { ifHeld: "return" });
      expect(result).toMatchObject({ claimed: false, heldBy: { token: "t", executionId: a } });
      expect(await historyState(store)).toEqual(before);
      expect(await store.signals.claim("t", a, { ifHeld: "return" })).toMatchObject({ claimed: true });
    });

    it("frees a token when its holder finishes or is deleted", async () => {
      const store = await driver.open();
      const [a, b, c] = (await runs(store, 3)) as [string, string, string];
      await store.signals.claim("t", a);
      await store.signals.claim("u", a);
      await store.executions.complete(a, null);
      expect(await store.signals.get("t")).toBeNull();
      expect((await store.signals.list(a)).items).toEqual([]);
      const taken = await store.signals.claim("t", b, { metadata: "b's" });
      expect(taken.signal).toMatchObject({ executionId: b, metadata: "b's" });
      // A finished execution holds nothing and cannot claim; an unknown one is not found.
      await refused(store, () => store.signals.claim("v", a), ConflictError);
      await refused(store, () => store.signals.claim("v", uuidv7()), NotFoundError);
      await store.query(`delete from "${store.schema}".executions where id = $1`, [b]);
      expect(await store.signals.get("t")).toBeNull();
      expect((await store.signals.claim("t", c)).signal.executionId).toBe(c);
    });

    it("delivers a payload to the holder as an event, and nowhere when no live execution holds the token", async () => {
      const store = await driver.open();
      const [a, b] = (await runs(store, 2)) as [string, string];
      await store.events.append(a, { type: "hook_created", correlationId: "hook-1" });
      await store.signals.claim("tok", a);
      const { delivered, event } = await store.signals.deliver("tok", { approved: true });
      expect(delivered).toBe(true);
      expect(event).toMatchObject({
        executionId: a,
        sequence: 2,
        type: "signal",
        payload: { approved: true },
        correlationId: "tok",
      });
      const custom = await store.signals.deliver("tok", new Uint8Array([1, 2]), {
        type: "hook_received",
        correlationId: "hook-1",
      });
      expect(custom.event).toMatchObject({ sequence: 3, type: "hook_received", correlationId: "hook-1" });
      expect([...(custom.event.payload as Uint8Array)]).toEqual([1, 2]);
      const bare = await store.signals.deliver("tok", undefined, { correlationId: null });
      expect(bare.event).toMatchObject({ payload: null, correlationId: null });
      expect(
        (await store.events.byCorrelation("hook-1", { executionId: a })).items.map((e) => e.type),
      ).toEqual(["hook_created", "hook_received"]);
      // Nobody holds it: not found, or a result when asked; nothing is written either way.
      await refused(store, () => store.signals.deliver("nobody's", 1), NotFoundError);
      const before = await historyState(store);
      expect(await store.signals.deliver("nobody's", 1, { ifNotHeld: "return" })).toEqual({
        delivered: false,
      });
      expect(await historyState(store)).toEqual(before);
      await store.signals.release("tok");
      await refused(store, () => store.signals.deliver("tok", 1), NotFoundError);
      await store.signals.claim("tok", b);
      await store.executions.complete(b, null);
      await refused(store, () => store.signals.deliver("tok", 1), NotFoundError);
      // In the caller's transaction: a rollback takes the event back.
      await store.signals.claim("tok", a);
      await expect(
        store.transaction(async (tx) => {
          await tx.signals.deliver("tok", "rolled back");
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.events.lastSequence(a)).toBe(4);
    });

    it("refuses bad input before anything is written", async () => {
      const store = await driver.open({ limits: { jsonBytes: 1024 } });
      const [a, b] = (await runs(store, 2)) as [string, string];
      await store.signals.claim("held", a);
      const bad: Array<[string, () => Promise<unknown>]> = [
        ["empty token", () => store.signals.claim("", a)],
        ["token too long", () => store.signals.claim("x".repeat(1025), a)],
        ["token too long in UTF-8", () => store.signals.claim("é".repeat(513), a)],
        ["NUL in token", () => store.signals.claim("a\u0000", a)],
        ["lone surrogate in token", () => store.signals.claim("\udc00", a)],
        ["token not text", () => store.signals.claim(42 as never, a)],
        ["bad execution id", () => store.signals.claim("t", "123")],
        ["metadata BigInt", () => store.signals.claim("t", b, { metadata: { n: 1n } })],
        ["metadata too large", () => store.signals.claim("t", b, { metadata: "x".repeat(2000) })],
        ["metadata bytes too large", () => store.signals.claim("t", b, { metadata: new Uint8Array(1025) })],
        ["unknown ifHeld", () => store.signals.claim("t", b, { ifHeld: "ignore" as never })],
        ["release: long token", () => store.signals.release("x".repeat(1025))],
        ["release: bad id", () => store.signals.release("held", { executionId: "nope" })],
        ["deliver: long token", () => store.signals.deliver("x".repeat(1025), 1)],
        ["deliver: NUL in JSON", () => store.signals.deliver("held", { s: "\u0000" })],
        ["deliver: cycle", () => store.signals.deliver("held", cyclic())],
        ["deliver: JSON too large", () => store.signals.deliver("held", "x".repeat(2000))],
        ["deliver: bytes too large", () => store.signals.deliver("held", new Uint8Array(1025))],
        ["deliver: a DataView", () => store.signals.deliver("held", new DataView(new ArrayBuffer(2)))],
        ["deliver: empty type", () => store.signals.deliver("held", 1, { type: "" })],
        [
          "deliver: long correlation id",
          () => store.signals.deliver("held", 1, { correlationId: "c".repeat(1025) }),
        ],
        ["deliver: unknown ifNotHeld", () => store.signals.deliver("held", 1, { ifNotHeld: "x" as never })],
      ];
      for (const [what, write] of bad) {
        await refused(store, write, ValidationError).catch((error: unknown) => {
          throw new Error(`${what}: ${String(error)}`);
        });
      }
      await expect(store.signals.get("x".repeat(1025))).rejects.toBeInstanceOf(ValidationError);
      await expect(store.signals.list("nope")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.signals.list(a, { cursor: "!" })).rejects.toBeInstanceOf(ValidationError);
      // At the limit is fine.
      const longest = "é".repeat(512);
      await store.signals.claim(longest, b, { metadata: new Uint8Array(1024) });
      expect((await store.signals.deliver(longest, "x")).event.correlationId).toBe(longest);
    });

    it("wakes a waiter in another store instance when a payload is delivered", async () => {
      const store = await driver.open();
      const log = statementLog();
      const other = await driver.open({ schema: store.schema, logger: log, logStatements: true });
      const [run] = (await runs(store)) as [string];
      await store.signals.claim("approval", run);
      await store.events.append(run, { type: "waiting" });
      // Once the waiter has looked and found nothing, only a NOTIFY can end a wait that polls every ten
      // minutes within the test's time.
      const waiting = other.events.wait(run, { afterSequence: 1, pollIntervalMs: 600_000 });
      await until(() => log.sql.some(isHistoryRead));
      await store.transaction(async (tx) => {
        await tx.signals.deliver("approval", { approvedBy: "ann" });
      });
      const events = await waiting;
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ sequence: 2, type: "signal", payload: { approvedBy: "ann" } });
    });
  });
});
