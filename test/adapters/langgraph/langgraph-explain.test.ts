/**
 * FlowstoreSaver's reads probe the index of each table they touch for the checkpoints they return,
 * however many checkpoints and task writes the scope holds: a tuple's writes are read by index, not by
 * a hash join over every write of the scope (which the planner chose, not knowing how few checkpoints
 * a read returns). The plans are read for the statements the saver actually sends. Real server only.
 */
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import { expectNoSeqScan, openRecording } from "../../support/explain.js";
import { forEachDriver } from "../../support/harness.js";

const THREADS = 100;
const STEPS = 20;

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("FlowstoreSaver read plans", () => {
    it("reads tuples by index among 2,000 checkpoints and their writes", async () => {
      const { store, plansOf } = await openRecording(driver, (sql) => /\.langgraph_writes\b/.test(sql));
      const saver = new FlowstoreSaver({ store });
      await Promise.all(
        Array.from({ length: THREADS }, async (_, t) => {
          let config = { configurable: { thread_id: `t${t}`, checkpoint_ns: "" } };
          for (let step = 0; step < STEPS; step++) {
            const checkpoint = {
              ...emptyCheckpoint(),
              id: uuid6(-1),
              channel_values: { step },
              channel_versions: { step: step + 1 },
            };
            config = (await saver.put(
              config,
              checkpoint,
              { source: "loop", step, parents: {} },
              {
                step: step + 1,
              },
            )) as typeof config;
            await saver.putWrites(config, [["step", step]], `task-${step}`);
          }
        }),
      );
      // Its own tables only: the whole database's would analyze the empty schemas other tests are
      // still to open (the run's migrated ones, test/support/schema-pool.ts), which then plan as empty.
      const s = `"${store.schema}"`;
      await store.query(`analyze ${s}.langgraph_checkpoints, ${s}.langgraph_writes, ${s}.langgraph_blobs`);
      const latest = { configurable: { thread_id: "t42", checkpoint_ns: "" } };
      const tuple = await saver.getTuple(latest);
      expect(tuple?.pendingWrites).toEqual([["task-19", "step", 19]]);
      const calls: [string, () => Promise<unknown>][] = [
        ["getTuple, the latest", () => saver.getTuple(latest)],
        ["getTuple by id", () => saver.getTuple(tuple?.config ?? latest)],
        [
          "list, a page",
          async () => {
            for await (const _ of saver.list(latest, { limit: 3 })) {
              // read, to send the statement
            }
          },
        ],
      ];
      for (const [name, call] of calls) {
        for (const plan of await plansOf(call)) {
          expectNoSeqScan(plan, `${name} (plan ${plan.kind})`);
        }
      }
    });

    // The store's pools plan each statement once per connection, generically, often on its first
    // call, when the tables are empty: the put's check of each parent checkpoint was then planned as a
    // read of every checkpoint, and stayed so on that connection as the table grew (a put cost 1 ms
    // more for every few thousand checkpoints).
    it("checks a put's parent by index, even as planned on an empty store", async () => {
      const { store, plansOf } = await openRecording(driver, (sql) =>
        /insert into .*\.langgraph_checkpoints/.test(sql),
      );
      const saver = new FlowstoreSaver({ store });
      const config = { configurable: { thread_id: "empty", checkpoint_ns: "" } };
      const first = await saver.put(
        config,
        { ...emptyCheckpoint(), id: uuid6(-1) },
        { source: "input", step: -1, parents: {} },
        {},
      );
      const put = () =>
        saver.put(
          first,
          { ...emptyCheckpoint(), id: uuid6(-1) },
          { source: "loop", step: 0, parents: {} },
          {},
        );
      for (const plan of await plansOf(put)) {
        expectNoSeqScan(plan, `put with a parent (plan ${plan.kind})`);
        // An index scan on the scope alone reads every checkpoint of the scope: the probe names the parent.
        const reads = plan.nodes.filter((node) => node["Index Name"] === "langgraph_checkpoints_pkey");
        expect(reads.length, plan.shown).toBeGreaterThan(0);
        for (const read of reads) expect(read["Index Cond"] ?? "", plan.shown).toMatch(/checkpoint_id = /);
      }
    });
  });
});
