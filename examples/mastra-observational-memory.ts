/**
 * Mastra's observational memory on flowstore: an agent whose memory (`@mastra/memory`) keeps its
 * thread's messages, and the notes its Observer and Reflector write about them, in
 * FlowstoreMastraStorage, on the store openStore() picks (DATABASE_URL, else the embedded one in
 * ./.flowstore):
 *
 *   npx tsx examples/mastra-observational-memory.ts
 *
 * The three models (the agent's, the Observer's and the Reflector's) are scripted stand-ins that answer
 * with fixed text, so the example needs no network and no API key; an application passes real ones
 * (a model id such as "openai/gpt-5-mini", or a model object). The thresholds are tens of tokens
 * instead of Mastra's 30,000 and 40,000, so that four short turns are enough: the Observer turns the
 * older messages into observations twice, the observations pass the Reflector's threshold and it
 * condenses them into a new generation, and the last answer comes from that memory.
 */
import { Agent } from "@mastra/core/agent";
import { Memory } from "@mastra/memory";
import { openStore } from "flowstore";
import { FlowstoreMastraStorage } from "flowstore/mastra";

/** What a scripted model reads of its prompt: each message's role and text. */
type Prompt = { role: string; content: string | { type: string; text?: string }[] }[];

/** The texts of a prompt's messages of one role, in order. */
function textsOf(prompt: Prompt, role: string): string[] {
  return prompt
    .filter((message) => message.role === role)
    .map((message) =>
      typeof message.content === "string"
        ? message.content
        : message.content.map((part) => part.text ?? "").join(""),
    );
}

/**
 * A language model of the AI SDK's interface (LanguageModelV2, as `ai/test`'s MockLanguageModelV2
 * is) that answers each call with the text `answer` gives for its prompt, whole or streamed.
 */
function scriptedModel(modelId: string, answer: (prompt: Prompt) => string) {
  const usage = { inputTokens: 10, outputTokens: 10, totalTokens: 20 };
  return {
    specificationVersion: "v2" as const,
    provider: "scripted",
    modelId,
    supportedUrls: {},
    async doGenerate(options: { prompt: Prompt }) {
      const text = answer(options.prompt);
      return {
        content: [{ type: "text" as const, text }],
        finishReason: "stop" as const,
        usage,
        warnings: [],
      };
    },
    async doStream(options: { prompt: Prompt }) {
      const text = answer(options.prompt);
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

const replies = new Map([
  ["Hi, I am Ann. I ordered two desk lamps, order 1042.", "Thanks, Ann: order 1042, two desk lamps."],
  ["Please deliver it to my office, not my home.", "Done: order 1042 goes to your office."],
  ["Can it arrive before Friday?", "Yes: it ships on Wednesday and arrives on Thursday."],
]);

// The agent answers the questions of its script; asked anything else, it answers with the first note
// of the memory that Mastra puts in its system message (the raw messages it came from are gone).
const agentModel = scriptedModel("agent", (prompt) => {
  const reply = replies.get(textsOf(prompt, "user").at(-1) ?? "");
  if (reply) return reply;
  const note = textsOf(prompt, "system")
    .flatMap((text) => text.split("\n"))
    .find((line) => /^\s*- .*order 1042/.test(line));
  return `I remember: ${note?.replace(/^\s*- \S+ /, "") ?? "nothing"}`;
});

// What the Observer notes on each of its calls, in order, and what the Reflector condenses them to.
const notes = [
  "- 🔴 Ann ordered two desk lamps (order 1042), to be delivered to her office",
  "- 🟡 Ann asked for delivery before Friday: order 1042 arrives on Thursday",
];
let observed = 0;
const observerModel = scriptedModel(
  "observer",
  () => `<observations>\n${notes[Math.min(observed++, notes.length - 1)]}\n</observations>`,
);
const reflectorModel = scriptedModel(
  "reflector",
  () =>
    "<observations>\n- 🔴 Ann's order 1042, two desk lamps, goes to her office by Thursday\n</observations>",
);

// #region memory
const store = await openStore(); // DATABASE_URL if set, else embedded PGlite in ./.flowstore
const memory = new Memory({
  storage: new FlowstoreMastraStorage({ id: "flowstore", store }),
  options: {
    observationalMemory: {
      scope: "thread",
      // Observe when a turn starts with more than 60 tokens of unobserved messages, at once (no
      // buffering in the background); reflect when the observations pass 30 tokens.
      observation: { model: observerModel, messageTokens: 60, bufferTokens: false },
      reflection: { model: reflectorModel, observationTokens: 30 },
    },
  },
});
const agent = new Agent({
  id: "support",
  name: "Support",
  instructions: "You help customers with their orders.",
  model: agentModel,
  memory,
});
// #endregion

const thread = { id: "ann-order-1042", resourceId: "ann" };
for (const question of [...replies.keys(), "What do you remember about my order?"]) {
  const { text } = await agent.generate(question, {
    memory: { thread: thread.id, resource: thread.resourceId },
  });
  console.log(`ann: ${question}\nagent: ${text}`);
}

// What the store kept: the thread's observational memory, a record per generation, newest first. The
// notes are the lines that start with "- " (Mastra puts a dated boundary line between two cycles).
const memoryStore = await memory.storage.getStore("memory");
const generations = await memoryStore?.getObservationalMemoryHistory(thread.id, thread.resourceId);
for (const record of generations ?? []) {
  const lines = record.activeObservations.split("\n").filter((line) => line.startsWith("- "));
  console.log(`generation ${record.generationCount} (${record.originType}): ${lines.join(" / ")}`);
}
await store.close();
