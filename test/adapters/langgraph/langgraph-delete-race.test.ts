/**
 * deleteThread while a graph runs on the thread: whatever the moment the delete lands at (before,
 * between or during the run's puts), the thread ends gone (no checkpoint) or whole (every channel
 * value each checkpoint names is stored, and the latest checkpoint holds what the run returned).
 */
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";

const NODES = 6;

const State = Annotation.Root({
  a: Annotation<string>(),
  b: Annotation<string>(),
  trail: Annotation<string[]>({ reducer: (x, y) => x.concat(y), default: () => [] }),
});

/** A chain of nodes: the first sets `a` (which no later node changes), each adds to the trail. */
function chain(saver: FlowstoreSaver) {
  let graph = new StateGraph(State).addNode("n0", async () => ({ a: "A", trail: ["n0"] }));
  for (let i = 1; i < NODES; i++) {
    graph = graph.addNode(`n${i}`, async () => ({ b: `B${i}`, trail: [`n${i}`] })) as typeof graph;
  }
  graph = graph.addEdge(START, "n0") as typeof graph;
  for (let i = 1; i < NODES; i++) graph = graph.addEdge(`n${i - 1}` as "n0", `n${i}` as "n0") as typeof graph;
  return graph.addEdge(`n${NODES - 1}` as "n0", END).compile({ checkpointer: saver });
}

/** Channel versions the thread's checkpoints name that have no stored value (nor "empty" mark). */
async function missingValues(store: Store, scope: string, thread: string): Promise<number> {
  const q = `"${store.schema}"`;
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::integer as n
     from ${q}.langgraph_checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') as v(channel, version)
     where c.scope = $1 and c.thread_id = $2 and not exists (
       select 1 from ${q}.langgraph_blobs b where b.scope = $1 and b.thread_id = $2
         and b.checkpoint_ns = c.checkpoint_ns and b.channel = v.channel and b.version = v.version)`,
    [scope, thread],
  );
  return rows[0]?.n ?? 0;
}

/**
 * A saver that deletes the thread through another saver once its `at`-th put has committed: before
 * it lets the run go on ("between" two puts), or while the run goes on ("during" the next ones).
 */
class DeletingSaver extends FlowstoreSaver {
  private puts = 0;
  deleting: Promise<void> = Promise.resolve();

  constructor(
    store: Store,
    scope: string,
    private readonly other: FlowstoreSaver,
    private readonly at: number,
    private readonly mode: "between" | "during",
  ) {
    super({ store, scope });
  }

  override async put(...args: Parameters<FlowstoreSaver["put"]>): ReturnType<FlowstoreSaver["put"]> {
    const written = await super.put(...args);
    if (++this.puts === this.at) {
      this.deleting = this.other.deleteThread(String(written.configurable?.thread_id));
      if (this.mode === "between") await this.deleting;
    }
    return written;
  }
}

forEachDriver((driver) => {
  describe("deleteThread racing a graph run", () => {
    let store: Store;

    beforeAll(async () => {
      store = await driver.open();
    });

    it("leaves the thread gone or whole", async () => {
      const scope = "delete-race";
      const other = new FlowstoreSaver({ store, scope });
      const outcomes: string[] = [];
      // A run of NODES nodes puts NODES + 2 checkpoints: the delete lands after each of them.
      for (let at = 1; at <= NODES + 2; at++) {
        for (const mode of ["between", "during"] as const) {
          const thread = `t${at}-${mode}`;
          const config = { configurable: { thread_id: thread } };
          const saver = new DeletingSaver(store, scope, other, at, mode);
          const app = chain(saver);
          const result = await app.invoke({ trail: [] }, config);
          await saver.deleting;
          const missing = await missingValues(store, scope, thread);
          if ((await other.getTuple(config)) === undefined) {
            outcomes.push(`${at} ${mode}: gone`);
            continue;
          }
          const state = await chain(other).getState(config);
          const whole = missing === 0 && JSON.stringify(state.values) === JSON.stringify(result);
          outcomes.push(
            `${at} ${mode}: ${whole ? "whole" : `torn (${missing} missing, a = ${state.values.a})`}`,
          );
        }
      }
      expect(outcomes.filter((outcome) => outcome.includes("torn"))).toEqual([]);
      // Deleted after the run's last put, the thread is gone.
      expect(outcomes.slice(-2)).toEqual([`${NODES + 2} between: gone`, `${NODES + 2} during: gone`]);
    });
  });
});
