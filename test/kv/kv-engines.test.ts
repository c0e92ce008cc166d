/**
 * kv as engines use it (a checkpointer's or a store's namespaces): lists in both directions within a
 * range or under a key prefix, many keys in one statement, insert-if-absent, the prefixes in use,
 * keys of 1,024 bytes, and owners whose entries go with them.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, type KvListOptions, type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);
const byteOrder = (x: string, y: string) => Buffer.compare(Buffer.from(x), Buffer.from(y));

async function keysOf(store: Store, prefix: string, options: KvListOptions = {}): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.kv.list(prefix, { ...options, cursor });
    keys.push(...page.items.map((e) => e.key));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return keys;
}

async function allPrefixes(store: Store, startsWith?: string, limit?: number): Promise<string[]> {
  const prefixes: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.kv.listPrefixes({ startsWith, cursor, limit });
    prefixes.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return prefixes;
}

async function kvRows(store: Store): Promise<unknown[]> {
  return (await store.query(`select * from ${store.schema}.kv order by prefix, key`)).rows;
}

async function expire(store: Store, prefix: string, key: string): Promise<void> {
  await store.query(
    `update ${store.schema}.kv set expires_at = now() - interval '1 second' where prefix = $1 and key = $2`,
    [prefix, key],
  );
}

/** Keys that sit at the edges of a "starts with" range: wildcards, backslashes, and the last code points. */
const EDGE_KEYS = [
  "a",
  "a%",
  "a%b",
  "a_",
  "a_b",
  "aXb",
  "a\\",
  "a\\%",
  "ab",
  "a\u{10FFFF}",
  "a\u{10FFFF}z",
  "b",
  "`",
  "é",
  "éa",
  "ê",
  "日本",
  "日本語",
  "日x",
  "😀",
  "😀x",
  "😁",
  "\u{D7FF}",
  "\u{D7FF}x",
  "\u{E000}",
  "\u{FFFF}",
  "\u{10000}",
  "\u{10FFFF}",
  "\u{10FFFF}\u{10FFFF}a",
];

