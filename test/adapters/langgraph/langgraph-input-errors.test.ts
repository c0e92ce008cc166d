/**
 * What the LangGraph adapter refuses, it refuses as flowstore's ValidationError (naming the option or
 * argument at fault), before anything is sent: the tables are as they were.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import { emptyCheckpoint, type Operation, uuid6 } from "@langchain/langgraph-checkpoint";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver, FlowstoreStore } from "../../../src/adapters/langgraph/index.js";
import { type Store, ValidationError } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { statementLog } from "../../support/waiting.js";

const TABLES = ["threads", "checkpoints", "blobs", "writes", "store"];

/** Every row of the adapter's tables, to compare before and after. */
async function snapshot(store: Store): Promise<Record<string, unknown[]>> {
  const tables: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const { rows } = await store.query(
      `select to_jsonb(t)::text as row from "${store.schema}".langgraph_${table} t order by 1`,
    );
    tables[table] = rows;
  }
  return tables;
}

/** Expects `call` to throw (or reject with) a ValidationError whose field is `field`. */
async function refused(call: () => unknown, field: string | undefined, message?: RegExp): Promise<void> {
  let error: unknown;
  try {
    await call();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).field).toBe(field);
  if (message) expect((error as Error).message).toMatch(message);
}

const meta = { source: "loop" as const, step: 0, parents: {} };
const checkpoint = () => ({ ...emptyCheckpoint(), id: uuid6(-1) });

