/**
 * FlowstoreStore under concurrent batches (the server only: PGlite has one connection). Batches that
 * put and delete the same keys in different orders must wait for each other, never fail with a
 * deadlock, and leave the items as some serial order of the batches would.
 */
import type { Operation } from "@langchain/langgraph-checkpoint";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreStore } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { until, waitingOnLocks } from "../../support/waiting.js";

const WORKERS = 8;
const BATCHES = 100;
const KEYS = 12;

/** A small deterministic generator, so that a failing run can be repeated. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A batch of puts and deletes of overlapping keys (one namespace or two), in random order. */
function batchOf(next: () => number, worker: number, n: number): Operation[] {
  const ops: Operation[] = [];
  const size = 2 + Math.floor(next() * 8);
  for (let i = 0; i < size; i++) {
    const key = `k${Math.floor(next() * KEYS)}`;
    const namespace = next() < 0.5 ? ["mem", "a"] : ["mem", "b"];
    ops.push({ namespace, key, value: next() < 0.4 ? null : { worker, n, i } });
  }
  return ops;
}

/** Which put a value came from (jsonb gives its keys back in an order of its own). */
const tag = (value: unknown) => {
  if (value === null) return "deleted";
  const { worker, n, i } = value as { worker: number; n: number; i: number };
  return `${worker}/${n}/${i}`;
};

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("FlowstoreStore under concurrent batches", () => {
    let store: Store;

    beforeAll(async () => {
      store = await driver.open({ pool: { max: WORKERS + 2 } });
    });

    it("batches mixing puts and deletes of the same keys never deadlock, and each is applied whole", async () => {
      const memory = new FlowstoreStore({ store, scope: "races" });
      const failures: unknown[] = [];
      const applied: Operation[][] = [];
      await Promise.all(
        Array.from({ length: WORKERS }, async (_, worker) => {
          const next = random(worker + 1);
          for (let n = 0; n < BATCHES; n++) {
            const ops = batchOf(next, worker, n);
            try {
              await memory.batch(ops);
              applied.push(ops);
            } catch (error) {
              failures.push(error);
            }
          }
        }),
      );
      const states = failures.map((error) => (error as { sqlState?: string }).sqlState ?? String(error));
      expect(states).toEqual([]);

      // Each item left holds the last value some batch put to its key (a batch's later put of a key
      // replaces its earlier ones).
      const finals = await memory.search(["mem"], { limit: 1000 });
      const lastPerBatch = new Map<string, Set<string>>();
      for (const ops of applied) {
        const last = new Map<string, unknown>();
        for (const op of ops) {
          if ("value" in op) last.set(`${op.namespace.join(".")}/${op.key}`, op.value);
        }
        for (const [key, value] of last) {
          const seen = lastPerBatch.get(key) ?? new Set<string>();
          seen.add(tag(value));
          lastPerBatch.set(key, seen);
        }
      }
      for (const item of finals) {
        const key = `${item.namespace.join(".")}/${item.key}`;
        expect(lastPerBatch.get(key)?.has(tag(item.value))).toBe(true);
      }
    });

    it("batches racing clear() never deadlock", async () => {
      const memory = new FlowstoreStore({ store, scope: "clearing" });
      let writing = true;
      const clearing = (async () => {
        while (writing) await memory.clear();
      })();
      clearing.catch(() => {}); // awaited below
      try {
        await Promise.all(
          Array.from({ length: WORKERS }, async (_, worker) => {
            const next = random(100 + worker);
            for (let n = 0; n < BATCHES / 4; n++) await memory.batch(batchOf(next, worker, n));
          }),
        );
      } finally {
        writing = false;
        await clearing;
      }
    });

    it("a batch that loses a deadlock to another session is run again", async () => {
      const memory = new FlowstoreStore({ store, scope: "victim" });
      const q = `"${store.schema}"`;
      const lock = (tx: Store, key: string) =>
        tx.query(`select 1 from ${q}.langgraph_store where scope = 'victim' and key = $1 for update`, [key]);
      // Another session locks k2, the batch locks k1 and waits for k2, then the session asks for k1: a
      // deadlock. PostgreSQL looks for one once per wait, deadlock_timeout (1 s) after it began, so the
      // batch, which has waited longer, is the one cancelled, unless the session asks more than that
      // after the batch began to wait (a loaded machine). Then the session is cancelled, the batch goes
      // through without losing anything, and the case is set up again.
      for (let attempt = 1; ; attempt++) {
        await memory.batch([
          { namespace: ["v"], key: "k1", value: { at: 0 } },
          { namespace: ["v"], key: "k2", value: { at: 0 } },
        ]);
        let batch: Promise<unknown> | undefined;
        try {
          await store.transaction(
            async (tx) => {
              await lock(tx as Store, "k2");
              batch = memory.batch([
                { namespace: ["v"], key: "k2", value: { at: 1 } },
                { namespace: ["v"], key: "k1", value: null },
              ]);
              await until(async () => (await waitingOnLocks(store)) > 0);
              // Granted only once the batch, which holds k1, has given it up: lost the deadlock.
              await lock(tx as Store, "k1");
            },
            { retries: 0 },
          );
        } catch (error) {
          await batch;
          if ((error as { sqlState?: string }).sqlState === "40P01" && attempt < 5) continue;
          throw error;
        }
        await batch;
        break;
      }
      expect((await memory.get(["v"], "k1"))?.value).toBeUndefined();
      expect((await memory.get(["v"], "k2"))?.value).toEqual({ at: 1 });
    });
  });
});
