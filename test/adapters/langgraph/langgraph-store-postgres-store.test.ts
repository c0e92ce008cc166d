/**
 * FlowstoreStore beside LangGraph's PostgresStore on one server with pgvector (Debian's PostgreSQL
 * 15, pgvector built by ../shared/pgvector/build.sh): the cases of PostgresStore's own search tests
 * (vector, text, hybrid and filtered searches, JSON paths, a put's own fields, index false), each run
 * on both with the same data, the same embedder and the same calls, want the same items in the same
 * order with the same scores. Without a query PostgresStore lists the newest first and FlowstoreStore
 * by namespace and key (documented): those are compared as sets.
 */
import { PostgresStore } from "@langchain/langgraph-checkpoint-postgres/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowstoreStore } from "../../../src/adapters/langgraph/index.js";
import { openStore, type Store } from "../../../src/index.js";
import { type SystemPostgres, startSystemPostgres } from "../../../src/testing/system-postgres.js";
import { systemPostgresFor } from "../../support/system-postgres.js";
import { until } from "../../support/waiting.js";

const DIMS = 128;

/** PostgresStore's tests' embedder: a text's vector from its characters and its place in the call. */
function mockEmbedding() {
  return async (texts: string[]): Promise<number[][]> =>
    texts.map((text, index) =>
      Array.from({ length: DIMS }, (_, i) => Math.sin((text.charCodeAt(i % text.length) + index) * 0.1)),
    );
}

interface Found {
  key: string;
  namespace: string[];
  score?: number;
}

type Search = { query?: string; filter?: Record<string, unknown>; limit?: number; offset?: number } & Record<
  string,
  unknown
>;

const available = systemPostgresFor("FlowstoreStore beside PostgresStore");

