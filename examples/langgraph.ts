/**
 * A LangGraph graph on flowstore: checkpoints in FlowstoreSaver, long-term memory in FlowstoreStore,
 * on the store openStore() picks (DATABASE_URL, else the embedded one in ./.flowstore):
 *
 *   npx tsx examples/langgraph.ts
 *
 * The graph drafts a reply, stops for a human to approve it (an interrupt), and is resumed on the same
 * thread. What it learns about the user goes to the store, where any thread can read it. Run it again:
 * the thread carries on with its history, and the store still knows the user.
 */
import {
  Annotation,
  Command,
  END,
  interrupt,
  type LangGraphRunnableConfig,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { openStore } from "flowstore";
import { FlowstoreSaver, FlowstoreStore } from "flowstore/langgraph";

const State = Annotation.Root({
  user: Annotation<string>(),
  messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  draft: Annotation<string>(),
});

const graph = new StateGraph(State)
  // Remembers the user across threads: a count of visits in the long-term store.
  .addNode("remember", async (state, config: LangGraphRunnableConfig) => {
    const profile = await config.store?.get(["users", state.user], "profile");
    const visits = ((profile?.value.visits as number | undefined) ?? 0) + 1;
    await config.store?.put(["users", state.user], "profile", { visits });
    return { draft: `Hello ${state.user}, visit number ${visits}. You said: ${state.messages.at(-1)}` };
  })
  // Waits for a human: the run stops here, its checkpoint saved, until resumed with an answer.
  .addNode("approve", async (state) => {
    const answer = interrupt({ approve: state.draft }) as string;
    return { messages: [answer === "yes" ? state.draft : "(reply withheld)"] };
  })
  .addEdge(START, "remember")
  .addEdge("remember", "approve")
  .addEdge("approve", END);

// #region compile
const store = await openStore(); // DATABASE_URL if set, else embedded PGlite in ./.flowstore
const checkpointer = new FlowstoreSaver({ store }); // checkpoints: threads, their history, interrupts
const memory = new FlowstoreStore({ store }); // long-term memory, shared by every thread
const app = graph.compile({ checkpointer, store: memory });
const config = { configurable: { thread_id: "example-thread" } };
// #endregion

try {
  await app.invoke({ user: "ada", messages: ["hi there"] }, config);
  const paused = await app.getState(config);
  const question = paused.tasks[0]?.interrupts[0]?.value;
  process.stdout.write(`paused before ${paused.next.join(", ")}: ${JSON.stringify(question)}\n`);

  // Resumed on the same thread, from the checkpoint the interrupt left (any process could do this).
  const done = await app.invoke(new Command({ resume: "yes" }), config);
  process.stdout.write(`resumed: ${done.messages.at(-1)}\n`);
  process.stdout.write(
    `the thread holds ${done.messages.length} messages; the store: ${JSON.stringify((await memory.get(["users", "ada"], "profile"))?.value)}\n`,
  );

  let checkpoints = 0;
  for await (const _ of app.getStateHistory(config)) checkpoints++;
  // Keep the thread's 10 newest checkpoints (store.startMaintenance({ retention: [...] }) does it on a schedule).
  const pruned = await checkpointer.prune({ keepLatest: 10 });
  process.stdout.write(`${checkpoints} checkpoints on the thread; retention removed ${pruned.checkpoints}\n`);
} finally {
  await store.close();
}
