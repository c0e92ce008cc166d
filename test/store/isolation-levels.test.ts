/**
 * Every public call of a transaction's scope, inside a transaction at each isolation level, on both
 * drivers: each call runs after the transaction has taken its snapshot (a first read), checks what it
 * returns and reads back there, and what it wrote is checked once committed. A call that cannot work
 * inside a transaction is refused before it writes anything. With FLOWSTORE_ISOLATION_TABLE set to a
 * file, each outcome is appended to it as a line of JSON (for a table of calls, levels and drivers).
 */
import { appendFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IsolationLevel, type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { type CallCase, call, OFFLOAD_ABOVE, running } from "./isolation/case.js";
import { dataCases } from "./isolation/data.js";
import { queueCases } from "./isolation/queue.js";
import { runCases } from "./isolation/runs.js";

const LEVELS: IsolationLevel[] = ["read committed", "repeatable read", "serializable"];

const scopeCases: CallCase[] = [
  call({
    call: "query, transaction (a savepoint)",
    prepare: async (store) => ({ id: await running(store), schema: store.schema }),
    run: async (tx, { id, schema }) => {
      await tx.transaction(async (inner) => {
        await inner.executions.update(id, { status: "waiting" });
      });
      await expect(
        tx.transaction(async (inner) => {
          await inner.executions.update(id, { status: "completed" });
          throw new Error("this savepoint only");
        }),
      ).rejects.toThrow("this savepoint only");
      const { rows } = await tx.query(`select status from "${schema}".executions where id = $1`, [id]);
      expect(rows).toEqual([{ status: "waiting" }]);
    },
    after: async (store, { id }) => expect((await store.executions.get(id)).status).toBe("waiting"),
  }),
];

/** Refused inside any transaction: the error says so and what to do; the call wrote nothing. */
const refusedCases: CallCase[] = [
  call({
    call: "events.wait",
    prepare: running,
    run: async (tx, id, { level }) => {
      const refused = await tx.events.wait(id, { timeoutMs: 1 }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ValidationError);
      const { message } = refused as Error;
      // A transaction reading from a snapshot is named by its level: it would never see the events.
      if (level === "read committed") {
        expect(message).toMatch(/inside a transaction: it would hold the transaction open/);
        expect(message).not.toMatch(/repeatable read|serializable|snapshot/);
      } else {
        expect(message).toContain(`inside this ${level} transaction: it reads from a snapshot`);
      }
      expect(message).toMatch(
        /call it on the store \(store\.events\.wait\), once the transaction has committed$/,
      );
      return "refused";
    },
    after: async (store, id) => expect(await store.events.lastSequence(id)).toBe(0),
  }),
];

const CASES = [...scopeCases, ...runCases, ...queueCases, ...dataCases];
const table = process.env.FLOWSTORE_ISOLATION_TABLE;

forEachDriver((driver) => {
  describe("every call in every isolation level", () => {
    let store: Store;
    beforeAll(async () => {
      store = await driver.open({ limits: { offloadAbove: OFFLOAD_ABOVE } });
    });
    afterAll(async () => {
      await store.close();
    });

    for (const level of LEVELS) {
      for (const c of [...CASES, ...refusedCases]) {
        it(`${level}: ${c.call}`, async () => {
          const fixture = await c.prepare?.(store);
          const outcome = await store.transaction(
            async (tx) => {
              // The snapshot is taken here, before the call: under repeatable read and serializable,
              // nothing committed elsewhere from now on is visible to the transaction.
              await tx.query(`select count(*) from "${store.schema}".executions`);
              const refused =
                (await c.run(tx, fixture, { level, concurrent: driver.concurrent })) === "refused";
              return refused ? "refused" : "pass";
            },
            { isolation: level },
          );
          await c.after?.(store, fixture);
          if (table) {
            const calls = c.call.replace(/\(.*\)/, "").split(",").length;
            appendFileSync(
              table,
              `${JSON.stringify({ driver: driver.name, level, call: c.call, calls, outcome })}\n`,
            );
          }
        });
      }
    }
  });
});
