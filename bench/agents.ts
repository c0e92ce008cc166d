/**
 * npm run bench -- agents
 * FlowstoreSession (flowstore/openai-agents) against the same statements sent with raw `pg` (named
 * prepared statements on both sides), on the same server in the same run, durable commits on both:
 * items appended (two a call, as a turn appends a user message and a reply) and the newest 20 read, at
 * one caller and at eight, each caller on a session of its own; then getItems(20) on a session of
 * 100,000 items against one of 100.
 */
import pg from "pg";
import { FlowstoreSession } from "../src/adapters/openai-agents/index.js";
import { appendSql, newestItemsSql } from "../src/adapters/openai-agents/session.js";
import { openStore } from "../src/index.js";
import { type BenchContext, log, median, type Row, sideBySide, table } from "./lib.js";

const item = (text: string) => ({ role: "user", content: [{ type: "input_text", text }] });

export async function run(context: BenchContext): Promise<void> {
  const url = await context.freshDatabase();
  const store = await openStore({ connection: url, pool: { max: 8 } });
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  const q = `"${store.schema}"`;
  const sql = { append: appendSql(q), newest: newestItemsSql(q) };
  const calls = Math.round(3000 * context.scale);
  const rows: Row[] = [];
  try {
    for (const callers of [1, 8]) {
      const ours = Array.from(
        { length: callers },
        (_, c) => new FlowstoreSession({ store, sessionId: `ours-${callers}-${c}` }),
      );
      const raw = Array.from({ length: callers }, (_, c) => `raw-${callers}-${c}`);
      const turn = (i: number) => [item(`question ${i}`), item(`answer ${i}`)];
      rows.push(
        await sideBySide(
          `addItems (2 items), ${callers} caller${callers > 1 ? "s" : ""}`,
          calls,
          (i) => {
            const texts = turn(i).map((each) => JSON.stringify(each));
            return pool.query({
              name: "append",
              text: sql.append,
              values: [raw[i % callers], texts.length, texts],
            });
          },
          (i) => (ours[i % callers] as FlowstoreSession).addItems(turn(i) as never),
          { concurrency: callers, rounds: 3 },
        ),
      );
      rows.push(
        await sideBySide(
          `getItems(20), ${callers} caller${callers > 1 ? "s" : ""}`,
          calls,
          async (i) => {
            const { rows: read } = await pool.query<{ item: string }>({
              name: "newest",
              text: sql.newest,
              values: [raw[i % callers], 20],
            });
            return read.map((row) => JSON.parse(row.item));
          },
          (i) => (ours[i % callers] as FlowstoreSession).getItems(20),
          { concurrency: callers, rounds: 3 },
        ),
      );
    }
    table("FlowstoreSession against raw pg (same statements), durable commits", rows);

    // A long session against a short one: the newest 20 come from the primary key's end either way.
    const long = new FlowstoreSession({ store, sessionId: "long" });
    const short = new FlowstoreSession({ store, sessionId: "short" });
    const total = Math.max(1000, Math.round(100_000 * context.scale));
    for (let at = 0; at < total; at += 1000) {
      await long.addItems(Array.from({ length: 1000 }, (_, i) => item(`item ${at + i}`)) as never);
    }
    await short.addItems(Array.from({ length: 100 }, (_, i) => item(`item ${i}`)) as never);
    await store.query(`analyze "${store.schema}".agent_session_items`);
    const timed = async (session: FlowstoreSession) => {
      const samples: number[] = [];
      for (let i = 0; i < 500; i++) {
        const started = performance.now();
        await session.getItems(20);
        samples.push(performance.now() - started);
      }
      return median(samples);
    };
    const longMs = await timed(long);
    const shortMs = await timed(short);
    table("getItems(20): median of 500 calls", [
      { session: `${total.toLocaleString("en-US")} items`, "ms a call": longMs },
      { session: "100 items", "ms a call": shortMs },
      { session: "ratio", "ms a call": longMs / shortMs },
    ]);
    log(
      "raw pg sends FlowstoreSession's own statements, named prepared statements on both sides: the difference is the session's checks and encoding.",
    );
  } finally {
    await store.close();
    await pool.end();
    await context.dropDatabase(url);
  }
}
