/**
 * A graph run alone: LangGraph runs all of a graph's nodes in one promise chain and chains each put
 * after the one before, so what the saver sends while the nodes run decides how long the run waits
 * for its checkpoints. The first put goes before the nodes have all run, and the task writes made
 * while it is in flight go with the next put, in its statement, not in one of their own.
 */
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import { forEachDriver } from "../../support/harness.js";

const State = Annotation.Root({
  visited: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

/** One node run five times (n1 to n5, by how many ran before), calling `visit` as each starts. */
function fiveSteps(visit: (name: string) => void) {
  return new StateGraph(State)
    .addNode("step", async (state) => {
      const name = `n${state.visited.length + 1}`;
      visit(name);
      return { visited: [name] };
    })
    .addEdge(START, "step")
    .addConditionalEdges("step", (state) => (state.visited.length < 5 ? "step" : END));
}

forEachDriver((driver) => {
  describe("a LangGraph graph run alone on FlowstoreSaver", () => {
    it("sends its first checkpoint before its last node runs, and its task writes with its next put", async () => {
      const store = await driver.open();
      try {
        // Every write statement the saver sends (a put or task writes; they all begin with the threads).
        const writes: string[] = [];
        const query = store.query.bind(store);
        store.query = ((text: string, values?: unknown[], options?: { prepare?: boolean }) => {
          if (text.includes("langgraph_threads")) writes.push(text);
          return query(text, values, options);
        }) as typeof store.query;
        const sentBefore: Record<string, number> = {};
        const saver = new FlowstoreSaver({ store, scope: "alone" });
        const graph = fiveSteps((name) => {
          sentBefore[name] = writes.length;
        }).compile({ checkpointer: saver });
        const config = { configurable: { thread_id: "run-1" } };
        const result = await graph.invoke({ visited: [] }, config);
        expect(result.visited).toEqual(["n1", "n2", "n3", "n4", "n5"]);
        expect(sentBefore.n5).toBeGreaterThanOrEqual(1);
        // One statement per checkpoint: the input's, one per step, and none for the task writes alone.
        const checkpoints = [];
        for await (const tuple of saver.list(config)) checkpoints.push(tuple);
        expect(checkpoints).toHaveLength(7);
        expect(writes).toHaveLength(7);
        // Every task's writes were stored all the same: each step's checkpoint has its node's value.
        expect(checkpoints[0]?.checkpoint.channel_values.visited).toEqual(["n1", "n2", "n3", "n4", "n5"]);
      } finally {
        await store.close();
      }
    });
  });
});
