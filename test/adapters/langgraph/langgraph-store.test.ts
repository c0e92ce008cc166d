/**
 * FlowstoreStore (LangGraph's BaseStore) judged against LangGraph's own InMemoryStore: the same
 * batches of gets, puts, deletes, searches (namespace prefixes, every filter operator, limit and
 * offset) and namespace listings (prefix and suffix conditions, `*`, maxDepth, limit and offset) give
 * the same results. Two differences are normalized, both documented: results come in byte order of
 * namespace and key (InMemoryStore keeps insertion order and sorts namespaces by locale), and a
 * namespace whose last item was deleted is no longer listed (InMemoryStore keeps listing it).
 */
import {
  InMemoryStore,
  InvalidNamespaceError,
  type Item,
  type Operation,
} from "@langchain/langgraph-checkpoint";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreStore } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { SEED } from "../../support/fuzz-inputs.js";
import { forEachDriver } from "../../support/harness.js";

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const nsText = (namespace: string[]) => namespace.join(".");
const itemOrder = (a: Item, b: Item) =>
  byteOrder(nsText(a.namespace), nsText(b.namespace)) || byteOrder(a.key, b.key);

/** An item without its timestamps, which two stores never share. */
const plain = (item: Item | null) =>
  item && {
    namespace: item.namespace,
    key: item.key,
    value: item.value,
    score: (item as { score?: number }).score,
  };

const ALL = 1_000_000;

/**
 * Runs one batch on InMemoryStore, with results put in FlowstoreStore's order and window. Its reads
 * run before its puts, as InMemoryStore's batch does, but as a batch of their own whose results are
 * copied: InMemoryStore returns its items themselves, which a later put of the batch would change.
 */
async function reference(memory: InMemoryStore, ops: Operation[]): Promise<unknown[]> {
  const isPut = (op: Operation) => "value" in op;
  const widened = ops.map((op) =>
    "namespacePrefix" in op || "matchConditions" in op ? { ...op, limit: ALL, offset: 0 } : op,
  );
  const read: unknown[] = structuredClone(await memory.batch(widened.filter((op) => !isPut(op))));
  await memory.batch(widened.filter(isPut));
  // InMemoryStore keeps a namespace after its last item is deleted; the listing should not.
  const data = (memory as unknown as { data: Map<string, Map<string, unknown>> }).data;
  for (const [namespace, items] of data) if (items.size === 0) data.delete(namespace);
  let next = 0;
  return ops.map((op) => {
    if (isPut(op)) return null;
    const result = read[next++];
    if ("namespacePrefix" in op) {
      const offset = op.offset ?? 0;
      return [...(result as Item[])]
        .sort(itemOrder)
        .slice(offset, offset + (op.limit ?? 10))
        .map(plain);
    }
    if ("matchConditions" in op) {
      const offset = op.offset ?? 0;
      const sorted = [...(result as string[][])].sort((a, b) => byteOrder(nsText(a), nsText(b)));
      return sorted.slice(offset, op.limit === undefined ? undefined : offset + op.limit);
    }
    return plain(result as Item | null);
  });
}

async function ours(store: FlowstoreStore, ops: Operation[]): Promise<unknown[]> {
  const results = await store.batch(ops);
  return results.map((result, i) => {
    const op = ops[i] as Operation;
    if ("namespacePrefix" in op) return (result as Item[]).map(plain);
    return "key" in op && !("value" in op) ? plain(result as Item | null) : result;
  });
}

// ---- generated operations ---------------------------------------------------------------------------

