/**
 * FlowstoreSaver beyond what LangGraph's suite asks: calls made together share a statement and a bad
 * one fails alone, metadata keeps what jsonb cannot hold, filters and pages of `list`, the order of
 * pending writes (task path, task id, index), and savers apart by scope.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  type Checkpoint,
  emptyCheckpoint,
  type SerializerProtocol,
  uuid6,
} from "@langchain/langgraph-checkpoint";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { statementLog } from "../../support/waiting.js";

/** A checkpoint holding `values`, each channel at `version`. */
const checkpoint = (values: Record<string, unknown> = {}, version = 1): Checkpoint => ({
  ...emptyCheckpoint(),
  id: uuid6(-1),
  channel_values: values,
  channel_versions: Object.fromEntries(Object.keys(values).map((channel) => [channel, version])),
});
const versionsOf = (c: Checkpoint) => c.channel_versions;
const meta = (step: number, extra: Record<string, unknown> = {}) => ({
  source: "loop" as const,
  step,
  parents: {},
  ...extra,
});

async function listIds(saver: FlowstoreSaver, config: RunnableConfig, options = {}): Promise<string[]> {
  const ids: string[] = [];
  for await (const tuple of saver.list(config, options)) ids.push(tuple.checkpoint.id);
  return ids;
}

