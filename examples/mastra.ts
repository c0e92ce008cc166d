/**
 * Mastra on flowstore: a workflow's runs and an agent's memory in FlowstoreMastraStorage, every other
 * domain of Mastra's storage left to another store, on the store openStore() picks (DATABASE_URL, else
 * the embedded one in ./.flowstore):
 *
 *   npx tsx examples/mastra.ts
 *
 * The workflow checks an order, prices it in two steps that run in parallel, and stops for a human to
 * approve it; it is resumed here (another process could resume it the same way: the run is in the
 * store). A conversation's messages are kept in a thread of the same store.
 */
import { randomUUID } from "node:crypto";
import { Mastra } from "@mastra/core";
import { InMemoryStore, MastraCompositeStore } from "@mastra/core/storage";
import { createStep, createWorkflow } from "@mastra/core/workflows";
import { openStore } from "flowstore";
import { FlowstoreMastraStorage } from "flowstore/mastra";
import { z } from "zod";

const order = z.object({ items: z.number(), unitPrice: z.number() });
const amount = z.object({ amount: z.number() });

const check = createStep({
  id: "check",
  inputSchema: order,
  outputSchema: order,
  execute: async ({ inputData }) => {
    if (inputData.items < 1) throw new Error("an order needs an item");
    return inputData;
  },
});
const subtotal = createStep({
  id: "subtotal",
  inputSchema: order,
  outputSchema: amount,
  execute: async ({ inputData }) => ({ amount: inputData.items * inputData.unitPrice }),
});
const shipping = createStep({
  id: "shipping",
  inputSchema: order,
  outputSchema: amount,
  execute: async ({ inputData }) => ({ amount: inputData.items > 3 ? 0 : 5 }),
});
const approve = createStep({
  id: "approve",
  inputSchema: z.object({ subtotal: amount, shipping: amount }),
  outputSchema: z.object({ total: z.number(), approvedBy: z.string() }),
  suspendSchema: z.object({ total: z.number() }),
  resumeSchema: z.object({ approvedBy: z.string() }),
  execute: async ({ inputData, resumeData, suspend }) => {
    const total = inputData.subtotal.amount + inputData.shipping.amount;
    if (!resumeData) return (await suspend({ total })) as never;
    return { total, approvedBy: resumeData.approvedBy };
  },
});
const orderWorkflow = createWorkflow({
  id: "order",
  inputSchema: order,
  outputSchema: z.object({ total: z.number(), approvedBy: z.string() }),
})
  .then(check)
  .parallel([subtotal, shipping])
  .then(approve)
  .commit();

// #region storage
const store = await openStore(); // DATABASE_URL if set, else embedded PGlite in ./.flowstore
const flowstore = new FlowstoreMastraStorage({ id: "flowstore", store });
// Workflows and memory on flowstore; scores, traces and the rest on another store of Mastra's.
const storage = new MastraCompositeStore({
  id: "app",
  default: new InMemoryStore(),
  domains: { workflows: flowstore.stores?.workflows, memory: flowstore.stores?.memory },
});
const mastra = new Mastra({ storage, workflows: { order: orderWorkflow }, logger: false });
// #endregion

const run = await mastra.getWorkflow("order").createRun();
const started = await run.start({ inputData: { items: 2, unitPrice: 20 } });
console.log(
  `run ${started.status}, waiting for approval of ${JSON.stringify(started.steps.approve?.suspendPayload)}`,
);
const done = await run.resume({ step: "approve", resumeData: { approvedBy: "ann" } });
console.log(`run ${done.status}: ${JSON.stringify(done.status === "success" ? done.result : done)}`);

const workflows = await storage.getStore("workflows");
const { runs, total } = (await workflows?.listWorkflowRuns({
  workflowName: "order",
  perPage: 5,
  page: 0,
})) ?? {
  runs: [],
  total: 0,
};
console.log(`order runs: ${total}, latest ${(runs[0]?.snapshot as { status?: string })?.status}`);

const memory = await storage.getStore("memory");
const threadId = randomUUID();
const now = Date.now();
await memory?.saveThread({
  thread: {
    id: threadId,
    resourceId: "ann",
    title: "Order help",
    createdAt: new Date(),
    updatedAt: new Date(),
  },
});
await memory?.saveMessages({
  messages: ["Where is my order?", "It was approved and ships today."].map((text, i) => ({
    id: randomUUID(),
    threadId,
    resourceId: "ann",
    role: i === 0 ? "user" : "assistant",
    createdAt: new Date(now + i),
    content: { format: 2, parts: [{ type: "text", text }], content: text },
  })),
});
const { messages } = (await memory?.listMessages({ threadId })) ?? { messages: [] };
console.log(`thread: ${messages.map((m) => `${m.role}: ${m.content.content}`).join(" / ")}`);
await store.close();
