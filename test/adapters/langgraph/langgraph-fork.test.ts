/**
 * Time travel on FlowstoreSaver: a state updated at an earlier checkpoint starts a new branch of the
 * thread, and running from it sees the values of that branch, as with LangGraph's MemorySaver, while
 * the checkpoints of the first branch keep theirs.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import { Annotation, END, MemorySaver, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";

const State = Annotation.Root({
  a: Annotation<string>(),
  trail: Annotation<string[]>({ reducer: (x, y) => x.concat(y), default: () => [] }),
});

function graph(checkpointer: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode("n1", async () => ({ a: "a1", trail: ["n1"] }))
    .addNode("n2", async (state) => ({ a: `${state.a}+n2`, trail: ["n2"] }))
    .addEdge(START, "n1")
    .addEdge("n1", "n2")
    .addEdge("n2", END)
    .compile({ checkpointer });
}

/** What a run, a fork from the checkpoint after n1, and a run of the fork show at each step. */
async function forkAndRun(checkpointer: BaseCheckpointSaver, threadId: string) {
  const app = graph(checkpointer);
  const config = { configurable: { thread_id: threadId } };
  const first = await app.invoke({ a: "a0" }, config);
  const original = await app.getState(config);
  let afterN1: RunnableConfig | undefined;
  for await (const snapshot of app.getStateHistory(config)) {
    if (snapshot.next.length === 1 && snapshot.next[0] === "n2") afterN1 = snapshot.config;
  }
  if (!afterN1) throw new Error("no checkpoint before n2");
  const forkConfig = await app.updateState(afterN1, { a: "FORK" });
  const fork = await app.getState(forkConfig);
  const forkRun = await app.invoke(null, forkConfig);
  const latest = await app.getState(config);
  const originalAgain = await app.getState(original.config);
  return {
    first,
    fork: { values: fork.values, next: fork.next },
    forkRun,
    latest: { values: latest.values, next: latest.next },
    original: { values: originalAgain.values, next: originalAgain.next },
  };
}

forEachDriver((driver) => {
  describe("time travel on FlowstoreSaver", () => {
    let store: Store;

    beforeAll(async () => {
      store = await driver.open();
    });

    it("runs a fork from an earlier checkpoint on the fork's values, as MemorySaver does", async () => {
      const ours = await forkAndRun(new FlowstoreSaver({ store, scope: "fork" }), "t");
      const theirs = await forkAndRun(new MemorySaver(), "t");
      expect(ours.fork).toEqual({ values: { a: "FORK", trail: ["n1"] }, next: ["n2"] });
      expect(ours.forkRun).toEqual({ a: "FORK+n2", trail: ["n1", "n2"] });
      expect(ours.first).toEqual(theirs.first);
      expect(ours.fork).toEqual(theirs.fork);
      expect(ours.forkRun).toEqual(theirs.forkRun);
      expect(ours.latest).toEqual(theirs.latest);
    });

    it("keeps the values of the first branch's checkpoints after a fork", async () => {
      const ours = await forkAndRun(new FlowstoreSaver({ store, scope: "fork-original" }), "t");
      expect(ours.original).toEqual({ values: { a: "a1+n2", trail: ["n1", "n2"] }, next: [] });
    });

    it("carries on a thread stored with integer versions, as it was written before", async () => {
      const scope = "integers";
      /** A saver counting versions as integers, as LangGraph's base class does. */
      class IntegerSaver extends FlowstoreSaver {
        override getNextVersion(current: number | undefined): number {
          return current === undefined ? 1 : current + 1;
        }
      }
      const config = { configurable: { thread_id: "t" } };
      await graph(new IntegerSaver({ store, scope })).invoke({ a: "a0" }, config);
      const memory = new MemorySaver();
      await graph(memory).invoke({ a: "a0" }, config);

      const ours = graph(new FlowstoreSaver({ store, scope }));
      const theirs = graph(memory);
      expect(await ours.invoke({ a: "again" }, config)).toEqual(await theirs.invoke({ a: "again" }, config));
      const versions = (await ours.getState(config)).config;
      const tuple = await new FlowstoreSaver({ store, scope }).getTuple(versions);
      expect(
        Object.values(tuple?.checkpoint.channel_versions ?? {}).every((v) => typeof v === "number"),
      ).toBe(true);
    });
  });
});
