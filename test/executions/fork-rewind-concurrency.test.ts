/**
 * Fork and rewind beside other writers: a step (or an event) written concurrently with a rewind is
 * either deleted by it or written after it, never left above the cut unseen; a fork's offloaded values
 * are its own, so pruning its source leaves it whole.
 */
import { describe, expect, it } from "vitest";
import { forEachDriver } from "../support/harness.js";
import { holdings, recordedRun } from "../support/run-records.js";
import { until, waitingOnLocks } from "../support/waiting.js";

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

forEachDriver((driver) => {
  describe("fork and rewind with other writers", () => {
    if (driver.concurrent) {
      it("a rewind waits for a step and a chunk in flight, then deletes them", async () => {
        const store = await driver.open();
        const id = await recordedRun(store);
        const { opened, open } = gate();
        const wrote = gate();
        // Another session records past the cut and has not committed when the rewind starts. Neither
        // write touches the run's row (whose lock holds off appends and task writes), nor a row the
        // rewind deletes: only the rewind's lock of their tables makes it wait for them.
        const writer = store.transaction(async (tx) => {
          await tx.steps.record({ executionId: id, number: 4, name: "late", output: 4 });
          await tx.streams.write(id, "late", "l1");
          wrote.open();
          await opened;
        });
        await wrote.opened;
        const rewind = store.executions.rewind(id, { toStep: 2 });
        await until(async () => (await waitingOnLocks(store)) > 0);
        open();
        await writer;
        const rewound = await rewind;
        expect(rewound.status).toBe("pending");
        const held = await holdings(store, id);
        expect(held.steps.map((s) => s.split(":")[0])).toEqual(["0", "1"]);
        expect(held.streams).toEqual({ out: { chunks: ["s0", "s1"], closed: false } });
      });

      it("a step written while a rewind's transaction is open waits and lands after it", async () => {
        const store = await driver.open();
        const id = await recordedRun(store);
        const { opened, open } = gate();
        const rewound = gate();
        const order: string[] = [];
        const rewinding = store.transaction(async (tx) => {
          await tx.executions.rewind(id, { toStep: 2 });
          rewound.open();
          await opened;
          order.push("rewind commits");
        });
        // The rewind has run (and holds its locks) before the step is sent.
        await rewound.opened;
        expect((await store.executions.get(id)).status).toBe("completed"); // not committed yet
        // The step table is locked against writes until the rewind commits: the step waits for it.
        // Step 4: no row the rewind deleted holds its number, so only the lock makes it wait.
        const step = store.steps
          .record({ executionId: id, number: 4, name: "late", output: "after" })
          .then((written) => {
            order.push("step written");
            return written;
          });
        await until(async () => (await waitingOnLocks(store)) > 0);
        expect(order).toEqual([]);
        open();
        await rewinding;
        expect((await step).created).toBe(true);
        expect(order).toEqual(["rewind commits", "step written"]);
        // Written after the rewind, in the rewound run (as a step of a resumed run would be), it is not
        // a survivor of the old run: its version is past the rewind's, so a stale writer's next
        // compare-and-set on the run conflicts.
        expect((await holdings(store, id)).steps).toEqual([
          '0:load:{"load":0}',
          '1:charge:{"charge":1}',
          '4:late:"after"',
        ]);
      });
    }

    it("copies a fork's offloaded outputs and payloads, so pruning the source leaves the fork whole", async () => {
      const store = await driver.open({ limits: { offloadAbove: 1024 } });
      const big = "x".repeat(4096);
      const { execution } = await store.executions.start({ name: "big", status: "running" });
      const id = execution.id;
      await store.events.append(id, { type: "big", payload: { big } });
      await store.steps.record({ executionId: id, number: 0, name: "load", output: { big } });
      await store.steps.record({
        executionId: id,
        number: 1,
        name: "more",
        output: new Uint8Array(2048).fill(7),
      });
      await store.executions.complete(id);
      const fork = await store.executions.fork(id, { fromStep: 2 });
      await store.prune({ finishedBefore: new Date(Date.now() + 60_000), partitions: false });
      await expect(store.executions.get(id)).rejects.toThrow(/not found/);
      const steps = await store.steps.list(fork.id);
      expect(steps[0]?.output).toEqual({ big });
      expect(Buffer.from(steps[1]?.output as Uint8Array)).toEqual(Buffer.alloc(2048, 7));
      expect((await store.events.list(fork.id)).items[0]?.payload).toEqual({ big });
    });
  });
});
