/**
 * An OpenAI Agents SDK agent whose conversation is kept in flowstore (FlowstoreSession), on the store
 * openStore() picks (DATABASE_URL, else the embedded one in ./.flowstore):
 *
 *   npx tsx examples/openai-agents.ts
 *
 * The agent's refund tool needs a human's approval: the first run stops there, its state saved as
 * text. Then, as a later request would, the session is opened again by its id, the state restored and
 * approved, and the run goes on from where it stopped; the tool runs once. A scripted model stands in
 * for OpenAI's, so the example runs offline; with a real one, only `model` changes.
 */
import {
  Agent,
  type Model,
  type ModelRequest,
  type ModelResponse,
  RunState,
  run,
  setTracingDisabled,
  tool,
  Usage,
} from "@openai/agents";
import { openStore } from "flowstore";
import { FlowstoreSession } from "flowstore/openai-agents";
import { z } from "zod";

setTracingDisabled(true);

/** Answers from a script, one turn at a time: first a call of the refund tool, then a reply. */
class ScriptedModel implements Model {
  private turn = 0;
  async getResponse(_request: ModelRequest): Promise<ModelResponse> {
    this.turn++;
    const output: ModelResponse["output"] =
      this.turn === 1
        ? [
            {
              type: "function_call",
              callId: "call_1",
              name: "refund",
              arguments: '{"order":"A-17"}',
              status: "completed",
            },
          ]
        : [
            {
              type: "message",
              role: "assistant",
              status: "completed",
              content: [{ type: "output_text", text: "Your refund for A-17 is on its way." }],
            },
          ];
    return { output, usage: new Usage() };
  }
  // biome-ignore lint/correctness/useYield: this example does not stream.
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("not streamed");
  }
}

const refund = tool({
  name: "refund",
  description: "Refunds an order",
  parameters: z.object({ order: z.string() }),
  needsApproval: true,
  execute: async ({ order }) => `refunded ${order}`,
});
const agent = new Agent({
  name: "Support",
  instructions: "Help with orders.",
  model: new ScriptedModel(),
  tools: [refund],
});

const store = await openStore(); // DATABASE_URL if set, else embedded PGlite in ./.flowstore
const sessionId = `customer-${Date.now().toString(36)}`;

// #region session
const session = new FlowstoreSession({ store, sessionId }); // sessionId: a random UUID by default
const paused = await run(agent, "Please refund order A-17.", { session });
const saved = paused.state.toString(); // keep it wherever the approval waits
// #endregion
console.log(`waiting for approval of ${paused.interruptions.map((item) => item.name).join(", ")}`);

// Later, in this process or another: the same session by its id, the state restored and approved.
const again = new FlowstoreSession({ store, sessionId });
const state = await RunState.fromString(agent, saved);
for (const item of state.getInterruptions()) state.approve(item);
const done = await run(agent, state, { session: again });
console.log(done.finalOutput);
console.log(`the session holds ${(await again.getItems()).length} items`);
await store.close();