forEachDriver((driver) => {
  describe("kv for engines", () => {
    it("lists a prefix in both directions, after or before a key, a page at a time", async () => {
      const store = await driver.open();
      const keys = ["b", "a", "B", "aa", "é", "a b", "z", "_", "%", "0", "日本"];
      await store.kv.setMany(
        "p",
        keys.map((key) => ({ key, value: key })),
      );
      await store.kv.set("other", "m", "x");
      const asc = [...keys].sort(byteOrder);
      const desc = [...asc].reverse();
      expect(await keysOf(store, "p", { limit: 3 })).toEqual(asc);
      expect(await keysOf(store, "p", { order: "desc", limit: 3 })).toEqual(desc);
      expect(await keysOf(store, "p", { after: "a", limit: 2 })).toEqual(
        asc.filter((k) => byteOrder(k, "a") > 0),
      );
      expect(await keysOf(store, "p", { before: "a", order: "desc" })).toEqual(
        desc.filter((k) => byteOrder(k, "a") < 0),
      );
      expect(await keysOf(store, "p", { after: "B", before: "z", order: "desc", limit: 1 })).toEqual(
        desc.filter((k) => byteOrder(k, "B") > 0 && byteOrder(k, "z") < 0),
      );
      expect(await keysOf(store, "p", { after: "" })).toEqual(asc);
      expect(await keysOf(store, "p", { before: "" })).toEqual([]);
      expect(await keysOf(store, "p", { after: "\u{10FFFF}" })).toEqual([]);
      const latest = await store.kv.list("p", { order: "desc", limit: 1 });
      expect(latest.items.map((e) => e.key)).toEqual(["日本"]);
    });

    it("lists the keys that start with a text, whatever characters it holds", async () => {
      const store = await driver.open();
      await store.kv.setMany(
        "p",
        EDGE_KEYS.map((key) => ({ key, value: "v" })),
      );
      const starts = [...new Set(EDGE_KEYS.flatMap((k) => [k, [...k].slice(0, 1).join("")]))];
      starts.push("%", "_", "\\", "a\\%", "c", "日本語x");
      for (const start of starts) {
        const expected = EDGE_KEYS.filter((k) => k.startsWith(start)).sort(byteOrder);
        expect(await keysOf(store, "p", { startsWith: start, limit: 2 }), start).toEqual(expected);
        expect(await keysOf(store, "p", { startsWith: start, order: "desc" }), start).toEqual(
          [...expected].reverse(),
        );
      }
      expect(await keysOf(store, "p", { startsWith: "a", after: "a%", before: "ab" })).toEqual([
        "a%b",
        "aXb",
        "a\\",
        "a\\%",
        "a_",
        "a_b",
      ]);
      expect(await keysOf(store, "p", { startsWith: "" })).toHaveLength(EDGE_KEYS.length);
    });

    it("gets many keys in one call, in the order asked, live entries only", async () => {
      const store = await driver.open();
      await store.kv.setMany("p", [
        { key: "a", value: "A" },
        { key: "b", value: "B" },
        { key: "gone", value: "G", ttlMs: 60_000 },
      ]);
      await store.kv.set("q", "c", "C");
      await expire(store, "p", "gone");
      const got = await store.kv.getMany("p", ["b", "missing", "a", "gone", "c", "b"]);
      expect(got.map((e) => text(e?.value))).toEqual(["B", undefined, "A", undefined, undefined, "B"]);
      expect(got[0]).toMatchObject({ prefix: "p", key: "b", version: 1, owner: null });
      expect(await store.kv.getMany("p", [])).toEqual([]);
    });

    it("sets many entries in one call: versions in order, each with its TTL and owner", async () => {
      const store = await driver.open();
      await store.kv.set("p", "old", "1");
      await store.kv.set("p", "expired", "1", { ttlMs: 60_000 });
      await store.kv.set("p", "expired", "2", { ttlMs: 60_000 });
      await expire(store, "p", "expired");
      const versions = await store.kv.setMany("p", [
        { key: "new", value: new Uint8Array([0, 255]) },
        { key: "old", value: "2", ttlMs: 3_600_000 },
        { key: "expired", value: "3", owner: "thread-1" },
      ]);
      expect(versions).toEqual([{ version: 1 }, { version: 2 }, { version: 1 }]);
      const [fresh, old, revived] = await store.kv.getMany("p", ["new", "old", "expired"]);
      expect([...(fresh?.value ?? [])]).toEqual([0, 255]);
      expect(old).toMatchObject({ version: 2, owner: null });
      expect(old?.expiresAt).toBeInstanceOf(Date);
      expect(revived).toMatchObject({ version: 1, owner: "thread-1", expiresAt: null });
      expect(text(revived?.value)).toBe("3");
      expect(await store.kv.setMany("p", [])).toEqual([]);
    });

    it("setMany refuses a bad batch whole: nothing of it is written", async () => {
      const store = await driver.open();
      await store.kv.set("p", "kept", "v");
      const before = await kvRows(store);
      const batches: unknown[] = [
        [
          { key: "a", value: "1" },
          { key: "a", value: "2" },
        ],
        [
          { key: "a", value: "1" },
          { key: "", value: "2" },
        ],
        [
          { key: "a", value: "1" },
          { key: "b", value: 42 },
        ],
        [{ key: "a", value: "1", ttlMs: -1 }],
        [{ key: "a", value: "1", owner: "" }],
        [{ key: "kept", value: "1", expectedVersion: 1 }],
        [null],
        "not an array",
      ];
      for (const batch of batches) {
        await expect(store.kv.setMany("p", batch as never)).rejects.toBeInstanceOf(ValidationError);
      }
      await expect(store.kv.setMany("", [{ key: "a", value: "1" }])).rejects.toBeInstanceOf(ValidationError);
      expect(await kvRows(store)).toEqual(before);
    });

    it("setIfAbsent writes only when no live entry exists, and says which", async () => {
      const store = await driver.open();
      expect(await store.kv.setIfAbsent("p", "k", "first", { owner: "o" })).toEqual({
        created: true,
        version: 1,
      });
      await store.kv.set("p", "k", "second", { owner: "o" });
      expect(await store.kv.setIfAbsent("p", "k", "third")).toEqual({ created: false, version: 2 });
      expect(await store.kv.get("p", "k")).toMatchObject({ version: 2, owner: "o" });
      expect(text((await store.kv.get("p", "k"))?.value)).toBe("second");
      await expire(store, "p", "k");
      expect(await store.kv.setIfAbsent("p", "k", "fourth", { ttlMs: 60_000 })).toEqual({
        created: true,
        version: 1,
      });
      expect(await store.kv.get("p", "k")).toMatchObject({ version: 1, owner: null });
    });

    it("of racing setIfAbsent calls exactly one writes", async () => {
      const store = await driver.open();
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.kv.setIfAbsent("p", "once", String(i))),
      );
      expect(outcomes.filter((o) => o.created)).toHaveLength(1);
      expect(outcomes.every((o) => o.version === 1)).toBe(true);
      const winner = outcomes.findIndex((o) => o.created);
      expect(text((await store.kv.get("p", "once"))?.value)).toBe(String(winner));
    });

    it("keys and prefixes of 1,024 bytes of 2-, 3- and 4-byte characters work everywhere", async () => {
      const store = await driver.open();
      const longs = ["é".repeat(512), `a${"日".repeat(341)}`, "😀".repeat(256)];
      for (const long of longs) {
        expect(Buffer.byteLength(long)).toBe(1024);
        expect(await store.kv.set(long, long, "v", { owner: long })).toEqual({ version: 1 });
        expect(await store.kv.setIfAbsent(long, long, "w")).toEqual({ created: false, version: 1 });
        const sibling = `${long.slice(0, -2)}x`;
        await store.kv.setMany(long, [{ key: sibling, value: "s" }]);
        expect((await store.kv.getMany(long, [long, sibling])).map((e) => text(e?.value))).toEqual([
          "v",
          "s",
        ]);
        const start = long.slice(0, 10);
        expect(await keysOf(store, long, { startsWith: start, order: "desc" })).toEqual(
          [long, sibling]
            .filter((k) => k.startsWith(start))
            .sort(byteOrder)
            .reverse(),
        );
        expect(await keysOf(store, long, { after: sibling })).toEqual(
          byteOrder(long, sibling) > 0 ? [long] : [],
        );
      }
      expect(await allPrefixes(store)).toEqual([...longs].sort(byteOrder));
      expect(await store.kv.deleteByOwner(longs[2] as string)).toBe(1);
      const before = await kvRows(store);
      for (const tooLong of [`${"é".repeat(512)}a`, `${"😀".repeat(256)}a`, "日".repeat(342)]) {
        await expect(store.kv.set("p", tooLong, "v")).rejects.toBeInstanceOf(ValidationError);
        await expect(store.kv.set(tooLong, "k", "v")).rejects.toBeInstanceOf(ValidationError);
        await expect(store.kv.setMany("p", [{ key: tooLong, value: "v" }])).rejects.toBeInstanceOf(
          ValidationError,
        );
        await expect(store.kv.setIfAbsent("p", "k", "v", { owner: tooLong })).rejects.toBeInstanceOf(
          ValidationError,
        );
        await expect(store.kv.getMany("p", ["k", tooLong])).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await kvRows(store)).toEqual(before);
    });

    it("lists the prefixes in use, once each, a page at a time, under a prefix of its own", async () => {
      const store = await driver.open();
      const prefixes = ["threads/1", "threads/2", "threads/10", "thread", "users/a", "a%", "a_", "a\\", "é"];
      for (const prefix of prefixes) {
        await store.kv.setMany(prefix, [
          { key: "k1", value: "v" },
          { key: "k2", value: "v" },
          { key: "k3", value: "v" },
        ]);
      }
      await store.kv.set("expired/only", "k", "v", { ttlMs: 60_000 });
      await expire(store, "expired/only", "k");
      expect(await allPrefixes(store, undefined, 2)).toEqual([...prefixes].sort(byteOrder));
      expect(await allPrefixes(store, "threads/")).toEqual(["threads/1", "threads/10", "threads/2"]);
      expect(await allPrefixes(store, "thread", 1)).toEqual([
        "thread",
        "threads/1",
        "threads/10",
        "threads/2",
      ]);
      expect(await allPrefixes(store, "a%")).toEqual(["a%"]);
      expect(await allPrefixes(store, "a_")).toEqual(["a_"]);
      expect(await allPrefixes(store, "x")).toEqual([]);
      const page = await store.kv.listPrefixes({ limit: 3 });
      expect(page.items).toHaveLength(3);
      const next = await store.kv.listPrefixes({ limit: 3, cursor: page.nextCursor });
      expect(next.items[0]).toBe([...prefixes].sort(byteOrder)[3]);
    });

    it("deleteByOwner deletes every entry of one owner, and a UUID owner matches in any case", async () => {
      const store = await driver.open();
      const id = "0190a0b0-0000-7000-8000-00000000abcd";
      await store.kv.setMany("a", [
        { key: "1", value: "v", owner: id.toUpperCase() },
        { key: "2", value: "v", owner: "thread-9" },
        { key: "3", value: "v" },
      ]);
      await store.kv.set("b", "1", "v", { owner: id });
      await store.kv.set("b", "2", "v", { owner: "thread-9" });
      expect((await store.kv.get("a", "1"))?.owner).toBe(id);
      // A write without an owner replaces the owner too.
      await store.kv.set("b", "2", "w");
      expect((await store.kv.get("b", "2"))?.owner).toBeNull();
      expect(await store.kv.deleteByOwner(id.toUpperCase())).toBe(2);
      expect(await store.kv.deleteByOwner("thread-9")).toBe(1);
      expect(await store.kv.deleteByOwner("nobody")).toBe(0);
      expect((await keysOf(store, "a")).concat(await keysOf(store, "b"))).toEqual(["3", "2"]);
      const before = await kvRows(store);
      for (const owner of ["", null, 42, "a\u0000"]) {
        await expect(store.kv.deleteByOwner(owner as string)).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await kvRows(store)).toEqual(before);
    });

    it("entries owned by an execution go when it is pruned; others stay", async () => {
      const store = await driver.open();
      const old = (await store.executions.start({ name: "w", status: "running" })).execution;
      const running = (await store.executions.start({ name: "w", status: "running" })).execution;
      await store.executions.complete(old.id);
      await store.query(
        `update ${store.schema}.executions set completed_at = now() - interval '40 days' where id = $1`,
        [old.id],
      );
      for (const [prefix, owner] of [
        ["ckpt/old", old.id],
        ["ckpt/old-2", old.id],
        ["ckpt/running", running.id],
        ["ckpt/other", "not-an-execution"],
        ["ckpt/none", null],
      ] as const) {
        await store.kv.setMany(prefix, [
          { key: "a", value: "v", owner },
          { key: "b", value: "v", owner },
        ]);
      }
      const result = await store.prune({ finishedBefore: new Date(Date.now() - 86_400_000), batchSize: 1 });
      expect(result).toMatchObject({ executions: 1, kv: 4 });
      expect(await allPrefixes(store, "ckpt/")).toEqual(["ckpt/none", "ckpt/other", "ckpt/running"]);
    });

    it("refuses bad list, read and write arguments with a ValidationError and writes nothing", async () => {
      const store = await driver.open();
      await store.kv.set("p", "k", "v");
      const before = await kvRows(store);
      const calls: (() => Promise<unknown>)[] = [
        () => store.kv.list("p", { order: "sideways" as "asc" }),
        () => store.kv.list("p", { after: 1 as unknown as string }),
        () => store.kv.list("p", { before: "a\u0000" }),
        () => store.kv.list("p", { startsWith: "x".repeat(1025) }),
        () => store.kv.list("p", { startsWith: "\ud800" }),
        () => store.kv.list("p", { cursor: "not a cursor!" }),
        () => store.kv.listPrefixes({ limit: 0 }),
        () => store.kv.listPrefixes({ startsWith: 5 as unknown as string }),
        () => store.kv.listPrefixes({ cursor: "%%" }),
        () => store.kv.getMany("p", "k" as unknown as string[]),
        () => store.kv.getMany("p", ["k", ""]),
        () => store.kv.getMany("", ["k"]),
        () => store.kv.setIfAbsent("p", "", "v"),
        () => store.kv.setIfAbsent("p", "k2", 1 as unknown as string),
        () => store.kv.setIfAbsent("p", "k2", "v", { ttlMs: 0 }),
        () => store.kv.set("p", "k", "v", { owner: "\ud800" }),
      ];
      for (const call of calls) await expect(call()).rejects.toBeInstanceOf(ValidationError);
      await expect(store.kv.set("p", "k", "v", { expectedVersion: 0 })).rejects.toBeInstanceOf(ConflictError);
      expect(await kvRows(store)).toEqual(before);
    });
  });
});