describe.runIf(available)(
  "FlowstoreStore beside LangGraph's PostgresStore, on a server with pgvector",
  () => {
    let server: SystemPostgres;
    let url: string;
    let vector = false;
    const opened: { close(): Promise<unknown> }[] = [];
    let n = 0;

    beforeAll(async () => {
      server = await startSystemPostgres();
      url = await server.createDatabase();
      vector = (await server.query("select 1 from pg_available_extensions where name = 'vector'")).length > 0;
      if (!vector && process.env.CI) throw new Error("CI needs pgvector for Debian's PostgreSQL 15");
      if (!vector)
        console.warn("skipping: no pgvector for Debian's PostgreSQL (bash ../shared/pgvector/build.sh)");
    }, 60_000);
    afterAll(async () => {
      for (const store of opened) await store.close();
      // A pg Pool's end() resolves before its clients' sockets have closed, and PostgresStore's pool has
      // no error listener: a server stopped before they close would end their sessions under them
      // (57P01), an uncaught error. So the stop waits until no session of theirs or ours is left.
      const sessions =
        "select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()";
      if (server) await until(async () => (await server.query(sessions))[0]?.n === 0);
      await server?.stop();
    });

    /** Both stores, each in a schema of its own, with the same index (or none). */
    async function pair(
      withIndex: boolean,
    ): Promise<{ theirs: PostgresStore; ours: FlowstoreStore; store: Store }> {
      n++;
      const index = withIndex
        ? { dims: DIMS, embed: mockEmbedding(), fields: ["content", "title"] }
        : undefined;
      const theirs = new PostgresStore({ connectionOptions: url, schema: `theirs_${n}`, index });
      await theirs.setup();
      opened.push({ close: () => theirs.stop() });
      const store = await openStore({ connection: url, schema: `ours_${n}` });
      opened.push(store);
      const ours = new FlowstoreStore({
        store,
        index: withIndex ? { dims: DIMS, embed: mockEmbedding(), fields: ["content", "title"] } : undefined,
      });
      return { theirs, ours, store };
    }

    async function putBoth(
      stores: { theirs: PostgresStore; ours: FlowstoreStore },
      items: [string[], string, Record<string, unknown>, (false | string[])?][],
    ): Promise<void> {
      for (const [namespace, key, value, index] of items) {
        await stores.theirs.put(namespace, key, value, index);
        await stores.ours.put(namespace, key, value, index);
      }
    }

    const plain = (items: Found[]) => items.map(({ key, namespace, score }) => ({ key, namespace, score }));

    async function same(
      stores: { theirs: PostgresStore; ours: FlowstoreStore },
      prefix: string[],
      search: Search,
      ordered = true,
    ): Promise<Found[]> {
      const want = plain(await stores.theirs.search(prefix, search as never));
      const got = plain(await stores.ours.search(prefix, search as never));
      if (!ordered) {
        const keys = (items: Found[]) => items.map((item) => item.key).sort();
        expect(keys(got)).toEqual(keys(want));
        return got;
      }
      expect(got.map((item) => item.key)).toEqual(want.map((item) => item.key));
      got.forEach((item, i) => {
        // PostgresStore leaves out a text rank of 0 (`score || undefined`).
        const score = want[i]?.score;
        if (score === undefined) expect(item.score ?? 0).toBe(0);
        else expect(item.score).toBeCloseTo(score, 6);
      });
      return got;
    }

    it("vector searches: the same items, order and scores, by query, threshold and JSON path", async (ctx) => {
      if (!vector) return ctx.skip();
      const stores = await pair(true);
      await putBoth(stores, [
        [
          ["docs"],
          "doc1",
          { title: "Machine Learning Basics", content: "Introduction to neural networks and deep learning" },
        ],
        [
          ["docs"],
          "doc2",
          { title: "Data Science Guide", content: "Statistical analysis and data visualization techniques" },
        ],
        [
          ["docs"],
          "doc3",
          { title: "Neural Networks", content: "Deep learning architectures and applications" },
        ],
        [["test"], "item1", { text: "very different content" }],
        [["test"], "item2", { title: "similar query content", content: "query content" }],
        [
          ["test"],
          "doc1",
          { title: "Test Document", content: { sections: [{ text: "Section 1" }] }, tags: ["ai"] },
        ],
      ]);
      for (const query of ["artificial intelligence", "data science techniques", "deep learning"]) {
        expect((await same(stores, ["docs"], { query, limit: 5 })).length).toBe(3);
        await same(stores, ["docs"], { query, mode: "vector", similarityThreshold: 0.1 });
        await same(stores, ["docs"], { query, mode: "vector", limit: 2, offset: 1 });
      }
      await same(stores, ["test"], { query: "query content", similarityThreshold: 0.9 });
      await same(stores, ["test"], { query: "query content", similarityThreshold: 0.1 });
      const found = await same(stores, ["test"], { query: "Test Document" });
      expect(found[0]?.key).toBe("doc1");
    });

    it("a put's own fields, and index false, as PostgresStore takes them", async (ctx) => {
      if (!vector) return ctx.skip();
      const stores = await pair(true);
      const doc = {
        title: "Selective Indexing Test",
        content: "Main content here",
        summary: "Summary text here",
      };
      await putBoth(stores, [
        [["selective"], "doc1", doc, ["title", "summary"]],
        [["selective"], "doc2", { title: "Other", content: "Summary of other things" }],
        [["no-index"], "doc1", { title: "Not Indexed Document", content: "not indexed" }, false],
      ]);
      expect((await same(stores, ["selective"], { query: "summary text" })).length).toBe(2);
      expect(await same(stores, ["no-index"], { query: "not indexed content" })).toEqual([]);
    });

    it("text searches and filters without an index", async (ctx) => {
      if (!vector) return ctx.skip();
      const stores = await pair(false);
      await putBoth(stores, [
        [
          ["docs"],
          "doc1",
          {
            title: "JavaScript Guide",
            content: "Complete guide to JavaScript programming",
            category: "programming",
            difficulty: "beginner",
          },
        ],
        [
          ["docs"],
          "doc2",
          {
            title: "TypeScript Handbook",
            content: "Advanced TypeScript programming techniques",
            category: "programming",
            difficulty: "intermediate",
          },
        ],
        [
          ["docs"],
          "doc3",
          {
            title: "Python Basics",
            content: "Introduction to Python programming language",
            category: "programming",
            difficulty: "beginner",
          },
        ],
        [
          ["recipes"],
          "recipe1",
          {
            title: "Chocolate Cake",
            content: "Delicious chocolate cake recipe",
            category: "dessert",
            difficulty: "easy",
          },
        ],
      ]);
      await same(stores, ["docs"], { query: "JavaScript", mode: "text" });
      await same(stores, ["docs"], { query: "programming", mode: "auto" });
      await same(stores, ["docs"], { query: "guide", filter: { difficulty: "beginner" }, mode: "text" });
      const unordered = { ordered: false };
      await same(stores, ["docs"], {}, unordered.ordered);
      expect((await same(stores, ["docs"], { filter: { category: "programming" } }, false)).length).toBe(3);
      expect(
        (await same(stores, ["docs"], { filter: { difficulty: { $eq: "beginner" } } }, false)).length,
      ).toBe(2);
      const $in = { difficulty: { $in: ["beginner", "intermediate"] } };
      expect((await same(stores, ["docs"], { filter: $in }, false)).length).toBe(3);
      expect(await same(stores, ["nonexistent"], {}, false)).toEqual([]);
    });

    it("hybrid searches: the same items, order and scores", async (ctx) => {
      if (!vector) return ctx.skip();
      const stores = await pair(true);
      await putBoth(stores, [
        [
          ["docs"],
          "doc1",
          {
            title: "Machine Learning Guide",
            content: "Comprehensive guide to machine learning algorithms and techniques",
          },
        ],
        [
          ["docs"],
          "doc2",
          { title: "Data Science Handbook", content: "Statistical methods and data analysis for scientists" },
        ],
        [
          ["docs"],
          "doc3",
          {
            title: "AI Research Paper",
            content: "Latest research in artificial intelligence and neural networks",
          },
        ],
      ]);
      for (const vectorWeight of [0.9, 0.5, 0.1]) {
        const found = await same(stores, ["docs"], {
          query: "machine learning algorithms",
          mode: "hybrid",
          vectorWeight,
        });
        expect(found.length).toBeGreaterThan(0);
      }
      await same(stores, ["docs"], {
        query: "neural networks research",
        mode: "hybrid",
        vectorWeight: 0.65,
        similarityThreshold: 0.25,
        limit: 5,
      });
    });

    it("a store without an index neither needs nor creates pgvector", async () => {
      const name = `bare_${n}`;
      const store = await openStore({ connection: await server.createDatabase(name) });
      opened.push(store);
      const memory = new FlowstoreStore({ store });
      await memory.put(["a"], "k", { text: "hello world" });
      expect((await memory.search(["a"], { query: "hello" })).map((item) => item.key)).toEqual(["k"]);
      expect(await server.query("select extname from pg_extension where extname = 'vector'", name)).toEqual(
        [],
      );
    });
  },
);
