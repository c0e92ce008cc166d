/**
 * Many graphs writing large values at once, on a store with the default pool (10 connections, 5 s to
 * get one): each graph has its saver (as a server that compiles a graph per request has), each node
 * writes about 20 MB. Every run must finish and its final state must read back whole: the savers'
 * statements wait for their turn in the savers, not for a pool connection that can time out.
 */
import { createHash } from "node:crypto";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";

const RUNS = 16;
const SIZE = 20 * 1024 * 1024;

const State = Annotation.Root({
  text: Annotation<string>(),
  parts: Annotation<string[]>(),
});

/** A value of `size` characters that only run `run`'s node `node` writes. */
const value = (run: number, node: string, size: number) =>
  `${node}-${run}:`.padEnd(size, String.fromCharCode(97 + (run % 26)));

const digest = (text: unknown) => createHash("sha256").update(String(text)).digest("hex");

function graph(store: Store, run: number) {
  return new StateGraph(State)
    .addNode("write", async () => ({ text: value(run, "write", SIZE) }))
    .addNode("split", async () => ({
      parts: [value(run, "split-a", SIZE / 2), value(run, "split-b", SIZE / 2)],
    }))
    .addEdge(START, "write")
    .addEdge("write", "split")
    .addEdge("split", END)
    .compile({ checkpointer: new FlowstoreSaver({ store, scope: "large" }) });
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("FlowstoreSaver with large values from many graphs", () => {
    let store: Store;

    beforeAll(async () => {
      store = await driver.open();
    });

    it("finishes every run and stores its final state whole", { timeout: 300_000 }, async () => {
      const config = (run: number) => ({ configurable: { thread_id: `run-${run}` } });
      const outcomes = await Promise.allSettled(
        Array.from({ length: RUNS }, (_, run) => graph(store, run).invoke({ text: "" }, config(run))),
      );
      const failures = outcomes.flatMap((o) => (o.status === "rejected" ? [String(o.reason)] : []));
      expect(failures).toEqual([]);

      // Read back together, as the runs resuming at once would.
      const reader = graph(store, 0);
      const states = await Promise.all(
        Array.from({ length: RUNS }, (_, run) => reader.getState(config(run))),
      );
      states.forEach(({ values }, run) => {
        expect(digest(values.text)).toBe(digest(value(run, "write", SIZE)));
        expect((values.parts as string[]).map(digest)).toEqual([
          digest(value(run, "split-a", SIZE / 2)),
          digest(value(run, "split-b", SIZE / 2)),
        ]);
      });
    });
  });
});
