/**
 * An OpenAI Agents SDK agent whose conversation is kept in flowstore (FlowstoreSession), on the store
 * openStore() picks (DATABASE_URL, else the embedded one in ./.flowstore):
 *
 *   npx tsx examples/openai-agents.ts
 *
 * The agent's refund tool needs a human's approval: the first run stops there and is saved as a
 * paused run (FlowstorePausedRuns). A second process, as an approvals page would, approves the call and
 * resumes the run on the session opened again by its id; the tool runs once. A scripted model stands in
 * for OpenAI's, so the example runs offline; with a real one, only `model` changes.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  Agent,
  type Model,
  type ModelRequest,
  type ModelResponse,
  run,
  setTracingDisabled,
  tool,
  Usage,
} from "@openai/agents";
import { openStore } from "flowstore";
import { FlowstorePausedRuns, FlowstoreSession } from "flowstore/openai-agents";
import { z } from "zod";

setTracingDisabled(true);

/** Answers as a script would: a call of the refund tool, then, once the tool's result is in, a reply. */
class ScriptedModel implements Model {
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const refunded = JSON.stringify(request.input).includes("function_call_result");
    const output: ModelResponse["output"] = refunded
      ? [
          {
            type: "message",
            role: "assistant",
            status: "completed",
            content: [{ type: "output_text", text: "Your refund for A-17 is on its way." }],
          },
        ]
      : [
          {
            type: "function_call",
            callId: "call_1",
            name: "refund",
            arguments: '{"order":"A-17"}',
            status: "completed",
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
const pausedRuns = new FlowstorePausedRuns({ store }); // a paused run waits up to 7 days by default

if (process.argv[2] === "decide") {
  // The second process: a human's approval, then the run resumed: exactly once, whoever else tries.
  const [, , , runId, sessionId] = process.argv as string[];
  // #region resume
  const [waiting] = (await pausedRuns.get(runId as string))?.approvals ?? [];
  await pausedRuns.approve(runId as string, waiting?.callId as string, { by: "support-lead" });
  const state = await pausedRuns.resume(runId as string, agent, { by: `worker ${process.pid}` });
  const done = await run(agent, state, { session: new FlowstoreSession({ store, sessionId }) });
  // #endregion
  console.log(done.finalOutput);
  console.log(
    `the session holds ${(await new FlowstoreSession({ store, sessionId }).getItems()).length} items`,
  );
} else {
  const sessionId = `customer-${Date.now().toString(36)}`;
  // #region session
  const session = new FlowstoreSession({ store, sessionId }); // sessionId: a random UUID by default
  const paused = await run(agent, "Please refund order A-17.", { session });
  const saved = await pausedRuns.save(paused, { sessionId }); // listed, decided and resumed from any process
  // #endregion
  console.log(`waiting for approval of ${saved.approvals.map((a) => a.toolName).join(", ")}`);
  // Decided and resumed by another process, as a request to an approvals page would be.
  const second = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1] as string, "decide", saved.id, sessionId],
    {
      stdio: "inherit",
    },
  );
  const [code] = await once(second, "exit");
  process.exitCode = code ?? 1;
}
await store.close();
