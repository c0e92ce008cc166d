/**
 * LangGraph checkpointers, FlowstoreSaver against PostgresSaver (@langchain/langgraph-checkpoint-postgres),
 * on one server in one run, each side on a fresh database every round with a pool of the same size:
 * - put: checkpoints of a chat-like state (a list of messages, a counter, a list of visited nodes;
 *   two channels changed per put) appended to threads, 8 callers at once;
 * - getTuple: the latest checkpoint (with its channel values and pending writes) of one of those
 *   threads, 8 callers at once;
 * - list: the ten newest checkpoints of one of those threads, 8 callers at once;
 * - invoke: a five-node StateGraph run to the end on a new thread each time, 8 runs in flight (each
 *   run reads its thread once and writes 7 checkpoints and 5 tasks' writes);
 * - invoke x1: the same runs one at a time, where each call's latency is the whole cost; both savers
 *   open at once, each on its own database, their calls interleaved (one of each in turn, which goes
 *   first alternating), so both meet the same moments of a machine whose disk and cores other work
 *   shares: run as a block each, a neighbour's burst of fsyncs fell on one side's block and moved the
 *   ratio from 1.34x to 1.71x between runs.
 * For each: operations/s, the median and 99th percentile of one call, and the SQL statements the
 * server ran per operation (pg_stat_statements, in the side's database), the median of BENCH_ROUNDS
 * rounds (default 3) with the order of the sides alternating; and the ratio of each round (its two
 * sides measured one after the other, or interleaved), the median and the worst.
 *
 * `runLangGraph(context)` is part 2 of `npm run bench -- engines`; run alone: `npm run bench -- engines-langgraph`.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import type { RunnableConfig } from "@langchain/core/runnables";
import { Annotation, type BaseCheckpointSaver, END, START, StateGraph } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import pg from "pg";
import { FlowstoreSaver } from "../src/adapters/langgraph/index.js";
import { openStore } from "../src/index.js";
import {
  type BenchContext,
  benchRounds,
  log,
  median,
  percentiles,
  type StatementCounter,
  statementCounter,
  table,
  timedCalls,
} from "./lib.js";

const POOL = 10;
const CALLERS = 8;
const THREADS = 64;

interface Side {
  name: string;
  open(url: string): Promise<{ saver: BaseCheckpointSaver; close(): Promise<void> }>;
}

const flowstore: Side = {
  name: "FlowstoreSaver",
  async open(url) {
    const store = await openStore({ connection: url, pool: { max: POOL } });
    return { saver: new FlowstoreSaver({ store }), close: () => store.close() };
  },
};

const postgres: Side = {
  name: "PostgresSaver",
  async open(url) {
    const pool = new pg.Pool({ connectionString: url, max: POOL });
    // An idle client whose database is dropped after the round (drop ... with (force)) errors on the
    // pool; without a listener that error would end the benchmark.
    pool.on("error", () => {});
    const saver = new PostgresSaver(pool);
    await saver.setup();
    return { saver, close: () => saver.end() };
  },
};

/** One operation's figures from one round. */
interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
  statements: number;
}

type Operation = "put" | "getTuple" | "list" | "invoke" | "invoke x1";
const NO_FIGURES: Figures = {
  perSecond: Number.NaN,
  p50: Number.NaN,
  p99: Number.NaN,
  statements: Number.NaN,
};
const OPERATIONS: Operation[] = ["put", "getTuple", "list", "invoke", "invoke x1"];

