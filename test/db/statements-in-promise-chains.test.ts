/**
 * A statement started inside a long chain of promise callbacks goes to the server at once. LangGraph
 * runs all of a graph's nodes in one such chain, and a checkpoint put made at its start was sent only
 * once the chain had ended: pg-pool hands an idle client over on process.nextTick, and Node runs those
 * only when no promise callback is left. The store's own pools hand it over at once (pg-pool.ts).
 * Real server only: PGlite has no pool.
 */
import { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

/**
 * Runs `start` inside a chain of promise callbacks that keeps going for `chainMs` without letting the
 * event loop turn, and tells for each socket write made meanwhile or after whether the chain still ran.
 */
async function writesDuringChain<T>(start: () => Promise<T>, chainMs = 200) {
  const writes: boolean[] = [];
  let inChain = false;
  const write = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    writes.push(inChain);
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof Socket.prototype.write;
  try {
    let answer: Promise<T> | undefined;
    await Promise.resolve().then(async () => {
      inChain = true;
      answer = start();
      const until = Date.now() + chainMs;
      // Each await is a promise callback: the loop never yields to the event loop (nor to nextTick).
      while (Date.now() < until) await Promise.resolve();
      inChain = false;
    });
    const result = await (answer as Promise<T>);
    return { writes, result };
  } finally {
    Socket.prototype.write = write;
  }
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("a statement started inside a chain of promise callbacks", () => {
    async function warmStore(): Promise<Store> {
      const store = await driver.open();
      // A connection left idle in the pool, as after any earlier statement.
      await store.query("select 1");
      return store;
    }

    it("is sent while the chain still runs", async () => {
      const store = await warmStore();
      const { writes, result } = await writesDuringChain(() =>
        store.query<{ n: number }>("select $1::int as n", [7], { prepare: true }),
      );
      expect(result.rows).toEqual([{ n: 7 }]);
      expect(writes.length).toBeGreaterThan(0);
      expect(writes[0]).toBe(true);
    });

    it("begins a transaction while the chain still runs", async () => {
      const store = await warmStore();
      const { writes, result } = await writesDuringChain(() =>
        store.transaction(async (tx) => (await tx.query<{ n: number }>("select 8 as n")).rows),
      );
      expect(result).toEqual([{ n: 8 }]);
      expect(writes[0]).toBe(true);
    });

    it("waits its turn behind a statement holding the only connection, then runs", async () => {
      const store = await driver.open({ pool: { max: 1 } });
      const first = store.query<{ n: number }>("select 1 as n from pg_sleep(0.05)");
      const { result } = await writesDuringChain(() => store.query<{ n: number }>("select 2 as n"), 20);
      expect((await first).rows).toEqual([{ n: 1 }]);
      expect(result.rows).toEqual([{ n: 2 }]);
    });
  });
});