// A small world, so that gets find items and filters pass some of them.
const label = fc.constantFrom("a", "b", "users", "x-1", "é", "langgraph");
const namespace = fc.constantFrom<string[]>(
  ["a"],
  ["a", "b"],
  ["a", "b", "c"],
  ["b"],
  ["users", "é"],
  ["langgraph", "x-1"],
);
const prefix = fc.constantFrom<string[]>([], ["a"], ["a", "b"], ["b"], ["users"], ["langgraph"], ["none"]);
const key = fc.constantFrom("k1", "k2", "ü");
const scalar = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -2, max: 2 }) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>("", " 2 ", "abc", true, null) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(1.5, -2.25, 1e21, "3.5", "Infinity", "2e1", false) },
);
const field = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], [2], ["3"], [1, 2], [true], {}, { n: 1 }) },
);
const value = fc.record({ n: field, s: field, t: field, list: field }, { requiredKeys: ["n", "s"] });
const operand = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, Number.NaN, [1], {}) },
);
const condition = fc.oneof(
  operand,
  fc.record({ $eq: operand }),
  fc.record({ $ne: operand }),
  fc.record({ $gt: operand }),
  fc.record({ $lte: operand }),
  fc.record({ $gte: operand, $lt: operand }),
  fc.record({ $in: fc.oneof(fc.array(operand, { maxLength: 3 }), operand) }),
  fc.record({ $nin: fc.oneof(fc.array(operand, { maxLength: 3 }), operand) }),
  fc.constantFrom<unknown>({}, [], { $eq: 1, other: 2 }),
);
const filterKey = fc.constantFrom("n", "s", "t", "list", "missing");
const filter = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: fc.dictionary(filterKey, condition, { minKeys: 1, maxKeys: 1 }) },
  { weight: 1, arbitrary: fc.dictionary(filterKey, condition, { minKeys: 2, maxKeys: 2 }) },
);
const limit = fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 5 }));
const offset = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.nat(3) },
);
const pathLabel = fc.oneof({ weight: 1, arbitrary: fc.constant("*") }, { weight: 3, arbitrary: label });

const operation = fc.oneof(
  { weight: 5, arbitrary: fc.record({ namespace, key, value }) },
  { weight: 1, arbitrary: fc.record({ namespace, key, value: fc.constant(null) }) },
  { weight: 2, arbitrary: fc.record({ namespace, key }) },
  {
    weight: 3,
    arbitrary: fc.record({
      namespacePrefix: prefix,
      filter,
      limit,
      offset,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      matchConditions: fc.option(
        fc.array(
          fc.record({
            matchType: fc.constantFrom("prefix" as const, "suffix" as const),
            path: fc.array(pathLabel, { maxLength: 3 }),
          }),
          { maxLength: 2 },
        ),
        { nil: undefined },
      ),
      maxDepth: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      limit,
      offset,
    }),
  },
) as fc.Arbitrary<Operation>;

