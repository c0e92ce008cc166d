/**
 * One agent turn with memory, on FlowstoreMastraStorage beside @mastra/pg's PostgresStore, each on a
 * database of its own (pool of 10, durable commits): a Mastra Agent whose @mastra/memory keeps the last
 * 10 messages, a working memory and observational memory (its thresholds Mastra's defaults, so a turn
 * reads and writes the memory without observing), answering on a scripted model (no network). After
 * five turns to warm up, each turn's statements are counted (pg_stat_statements: every statement a
 * store sends is a round trip, BEGIN and COMMIT included) and its time measured; the statements of one
 * turn are listed. Mastra users report 25 to 30 serial round trips a turn on @mastra/pg (mastra #21881).
 * Node.js 22.13 or newer (@mastra/core): bench/run.ts runs it there, like the mastra suite.
 */
import { performance } from "node:perf_hooks";
import { Agent } from "@mastra/core/agent";
import { Memory } from "@mastra/memory";
import { type BenchContext, log, median, type Row, statementCounter, table } from "./lib.js";
import { flowstoreSide, mastraPgSide } from "./mastra-sides.js";

const WARM = 5;
const TURNS = 40;

/** A language model of the AI SDK's interface (v2) that answers every call with the same text. */
function scriptedModel(modelId: string, text: string) {
  const usage = { inputTokens: 10, outputTokens: 10, totalTokens: 20 };
  return {
    specificationVersion: "v2" as const,
    provider: "scripted",
    modelId,
    supportedUrls: {},
    async doGenerate() {
      return {
        content: [{ type: "text" as const, text }],
        finishReason: "stop" as const,
        usage,
        warnings: [],
      };
    },
    async doStream() {
      const parts = [
        { type: "stream-start" as const, warnings: [] },
        { type: "text-start" as const, id: "text" },
        { type: "text-delta" as const, id: "text", delta: text },
        { type: "text-end" as const, id: "text" },
        { type: "finish" as const, finishReason: "stop" as const, usage },
      ];
      return {
        stream: new ReadableStream({
          start(controller) {
            for (const part of parts) controller.enqueue(part);
            controller.close();
          },
        }),
      };
    },
  };
}

const sides = [flowstoreSide, mastraPgSide];

export async function run(context: BenchContext): Promise<void> {
  const counter = await statementCounter(context);
  const rows: Row[] = [];
  const listed = new Map<string, string[]>();
  try {
    for (const side of sides) {
      const url = await context.freshDatabase();
      const { storage, close } = await side.open(url);
      try {
        const model = scriptedModel("observer", "<observations>\n- 🟡 noted\n</observations>");
        const memory = new Memory({
          storage,
          options: {
            lastMessages: 10,
            workingMemory: { enabled: true },
            observationalMemory: { scope: "thread", observation: { model }, reflection: { model } },
          },
        });
        const agent = new Agent({
          id: "support",
          name: "Support",
          instructions: "You help customers with their orders.",
          model: scriptedModel("agent", "Your order ships today."),
          memory,
        });
        const turn = () =>
          agent.generate("Where is my order?", { memory: { thread: "thread-1", resource: "user-1" } });
        for (let i = 0; i < WARM; i++) await turn();
        const times: number[] = [];
        const counts: number[] = [];
        for (let i = 0; i < TURNS; i++) {
          await counter.reset(url);
          const started = performance.now();
          await turn();
          times.push(performance.now() - started);
          const read = await counter.read(url);
          counts.push(read.total);
          if (i === 0) {
            listed.set(
              side.name,
              read.statements.map((s) => `${s.calls} x ${s.query.replace(/\s+/g, " ").slice(0, 110)}`),
            );
          }
        }
        rows.push({
          store: side.name,
          "statements a turn": median(counts),
          "turn (ms, median)": median(times),
        });
      } finally {
        await close();
        await context.dropDatabase(url);
      }
    }
  } finally {
    await counter.close();
  }
  table("One agent turn with memory (last 10 messages, working memory, observational memory)", rows);
  for (const [name, statements] of listed) {
    log(`\n${name}, one turn's statements:`);
    for (const line of statements) log(`  ${line}`);
  }
}
