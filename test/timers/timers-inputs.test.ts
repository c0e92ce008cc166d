/**
 * The timers API's numeric options and its dispatcher's signal. A bad number is refused with a
 * ValidationError naming it before any statement is sent, so the due timer it would have touched stays
 * as it was; a dispatcher given an aborted signal does nothing, and one that stops lets go of the signal.
 */
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { statementCounter } from "../support/statement-counter.js";
import { until } from "../support/waiting.js";

const inMs = (ms: number) => new Date(Date.now() + ms);

async function count(store: Store, table: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.${table}`,
  );
  return rows[0]?.n ?? -1;
}

/** Numbers no count or duration of milliseconds can be; null and a string as a JavaScript caller may pass them. */
const NOT_POSITIVE_INT4: unknown[] = [
  0,
  -1,
  -60_000,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 31,
  null,
  "10",
];

type Dispatcher = { stop(): Promise<void> };
type Call = (store: Store, value: unknown) => Promise<unknown> | Dispatcher;

const CASES: { method: string; field: string; call: Call; alsoBad?: unknown[] }[] = [
  {
    method: "claimDue",
    field: "limit",
    call: (store, limit) => store.timers.claimDue({ workerId: "w", limit: limit as number }),
  },
  {
    method: "claimDue",
    field: "leaseMs",
    call: (store, leaseMs) => store.timers.claimDue({ workerId: "w", leaseMs: leaseMs as number }),
  },
  {
    method: "dispatchDue",
    field: "limit",
    call: (store, limit) => store.timers.dispatchDue({ limit: limit as number }),
  },
  {
    method: "listAll",
    field: "limit",
    call: (store, limit) => store.timers.listAll({ limit: limit as number }),
    alsoBad: [1_001],
  },
  {
    method: "startDispatcher",
    field: "limit",
    call: (store, limit) => store.timers.startDispatcher({ limit: limit as number }),
  },
  {
    method: "startDispatcher",
    field: "pollIntervalMs",
    call: (store, pollIntervalMs) =>
      store.timers.startDispatcher({ pollIntervalMs: pollIntervalMs as number }),
  },
];

/** The call's error; a dispatcher it started by mistake is stopped first, so its passes are counted. */
async function errorOf(run: () => Promise<unknown> | Dispatcher): Promise<unknown> {
  let result: unknown;
  try {
    result = await run();
  } catch (error) {
    return error;
  }
  if (typeof (result as Dispatcher | undefined)?.stop === "function") await (result as Dispatcher).stop();
  return undefined;
}

forEachDriver((driver) => {
  /**
   * Waits until a dispatcher polling every 20 ms, on a store of its own, has fired a timer due now: a
   * dispatcher started before this with the same interval had as much time to fire one too.
   */
  async function fairChance(): Promise<void> {
    const other = await driver.open();
    const control = other.timers.startDispatcher({ pollIntervalMs: 20 });
    await other.timers.schedule({ name: "control", fireAt: inMs(0) });
    await until(async () => (await count(other, "jobs")) > 0);
    await control.stop();
    expect(await count(other, "jobs")).toBe(1);
  }

  describe("timer options", () => {
    for (const { method, field, call, alsoBad = [] } of CASES) {
      it(`${method} refuses a bad ${field} before sending anything, and the due timer stays unleased`, async () => {
        const logger = statementCounter();
        const store = await driver.open({ logStatements: true, logger });
        const timer = await store.timers.schedule({ name: "due", fireAt: inMs(-1_000) });
        for (const value of [...NOT_POSITIVE_INT4, ...alsoBad]) {
          logger.statements = 0;
          const error = await errorOf(() => call(store, value));
          const shown = `${method}({ ${field}: ${String(value)} })`;
          expect(error, shown).toBeInstanceOf(ValidationError);
          expect((error as ValidationError).field, shown).toBe(field);
          expect(logger.statements, shown).toBe(0);
        }
        expect(await store.timers.listAll()).toEqual([timer]);
        expect(await count(store, "jobs")).toBe(0);
      });
    }

    it("the smallest limit, lease and poll interval are taken", async () => {
      const store = await driver.open();
      for (const name of ["a", "b", "c"]) await store.timers.schedule({ name, fireAt: inMs(-1_000) });
      const [claimed, ...more] = await store.timers.claimDue({ workerId: "w", limit: 1, leaseMs: 1 });
      expect(more).toEqual([]);
      expect(claimed?.leaseOwner).toBe("w");
      expect(await store.timers.dispatchDue({ limit: 1 })).toBe(1);
      // limit 1 fires one timer a pass and goes on while they come: every timer fires.
      const dispatcher = store.timers.startDispatcher({ limit: 1, pollIntervalMs: 1 });
      await until(async () => (await count(store, "timers")) === 0);
      await dispatcher.stop();
      expect(await count(store, "timers")).toBe(0);
      expect(await count(store, "jobs")).toBe(3);
    });
  });

  describe("the dispatcher's signal", () => {
    it("a dispatcher whose signal is already aborted fires nothing, and its stop resolves", async () => {
      const store = await driver.open();
      const before = await store.timers.schedule({ name: "due-before", fireAt: inMs(-1_000) });
      const aborted = AbortSignal.abort();
      const dispatcher = store.timers.startDispatcher({ signal: aborted, pollIntervalMs: 20 });
      const after = await store.timers.schedule({ name: "due-after", fireAt: inMs(0) });
      await fairChance();
      await dispatcher.stop();
      expect((await store.timers.listAll()).map((t) => t.id).sort()).toEqual([before.id, after.id].sort());
      expect(await count(store, "jobs")).toBe(0);
      expect(getEventListeners(aborted, "abort")).toHaveLength(0);
    });

    it("stop() takes the dispatcher's listener off the signal", async () => {
      const store = await driver.open();
      const shutdown = new AbortController();
      for (let i = 0; i < 3; i++) {
        const dispatcher = store.timers.startDispatcher({ signal: shutdown.signal });
        expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(1);
        await dispatcher.stop();
        expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
      }
    });

    it("aborting the signal still stops a running dispatcher, and takes its listener off", async () => {
      const store = await driver.open();
      const shutdown = new AbortController();
      const dispatcher = store.timers.startDispatcher({ signal: shutdown.signal, pollIntervalMs: 20 });
      await store.timers.schedule({ name: "first", fireAt: inMs(0) });
      await until(async () => (await count(store, "jobs")) > 0);
      expect(await count(store, "jobs")).toBe(1);
      shutdown.abort();
      expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
      // A pass already under way when the signal fired may finish; the timer comes after it.
      await fairChance();
      const late = await store.timers.schedule({ name: "late", fireAt: inMs(0) });
      await fairChance();
      expect(await store.timers.listAll()).toEqual([late]);
      await dispatcher.stop();
    });
  });
});