forEachDriver((driver) => {
  describe("FlowstoreStore, judged against InMemoryStore", () => {
    let store: Store;
    let scopes = 0;
    const fresh = () => new FlowstoreStore({ store, scope: `conformance-${++scopes}` });

    beforeAll(async () => {
      store = await driver.open();
    });

    it("gets what was put, keeps createdAt across an update, and deletes with a null value", async () => {
      const items = fresh();
      expect(await items.get(["users", "u1"], "prefs")).toBeNull();
      await items.put(["users", "u1"], "prefs", { theme: "dark", size: 3 });
      const created = await items.get(["users", "u1"], "prefs");
      expect(created).toMatchObject({
        namespace: ["users", "u1"],
        key: "prefs",
        value: { theme: "dark", size: 3 },
      });
      expect(created?.createdAt).toBeInstanceOf(Date);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await items.put(["users", "u1"], "prefs", { theme: "light" });
      const updated = await items.get(["users", "u1"], "prefs");
      expect(updated?.value).toEqual({ theme: "light" });
      expect(updated?.createdAt).toEqual(created?.createdAt);
      expect(updated?.updatedAt.getTime()).toBeGreaterThan(created?.updatedAt.getTime() as number);
      await items.delete(["users", "u1"], "prefs");
      expect(await items.get(["users", "u1"], "prefs")).toBeNull();
      expect(await items.listNamespaces()).toEqual([]);
    });

    it("applies a batch's puts after its reads, the last put of a key winning", async () => {
      const items = fresh();
      const memory = new InMemoryStore();
      const ops: Operation[] = [
        { namespace: ["a"], key: "k", value: { v: 1 } },
        { namespace: ["a"], key: "k" },
        { namespace: ["a"], key: "k", value: { v: 2 } },
        { namespacePrefix: ["a"], limit: 10, offset: 0 },
      ];
      expect(await ours(items, ops)).toEqual(await reference(memory, ops));
      expect((await items.get(["a"], "k"))?.value).toEqual({ v: 2 });
    });

    it("refuses the namespaces InMemoryStore refuses, and writes nothing", async () => {
      const items = fresh();
      const memory = new InMemoryStore();
      for (const bad of [[], ["a.b"], ["a:b"], [""], ["nul\u0000"], [1 as unknown as string]]) {
        await expect(memory.batch([{ namespace: bad, key: "k", value: { v: 1 } }])).rejects.toThrow();
        await expect(items.batch([{ namespace: bad, key: "k", value: { v: 1 } }])).rejects.toThrow();
        await expect(items.batch([{ namespace: bad, key: "k" }])).rejects.toThrow();
      }
      // put() refuses the reserved root "langgraph"; a batch, as InMemoryStore's, takes it.
      await expect(items.put(["langgraph", "x"], "k", { v: 1 })).rejects.toThrow();
      await items.batch([{ namespace: ["langgraph", "x"], key: "k", value: { v: 1 } }]);
      expect(await items.listNamespaces()).toEqual([["langgraph", "x"]]);
    });

    it("refuses a namespace label with a lone surrogate, which text would store as U+FFFD", async () => {
      const items = fresh();
      for (const label of ["a\ud800", "a\udbff", "\udc00b"]) {
        const bad = ["user", label];
        await expect(
          items.batch([
            { namespace: ["fine"], key: "k", value: { v: 1 } },
            { namespace: bad, key: "k", value: { v: 2 } },
          ]),
        ).rejects.toThrow(InvalidNamespaceError);
        await expect(items.get(bad, "k")).rejects.toThrow(InvalidNamespaceError);
        await expect(items.search(bad)).rejects.toThrow(InvalidNamespaceError);
        await expect(items.listNamespaces({ prefix: bad })).rejects.toThrow(InvalidNamespaceError);
        await expect(items.listNamespaces({ suffix: [label] })).rejects.toThrow(InvalidNamespaceError);
      }
      expect(await items.listNamespaces()).toEqual([]);
      // A surrogate pair is a whole character, and is kept.
      await items.put(["user", "a\ud83d\ude00"], "k", { v: 1 });
      expect(await items.listNamespaces()).toEqual([["user", "a\u{1F600}"]]);
      expect((await items.get(["user", "a\u{1F600}"], "k"))?.value).toEqual({ v: 1 });
    });

    it("refuses values PostgreSQL's JSON cannot hold instead of changing them", async () => {
      const items = fresh();
      await expect(items.put(["a"], "k", { text: "nul\u0000" })).rejects.toThrow(/NUL/);
      await expect(items.put(["a"], "k", { text: "half \ud800" })).rejects.toThrow(/lone surrogate/);
      await expect(items.put(["a"], "k", { "key \udfff": 1 })).rejects.toThrow(/lone surrogate/);
      expect(await items.get(["a"], "k")).toBeNull();
      // Text that only looks like those escapes once written as JSON is kept as it is.
      const lookalikes = { text: "\\u0000 and \\ud800", pair: "\ud83d\ude00" };
      await items.put(["a"], "k", lookalikes);
      expect((await items.get(["a"], "k"))?.value).toEqual(lookalikes);
    });

    it("lists namespaces by prefix, suffix and wildcard, cut to maxDepth, a page at a time", async () => {
      const items = fresh();
      const memory = new InMemoryStore();
      const namespaces = [["a", "b", "c"], ["a", "b", "d"], ["a", "x", "c"], ["b", "c"], ["a"]];
      const puts = namespaces.map((ns) => ({ namespace: ns, key: "k", value: { v: ns.length } }));
      await ours(items, puts);
      await reference(memory, puts);
      const lists: Operation[] = [
        { matchConditions: [{ matchType: "prefix", path: ["a"] }], limit: 100, offset: 0 },
        { matchConditions: [{ matchType: "suffix", path: ["c"] }], limit: 100, offset: 0 },
        { matchConditions: [{ matchType: "prefix", path: ["a", "*", "c"] }], limit: 100, offset: 0 },
        {
          matchConditions: [
            { matchType: "prefix", path: ["a"] },
            { matchType: "suffix", path: ["d"] },
          ],
          limit: 9,
          offset: 0,
        },
        { matchConditions: undefined, maxDepth: 2, limit: 100, offset: 0 },
        { matchConditions: undefined, maxDepth: 1, limit: 1, offset: 1 },
      ];
      expect(await ours(items, lists)).toEqual(await reference(memory, lists));
      expect(await items.listNamespaces({ prefix: ["a"], maxDepth: 2 })).toEqual([
        ["a"],
        ["a", "b"],
        ["a", "x"],
      ]);
    });

    it("gives InMemoryStore's results for generated batches", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ namespace, key, value }), { minLength: 4, maxLength: 16 }),
          fc.array(fc.array(operation, { minLength: 1, maxLength: 4 }), { maxLength: 8 }),
          async (seed, batches) => {
            const items = fresh();
            const memory = new InMemoryStore();
            for (const ops of [seed, ...batches]) {
              expect(await ours(items, ops)).toEqual(await reference(memory, ops));
            }
          },
        ),
        { seed: SEED, numRuns: driver.name === "pglite" ? 60 : 100 },
      );
    });
  });
});