forEachDriver((driver) => {
  describe("FlowstoreSaver", () => {
    let store: Store;
    let scopes = 0;
    const saver = (options = {}) => new FlowstoreSaver({ store, scope: `saver-${++scopes}`, ...options });

    beforeAll(async () => {
      store = await driver.open();
    });

    it("sends the calls made together in one statement, each resolving once written", async () => {
      const log = statementLog();
      const logged = await driver.open({ logStatements: true, logger: log });
      const s = new FlowstoreSaver({ store: logged, scope: "combined" });
      const puts = Array.from({ length: 20 }, (_, i) =>
        s.put({ configurable: { thread_id: `t${i % 5}` } }, checkpoint({ i }, i + 1), meta(i), { i: i + 1 }),
      );
      const configs = await Promise.all(puts);
      await Promise.all(configs.map((config, i) => s.putWrites(config, [["out", i]], `task-${i}`)));
      const written = log.sql.filter((sql) => sql.includes("langgraph_writes")).length;
      expect(written).toBeLessThan(40);
      expect(written).toBeGreaterThanOrEqual(2);
      const tuples = await Promise.all(configs.map((config) => s.getTuple(config)));
      tuples.forEach((tuple, i) => {
        expect(tuple?.checkpoint.channel_values).toEqual({ i });
        expect(tuple?.pendingWrites).toEqual([[`task-${i}`, "out", i]]);
      });
    });

    it("fails only the call PostgreSQL refuses when calls share a statement", async () => {
      const s = saver();
      const bad = { ...checkpoint(), ts: "nul \u0000 in a string jsonb cannot hold" };
      const results = await Promise.allSettled([
        s.put({ configurable: { thread_id: "good-1" } }, checkpoint({ a: 1 }), meta(0), { a: 1 }),
        s.put({ configurable: { thread_id: "bad" } }, bad, meta(0), {}),
        s.put({ configurable: { thread_id: "good-2" } }, checkpoint({ b: 2 }), meta(0), { b: 1 }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(
        (await s.getTuple({ configurable: { thread_id: "good-2" } }))?.checkpoint.channel_values,
      ).toEqual({ b: 2 });
      expect(await s.getTuple({ configurable: { thread_id: "bad" } })).toBeUndefined();
    });

    it("keeps metadata jsonb cannot hold exactly, and filters on the rest of it", async () => {
      const s = saver();
      const c = checkpoint();
      const config = await s.put(
        { configurable: { thread_id: "t" } },
        c,
        meta(1, { note: "a\u0000b", tag: "x" }),
        {},
      );
      expect((await s.getTuple(config))?.metadata).toEqual(meta(1, { note: "a\u0000b", tag: "x" }));
      expect(
        await listIds(s, { configurable: { thread_id: "t" } }, { filter: { tag: "x", step: 1 } }),
      ).toEqual([c.id]);
      expect(await listIds(s, { configurable: { thread_id: "t" } }, { filter: { tag: "y" } })).toEqual([]);
    });

    it("keeps metadata holding a lone surrogate exactly, as it keeps a NUL", async () => {
      const s = saver();
      const c = checkpoint();
      const odd = meta(1, { note: "x\ud800", "key \udc00": "v", tag: "x" });
      const config = await s.put({ configurable: { thread_id: "t" } }, c, odd, {});
      expect((await s.getTuple(config))?.metadata).toEqual(odd);
      expect(await listIds(s, { configurable: { thread_id: "t" } }, { filter: { tag: "x" } })).toEqual([
        c.id,
      ]);
    });

    it("stores what a serializer that does not write JSON gives, without filtering on it", async () => {
      const encoded: SerializerProtocol = {
        dumpsTyped: async (value) => ["reversed", new TextEncoder().encode(JSON.stringify(value)).reverse()],
        loadsTyped: async (_type, data) =>
          JSON.parse(new TextDecoder().decode(new Uint8Array(data as Uint8Array).reverse())),
      };
      const s = saver({ serde: encoded });
      const c = checkpoint({ secret: [1, 2] });
      const config = await s.put({ configurable: { thread_id: "t" } }, c, meta(3), versionsOf(c));
      await s.putWrites(config, [["secret", "w"]], "task");
      const tuple = await s.getTuple(config);
      expect(tuple?.checkpoint.channel_values).toEqual({ secret: [1, 2] });
      expect(tuple?.metadata).toEqual(meta(3));
      expect(tuple?.pendingWrites).toEqual([["task", "secret", "w"]]);
      expect(await listIds(s, { configurable: {} }, { filter: { step: 3 } })).toEqual([]);
    });

    it("lists newest first across pages, within a limit, before an id", async () => {
      const s = saver();
      const ids: string[] = [];
      let config: RunnableConfig = { configurable: { thread_id: 7 } };
      for (let i = 0; i < 230; i++) {
        const c = checkpoint();
        config = await s.put(config, c, meta(i, { parity: i % 2 }), {});
        ids.push(c.id);
      }
      const newest = [...ids].reverse();
      expect(await listIds(s, { configurable: { thread_id: "7" } })).toEqual(newest);
      expect(await listIds(s, { configurable: {} }, { limit: 150 })).toEqual(newest.slice(0, 150));
      expect(
        await listIds(s, { configurable: {} }, { before: { configurable: { checkpoint_id: ids[100] } } }),
      ).toEqual(newest.slice(130));
      expect(await listIds(s, { configurable: {} }, { filter: { parity: 1 }, limit: 3 })).toEqual(
        newest.filter((_, i) => i % 2 === 0).slice(0, 3),
      );
    });

    it("returns pending writes by task path, then task id, then index", async () => {
      const s = saver();
      const config = await s.put({ configurable: { thread_id: "t" } }, checkpoint(), meta(0), {});
      await s.putWrites(
        config,
        [
          ["b", 2],
          ["a", 1],
        ],
        "task-z",
        "~0",
      );
      await s.putWrites(config, [["c", 3]], "task-a", "~1");
      await s.putWrites(config, [["d", 4]], "task-b", "~0");
      await s.putWrites(config, [["__interrupt__", "first"]], "task-z", "~0");
      await s.putWrites(
        config,
        [
          ["__interrupt__", "replaced"],
          ["e", 5],
        ],
        "task-z",
        "~0",
      );
      expect((await s.getTuple(config))?.pendingWrites).toEqual([
        ["task-b", "d", 4],
        ["task-z", "__interrupt__", "replaced"],
        ["task-z", "b", 2],
        ["task-z", "a", 1],
        ["task-a", "c", 3],
      ]);
    });

    it("keeps savers of different scopes apart, down to deleting a thread", async () => {
      const one = saver();
      const two = saver();
      await one.put({ configurable: { thread_id: "same" } }, checkpoint({ who: "one" }), meta(0), { who: 1 });
      await two.put({ configurable: { thread_id: "same" } }, checkpoint({ who: "two" }), meta(0), { who: 1 });
      await one.deleteThread("same");
      expect(await one.getTuple({ configurable: { thread_id: "same" } })).toBeUndefined();
      expect(
        (await two.getTuple({ configurable: { thread_id: "same" } }))?.checkpoint.channel_values,
      ).toEqual({
        who: "two",
      });
      expect(() => new FlowstoreSaver({ store, scope: "" })).toThrow();
    });

    it("refuses a channel name PostgreSQL text cannot hold, in putWrites and put, and writes nothing", async () => {
      const s = saver();
      const config = await s.put({ configurable: { thread_id: "t" } }, checkpoint(), meta(0), {});
      for (const [i, channel] of ["chan\ud800", "chan\udbff", "\udc00", "nul\u0000"].entries()) {
        const refused = /"channel" must not contain (a lone surrogate|NUL)/;
        await expect(
          s.putWrites(
            config,
            [
              ["fine", 1],
              [channel, 2],
            ],
            "task",
          ),
        ).rejects.toThrow(refused);
        const other = { configurable: { thread_id: `other-${i}` } };
        await expect(s.put(other, checkpoint(), meta(0), { [channel]: 1 })).rejects.toThrow(refused);
        expect(await s.getTuple(other)).toBeUndefined();
      }
      expect((await s.getTuple(config))?.pendingWrites).toEqual([]);
    });

    it("refuses a thread id PostgreSQL text cannot hold, on put and getTuple, and writes nothing", async () => {
      const s = saver();
      for (const threadId of ["nul\u0000", "lone \ud800 surrogate", "\udc00"]) {
        const config = { configurable: { thread_id: threadId } };
        await expect(s.put(config, checkpoint({ a: 1 }), meta(0), { a: 1 })).rejects.toThrow(/NUL|surrogate/);
        await expect(s.getTuple(config)).rejects.toThrow(/NUL|surrogate/);
      }
      // A surrogate pair is a whole character, and is kept.
      const emoji = { configurable: { thread_id: "thread \ud83d\ude00" } };
      await s.put(emoji, checkpoint({ a: 1 }), meta(0), { a: 1 });
      expect((await s.getTuple(emoji))?.checkpoint.channel_values).toEqual({ a: 1 });
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".langgraph_checkpoints where thread_id <> 'thread \u{1F600}'
            and scope = $1`,
        [`saver-${scopes}`],
      );
      expect(rows[0]?.n).toBe(0);
    });
  });
});