forEachDriver((driver) => {
  describe("LangGraph adapter input checks", () => {
    let store: Store;
    let saver: FlowstoreSaver;
    let items: FlowstoreStore;
    let written: RunnableConfig;

    beforeAll(async () => {
      store = await driver.open();
      saver = new FlowstoreSaver({ store, scope: "checks" });
      items = new FlowstoreStore({ store, scope: "checks" });
      written = await saver.put({ configurable: { thread_id: "t" } }, checkpoint(), meta, {});
      await saver.putWrites(written, [["c", 1]], "task");
      await items.put(["a"], "k", { v: 1 });
    });

    it("refuses a saver's bad options and arguments as ValidationError, writing nothing", async () => {
      const before = await snapshot(store);
      await refused(() => new FlowstoreSaver({ store, scope: "" }), "scope");
      await refused(() => new FlowstoreSaver({ store, statementsInFlight: 0 }), "statementsInFlight");
      await refused(() => saver.put({}, checkpoint(), meta, {}), "configurable", /configurable/);
      await refused(() => saver.put({ configurable: {} }, checkpoint(), meta, {}), "thread_id");
      await refused(
        () => saver.put({ configurable: { thread_id: "nul\u0000" } }, checkpoint(), meta, {}),
        "thread_id",
        /NUL/,
      );
      await refused(
        () =>
          saver.put({ configurable: { thread_id: "t", checkpoint_ns: "\ud800" } }, checkpoint(), meta, {}),
        "checkpoint_ns",
        /lone surrogate/,
      );
      await refused(
        () => saver.putWrites({ configurable: { thread_id: "t" } }, [["c", 1]], "task"),
        "checkpoint_id",
      );
      await refused(() => saver.putWrites(written, [["c\ud800", 1]], "task"), "channel");
      await refused(() => saver.getTuple({ configurable: { thread_id: "\udc00" } }), "thread_id");
      await refused(async () => {
        for await (const _ of saver.list({}, { before: { configurable: { checkpoint_id: "\u0000" } } }))
          break;
      }, "before");
      await refused(() => saver.deleteThread(""), "threadId");
      expect(await snapshot(store)).toEqual(before);
    });

    it("refuses prune options it could not follow as ValidationError, deleting nothing", async () => {
      const before = await snapshot(store);
      const cases: [Record<string, unknown>, string | undefined][] = [
        [{}, undefined],
        [{ keepLatest: 0 }, "keepLatest"],
        [{ keepLatest: 1.5 }, "keepLatest"],
        [{ idleMs: -1 }, "idleMs"],
        [{ idleMs: Number.NaN }, "idleMs"],
        [{ keepLatest: 1, batchSize: 0 }, "batchSize"],
      ];
      for (const [options, field] of cases) {
        await refused(() => saver.prune(options), field);
        await refused(() => saver.retentionTask(options), field);
      }
      expect(await snapshot(store)).toEqual(before);
    });

    it("refuses a filter jsonb cannot hold, in list and search, naming it, before anything is sent", async () => {
      const log = statementLog();
      const logged = await driver.open({ schema: store.schema, logStatements: true, logger: log });
      const loggedSaver = new FlowstoreSaver({ store: logged, scope: "checks" });
      const loggedItems = new FlowstoreStore({ store: logged, scope: "checks" });
      const list = (filter: Record<string, unknown>) => async () => {
        for await (const _ of loggedSaver.list({}, { filter })) break;
      };
      const sent = log.sql.length;
      for (const [odd, name] of [
        ["nul \u0000", /NUL/],
        ["half \ud800", /lone surrogate/],
        ["\udfff", /lone surrogate/],
      ] as const) {
        const filter = /filter/;
        await refused(list({ note: odd }), "filter", filter);
        await refused(list({ [odd]: 1 }), "filter", name);
        await refused(list({ nested: { deep: [odd] } }), "filter", name);
        await refused(() => loggedItems.search(["a"], { filter: { text: odd } }), "filter", filter);
        await refused(() => loggedItems.search(["a"], { filter: { [odd]: 1 } }), "filter", name);
        await refused(() => loggedItems.search(["a"], { filter: { v: { $eq: odd } } }), "filter", name);
        await refused(() => loggedItems.search(["a"], { filter: { v: { $ne: odd } } }), "filter", name);
        await refused(() => loggedItems.search(["a"], { filter: { v: { $in: [1, odd] } } }), "filter", name);
        await refused(() => loggedItems.search(["a"], { filter: { [odd]: { $gt: 1 } } }), "filter", name);
        // Refused with the batch's other operations, none of which is sent either.
        await refused(
          () =>
            loggedItems.batch([
              { namespace: ["a"], key: "k" },
              { namespacePrefix: ["a"], filter: { text: odd }, limit: 10, offset: 0 },
            ]),
          "filter",
          name,
        );
      }
      expect(log.sql.length).toBe(sent);
      // Text that only looks like those escapes once written as JSON is a filter like any other.
      const lookalike = "\\u0000 and \\ud800";
      await loggedItems.put(["a"], "odd", { text: lookalike });
      expect(
        (await loggedItems.search(["a"], { filter: { text: lookalike } })).map((item) => item.key),
      ).toEqual(["odd"]);
      await loggedItems.delete(["a"], "odd");
    });

    it("refuses a store's bad options and arguments as ValidationError, writing nothing", async () => {
      const before = await snapshot(store);
      await refused(() => new FlowstoreStore({ store, scope: "x".repeat(256) }), "scope");
      await refused(() => items.put(["a"], "k", 5 as unknown as Record<string, unknown>), "value");
      await refused(() => items.put(["a"], "k", { text: "nul\u0000" }), "value", /NUL/);
      await refused(() => items.put(["a"], "k", { text: "\ud800" }), "value", /lone surrogate/);
      await refused(() => items.put(["a"], "nul\u0000", { v: 2 }), "key");
      await refused(() => items.get(["a"], "\udfff"), "key");
      await refused(() => items.search(["a"], { limit: -1 }), "limit");
      await refused(() => items.search(["a"], { offset: 1.5 }), "offset");
      await refused(() => items.listNamespaces({ maxDepth: 0 }), "maxDepth");
      const badMatch = {
        matchConditions: [{ matchType: "infix", path: ["a"] }],
        limit: 10,
        offset: 0,
      } as unknown as Operation;
      await refused(() => items.batch([badMatch]), "matchType");
      expect(await snapshot(store)).toEqual(before);
    });
  });
});
