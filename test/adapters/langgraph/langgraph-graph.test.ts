/**
 * Real LangGraph graphs on FlowstoreSaver and FlowstoreStore: a graph that interrupts for a human's
 * answer and is resumed from its checkpoint by another saver (as after a restart), parallel branches
 * whose writes land together, a node that fails and is run again from where it failed, a subgraph's
 * checkpoints in their own namespace, and memories a node keeps in the store.
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
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver, FlowstoreStore } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";

const State = Annotation.Root({
  topic: Annotation<string>(),
  notes: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  approved: Annotation<boolean | undefined>(),
});

/** Two research branches in parallel, then a review that waits for a human, then publishing. */
function reviewGraph() {
  return new StateGraph(State)
    .addNode("research", async (state) => ({ notes: [`read about ${state.topic}`] }))
    .addNode("interview", async (state) => ({ notes: [`asked about ${state.topic}`] }))
    .addNode("review", async (state) => {
      const answer = interrupt({ question: `publish ${state.notes.length} notes?` }) as string;
      return { approved: answer === "yes" };
    })
    .addNode("publish", async (state, config: LangGraphRunnableConfig) => {
      await config.store?.put(["articles", state.topic], "draft", {
        notes: state.notes,
        approved: state.approved,
      });
      return { notes: ["published"] };
    })
    .addEdge(START, "research")
    .addEdge(START, "interview")
    .addEdge(["research", "interview"], "review")
    .addEdge("review", "publish")
    .addEdge("publish", END);
}

forEachDriver((driver) => {
  describe("LangGraph graphs on FlowstoreSaver and FlowstoreStore", () => {
    let store: Store;
    let scopes = 0;
    const scope = () => `graph-${++scopes}`;

    beforeAll(async () => {
      store = await driver.open();
    });

    it("interrupts, then resumes from the checkpoint through another saver", async () => {
      const s = scope();
      const memory = new FlowstoreStore({ store, scope: s });
      const config = { configurable: { thread_id: "article-1" } };
      const first = reviewGraph().compile({
        checkpointer: new FlowstoreSaver({ store, scope: s }),
        store: memory,
      });
      const paused = await first.invoke({ topic: "tides" }, config);
      expect((paused as { __interrupt__?: unknown }).__interrupt__).toEqual([
        expect.objectContaining({ value: { question: "publish 2 notes?" } }),
      ]);
      const state = await first.getState(config);
      expect(state.next).toEqual(["review"]);
      expect([...state.values.notes].sort()).toEqual(["asked about tides", "read about tides"]);

      // A new saver on the same store (a restarted process) picks the thread up where it stopped.
      const second = reviewGraph().compile({
        checkpointer: new FlowstoreSaver({ store, scope: s }),
        store: memory,
      });
      const done = await second.invoke(new Command({ resume: "yes" }), config);
      expect(done.approved).toBe(true);
      expect(done.notes).toHaveLength(3);
      expect((await second.getState(config)).next).toEqual([]);
      expect((await memory.get(["articles", "tides"], "draft"))?.value).toEqual({
        notes: done.notes.slice(0, 2),
        approved: true,
      });

      const history = [];
      for await (const snapshot of second.getStateHistory(config)) history.push(snapshot.metadata?.source);
      expect(history.at(-1)).toBe("input");
      expect(history.length).toBeGreaterThanOrEqual(5);
    });

    it("runs a failed node again from where it failed, keeping what the other branch wrote", async () => {
      let calls = 0;
      let flaky = true;
      const graph = new StateGraph(State)
        .addNode("steady", async () => {
          calls++;
          return { notes: ["steady"] };
        })
        .addNode("flaky", async () => {
          if (flaky) throw new Error("flaky node failed");
          return { notes: ["flaky"] };
        })
        .addEdge(START, "steady")
        .addEdge(START, "flaky")
        .addEdge("steady", END)
        .addEdge("flaky", END)
        .compile({ checkpointer: new FlowstoreSaver({ store, scope: scope() }) });
      const config = { configurable: { thread_id: "t" } };
      await expect(graph.invoke({ topic: "x" }, config)).rejects.toThrow("flaky node failed");
      flaky = false;
      const done = await graph.invoke(null, config);
      expect([...done.notes].sort()).toEqual(["flaky", "steady"]);
      // The branch that succeeded was not run again: its writes were kept with the checkpoint.
      expect(calls).toBe(1);
    });

    it("keeps a subgraph's checkpoints in its own namespace and resumes inside it", async () => {
      // Its own state: a subgraph's whole output goes through the parent's reducers.
      const Inner = Annotation.Root({ approved: Annotation<boolean | undefined>() });
      const inner = new StateGraph(Inner)
        .addNode("ask", async () => ({ approved: (interrupt("inner question") as string) === "ok" }))
        .addEdge(START, "ask")
        .addEdge("ask", END)
        .compile();
      const saver = new FlowstoreSaver({ store, scope: scope() });
      const graph = new StateGraph(State)
        .addNode("prepare", async () => ({ notes: ["prepared"] }))
        .addNode("inner", inner)
        .addEdge(START, "prepare")
        .addEdge("prepare", "inner")
        .addEdge("inner", END)
        .compile({ checkpointer: saver });
      const config = { configurable: { thread_id: "nested" } };
      const paused = await graph.invoke({ topic: "y" }, config);
      expect((paused as { __interrupt__?: { value: unknown }[] }).__interrupt__?.[0]?.value).toBe(
        "inner question",
      );
      const namespaces = new Set<string>();
      for await (const tuple of saver.list({ configurable: { thread_id: "nested" } })) {
        namespaces.add(tuple.config.configurable?.checkpoint_ns);
      }
      expect([...namespaces].some((ns) => ns.startsWith("inner:"))).toBe(true);
      const done = await graph.invoke(new Command({ resume: "ok" }), config);
      expect(done.approved).toBe(true);
      expect(done.notes).toEqual(["prepared"]);
    });
  });
});