const State = Annotation.Root({
  count: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
  visited: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function fiveNodeGraph() {
  const node = (name: string) => async () => ({ count: 1, visited: [name] });
  return new StateGraph(State)
    .addNode("n1", node("n1"))
    .addNode("n2", node("n2"))
    .addNode("n3", node("n3"))
    .addNode("n4", node("n4"))
    .addNode("n5", node("n5"))
    .addEdge(START, "n1")
    .addEdge("n1", "n2")
    .addEdge("n2", "n3")
    .addEdge("n3", "n4")
    .addEdge("n4", "n5")
    .addEdge("n5", END);
}

/** The i-th checkpoint of the put benchmark: five messages, a counter and the nodes visited. */
function chatCheckpoint(i: number, step: number) {
  return {
    v: 4,
    id: `1ef${String(i).padStart(13, "0")}-0000-6000-8000-000000000000`,
    ts: new Date().toISOString(),
    channel_values: {
      messages: Array.from({ length: 5 }, (_, k) => ({
        role: k % 2 ? "ai" : "human",
        content: `message ${k} of step ${step}`,
      })),
      count: step,
      visited: ["agent", "tools", "agent"],
    },
    channel_versions: { messages: step + 1, count: step + 1, visited: 1 },
    versions_seen: { agent: { messages: step, count: step }, __input__: {} },
  };
}

async function measure(
  counter: StatementCounter,
  url: string,
  total: number,
  concurrency: number,
  operation: (i: number) => Promise<void>,
): Promise<Figures> {
  await timedCalls(Math.max(concurrency, Math.round(total / 10)), concurrency, operation); // warm-up, not counted
  await counter.reset(url);
  const figures = await timedCalls(total, concurrency, (i) => operation(i + total));
  const { total: statements } = await counter.read(url);
  return { ...figures, statements: statements / total };
}

/** One side's round: puts, then reads of the threads they wrote, then graph runs. */
async function round(side: Side, url: string, counter: StatementCounter, scale: number) {
  const { saver, close } = await side.open(url);
  try {
    const last = new Map<number, RunnableConfig>();
    const steps = new Map<number, number>();
    const puts = Math.round(2000 * scale);
    const put = await measure(counter, url, puts, CALLERS, async (i) => {
      const thread = i % THREADS;
      const step = (steps.get(thread) ?? 0) + 1;
      steps.set(thread, step);
      const config = last.get(thread) ?? { configurable: { thread_id: `put-${thread}`, checkpoint_ns: "" } };
      const next = await saver.put(
        config,
        chatCheckpoint(i, step),
        { source: "loop", step, parents: {} },
        {
          messages: step + 1,
          count: step + 1,
        },
      );
      await saver.putWrites(next, [["messages", { role: "ai", content: `pending ${i}` }]], `task-${i}`);
      last.set(thread, next);
    });
    const getTuple = await measure(counter, url, Math.round(2000 * scale), CALLERS, async (i) => {
      const tuple = await saver.getTuple({
        configurable: { thread_id: `put-${i % THREADS}`, checkpoint_ns: "" },
      });
      if (!tuple || (tuple.checkpoint.channel_values.messages as unknown[]).length !== 5) {
        throw new Error(`${side.name}: getTuple read no checkpoint, or one without its messages`);
      }
    });
    const list = await measure(counter, url, Math.round(1000 * scale), CALLERS, async (i) => {
      let n = 0;
      for await (const _ of saver.list(
        { configurable: { thread_id: `put-${i % THREADS}`, checkpoint_ns: "" } },
        { limit: 10 },
      )) {
        n++;
      }
      const expected = Math.min(10, steps.get(i % THREADS) ?? 0);
      if (n !== expected) throw new Error(`${side.name}: list read ${n} checkpoints, not ${expected}`);
    });
    const runGraph = graphRuns(side, saver);
    const invoke = await measure(counter, url, Math.round(300 * scale), CALLERS, runGraph("invoke"));
    // Every run left its last checkpoint: what a resumed thread would read.
    const tuple = await saver.getTuple({ configurable: { thread_id: "invoke-0" } });
    if ((tuple?.checkpoint.channel_values.count as number | undefined) !== 5) {
      throw new Error(`${side.name}: a run's final checkpoint is missing`);
    }
    // put's figures include the putWrites after each put: both sides get the same calls.
    return { put, getTuple, list, invoke };
  } finally {
    await close();
  }
}

/** Runs of the five-node graph on new threads (`prefix-i`) through `saver`, each checked. */
function graphRuns(side: Side, saver: BaseCheckpointSaver) {
  const graph = fiveNodeGraph().compile({ checkpointer: saver });
  return (prefix: string) => async (i: number) => {
    const result = await graph.invoke({ count: 0 }, { configurable: { thread_id: `${prefix}-${i}` } });
    if (result.count !== 5 || result.visited.length !== 5)
      throw new Error(`${side.name}: run ${i} ended wrong`);
  };
}

/**
 * invoke x1 for every side at once, each on its database of `urls`: a tenth as many warm-up runs, then
 * `total` runs of each, one at a time, the sides taking turns (who goes first alternating). A side's
 * operations/s is its runs over the time its own runs took.
 */
async function aloneRound(
  sides: Side[],
  urls: string[],
  counter: StatementCounter,
  total: number,
): Promise<Figures[]> {
  const opened = await Promise.all(sides.map((side, k) => side.open(urls[k] as string)));
  try {
    const runs = sides.map((side, k) => graphRuns(side, (opened[k] as { saver: BaseCheckpointSaver }).saver));
    const samples: number[][] = sides.map(() => []);
    const each = async (count: number, prefix: string, timed: boolean) => {
      for (let i = 0; i < count; i++) {
        const order = i % 2 === 0 ? sides.map((_, k) => k) : sides.map((_, k) => k).reverse();
        for (const k of order) {
          const at = performance.now();
          await (runs[k] as ReturnType<typeof graphRuns>)(prefix)(i);
          if (timed) samples[k]?.push(performance.now() - at);
        }
      }
    };
    await each(Math.max(1, Math.round(total / 10)), "warm", false);
    for (const url of urls) await counter.reset(url);
    await each(total, "alone", true);
    return await Promise.all(
      sides.map(async (_, k) => {
        const times = samples[k] as number[];
        const { total: statements } = await counter.read(urls[k] as string);
        const { p50, p99 } = percentiles(times);
        return {
          perSecond: total / (times.reduce((a, b) => a + b, 0) / 1000),
          p50,
          p99,
          statements: statements / total,
        };
      }),
    );
  } finally {
    for (const side of opened) await side.close();
  }
}

export async function runLangGraph(context: BenchContext): Promise<void> {
  const rounds = benchRounds(2);
  const scale = context.scale;
  log(
    `LangGraph checkpointers: FlowstoreSaver (flowstore/langgraph) and PostgresSaver ${packageVersion("@langchain/langgraph-checkpoint-postgres")} ` +
      `under @langchain/langgraph ${packageVersion("@langchain/langgraph")}; each a pool of ${POOL} on a fresh database, durable commits`,
  );
  log(
    `put: ${Math.round(2000 * scale)} puts (each with its task's putWrites) on ${THREADS} threads, ${CALLERS} callers; ` +
      `getTuple: ${Math.round(2000 * scale)} reads of those threads' latest checkpoint, ${CALLERS} callers; ` +
      `list: ${Math.round(1000 * scale)} lists of a thread's 10 newest, ${CALLERS} callers; ` +
      `invoke: ${Math.round(300 * scale)} runs of a five-node graph, each on a new thread, ${CALLERS} in flight; ` +
      `invoke x1: ${Math.round(100 * scale)} such runs one at a time, the two savers' runs interleaved`,
  );
  log(
    `a tenth as many warm-up calls first, not counted; ${rounds} rounds (BENCH_ROUNDS), the order of the sides alternating; ` +
      "figures are the median round; statements: all pg_stat_statements counted in the side's database, per operation",
  );
  const sides = [flowstore, postgres];
  const results = new Map<string, Record<Operation, Figures>[]>(sides.map((side) => [side.name, []]));
  const counter = await statementCounter(context);
  try {
    for (let r = 0; r < rounds; r++) {
      log(`\nround ${r + 1} of ${rounds}`);
      const figures = new Map<string, Record<Operation, Figures>>();
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
        const url = await context.freshDatabase();
        figures.set(side.name, { ...(await round(side, url, counter, scale)), "invoke x1": NO_FIGURES });
        await context.dropDatabase(url);
      }
      const urls = await Promise.all(sides.map(() => context.freshDatabase()));
      const alone = await aloneRound(sides, urls, counter, Math.round(100 * scale));
      for (const url of urls) await context.dropDatabase(url);
      sides.forEach((side, k) => {
        const own = figures.get(side.name) as Record<Operation, Figures>;
        own["invoke x1"] = alone[k] as Figures;
        results.get(side.name)?.push(own);
        log(
          `  ${side.name.padEnd(15)} ${OPERATIONS.map((op) => `${op} ${Math.round(own[op].perSecond).toLocaleString("en-US")}/s`).join(", ")}`,
        );
      });
    }
  } finally {
    await counter.close();
  }

  const summary = (name: string, op: Operation) => {
    const list = (results.get(name) ?? []).map((figures) => figures[op]);
    return {
      perSecond: median(list.map((f) => f.perSecond)),
      p50: median(list.map((f) => f.p50)),
      p99: median(list.map((f) => f.p99)),
      statements: median(list.map((f) => f.statements)),
    };
  };
  table(
    `LangGraph checkpointers (median of ${rounds} rounds)`,
    OPERATIONS.flatMap((op) =>
      sides.map((side) => {
        const s = summary(side.name, op);
        return {
          operation: op,
          saver: side.name,
          "ops/s": s.perSecond,
          "p50 ms": s.p50,
          "p99 ms": s.p99,
          "statements/op": s.statements,
        };
      }),
    ),
  );
  // Each round's ratio, of its own two sides: the goal holds in every round, not on the median alone.
  const ratios = (op: Operation) => {
    const ours = results.get(flowstore.name) ?? [];
    const theirs = results.get(postgres.name) ?? [];
    return ours.map((figures, r) => figures[op].perSecond / (theirs[r]?.[op].perSecond ?? Number.NaN));
  };
  table(
    "FlowstoreSaver relative to PostgresSaver (each round's ratio)",
    OPERATIONS.map((op) => ({
      operation: op,
      "median ratio": median(ratios(op)),
      "worst round": Math.min(...ratios(op)),
      rounds: ratios(op)
        .map((ratio) => ratio.toFixed(2))
        .join(" "),
      "PostgresSaver ops/s": summary(postgres.name, op).perSecond,
      goal: ">= 1.5",
      "statements/op": `${summary(flowstore.name, op).statements.toFixed(2)} vs ${summary(postgres.name, op).statements.toFixed(2)}`,
    })),
  );
}

/** `npm run bench -- engines-langgraph` runs this part alone. */
export const run = runLangGraph;

/** An installed package's version, from its package.json (which its exports do not name). */
function packageVersion(name: string): string {
  const entry = createRequire(import.meta.url).resolve(name);
  let dir = new URL(".", pathToFileURL(entry));
  for (let i = 0; i < 5; i++) {
    try {
      const manifest = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as {
        name?: string;
        version: string;
      };
      if (manifest.name === name) return manifest.version;
    } catch {
      // not here; one level up
    }
    dir = new URL("..", dir);
  }
  return "?";
}
