/** Scheduled retention: store.startMaintenance() prunes at once, then on every interval, until stopped. */
import { describe, expect, it } from "vitest";
import { type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { countRows, finishedExecutions } from "../support/workflow-fixtures.js";

const executionCount = (store: Store) => countRows(store, "executions");

forEachDriver((driver) => {
  describe("maintenance", () => {
    it("prunes at once, then again on each interval, until stopped", async () => {
      const store = await driver.open();
      await finishedExecutions(store, 3, 40);
      await finishedExecutions(store, 2, 1);
      const errors: unknown[] = [];
      let firstRun!: (executions: number) => void;
      const firstRunDone = new Promise<number>((resolve) => {
        firstRun = resolve;
      });
      const maintenance = store.startMaintenance({
        olderThanMs: 30 * 24 * 3_600_000,
        intervalMs: 50,
        onRun: (result) => firstRun(result.executions),
        onError: (error) => errors.push(error),
      });
      expect(await firstRunDone).toBe(3);
      expect(await executionCount(store)).toBe(2);

      // Work that ages past the cut later is taken by a later run.
      await finishedExecutions(store, 4, 45);
      await expect.poll(() => executionCount(store), { timeout: 10_000 }).toBe(2);
      await maintenance.stop();

      // Stopped: nothing runs any more.
      await finishedExecutions(store, 1, 50);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await executionCount(store)).toBe(3);
      expect(errors).toEqual([]);
    });

    it("stop() ends the run in progress after its batch", async () => {
      const store = await driver.open();
      await finishedExecutions(store, 20, 40);
      let runsSeen = 0;
      const maintenance = store.startMaintenance({
        olderThanMs: 0,
        batchSize: 1,
        onProgress: (progress) => {
          if (progress.batches === 3) void maintenance.stop();
        },
        onRun: () => {
          runsSeen++;
        },
      });
      await expect.poll(() => runsSeen, { timeout: 10_000 }).toBe(1);
      await maintenance.stop();
      expect(await executionCount(store)).toBe(17);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await executionCount(store)).toBe(17);
      expect(runsSeen).toBe(1);
    });

    it("rejects bad options at once, before anything is deleted", async () => {
      const store = await driver.open();
      await finishedExecutions(store, 2, 40);
      for (const options of [
        { olderThanMs: -1 },
        { olderThanMs: Number.NaN },
        { olderThanMs: 1e20 },
        { olderThanMs: 1_000, intervalMs: 0 },
        { olderThanMs: 1_000, intervalMs: 2 ** 31 },
        { olderThanMs: 1_000, batchSize: 0 },
        { olderThanMs: 1_000, statuses: ["running" as "completed"] },
      ]) {
        expect(() => store.startMaintenance(options)).toThrow(ValidationError);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await executionCount(store)).toBe(2);
    });
    it("runs the retention tasks after each prune, reporting each task's failure alone", async () => {
      const store = await driver.open();
      await finishedExecutions(store, 2, 40);
      const order: string[] = [];
      const errors: unknown[] = [];
      const runs: Record<string, unknown>[] = [];
      const maintenance = store.startMaintenance({
        olderThanMs: 30 * 24 * 3_600_000,
        intervalMs: 50,
        retention: [
          {
            name: "failing",
            run: async () => {
              order.push(`failing after ${await executionCount(store)} executions`);
              throw new Error("task failed");
            },
          },
          { name: "counting", run: async (signal) => (signal.aborted ? -1 : executionCount(store)) },
        ],
        onRun: (result) => runs.push(result.retention),
        onError: (error) => errors.push(error),
      });
      await expect.poll(() => runs.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      await maintenance.stop();
      // The prune went first; the failing task did not keep the next one from running.
      expect(order[0]).toBe("failing after 0 executions");
      expect(runs[0]).toEqual({ counting: 0 });
      expect(errors.length).toBeGreaterThanOrEqual(2);
      expect(String(errors[0])).toContain("task failed");
    });

    it("refuses a retention task without a name or a run function", async () => {
      const store = await driver.open();
      const bad = [{ name: "x" }, { run: async () => 0 }] as unknown as {
        name: string;
        run: () => Promise<0>;
      }[];
      for (const task of bad) {
        expect(() => store.startMaintenance({ olderThanMs: 1_000, retention: [task] })).toThrow(
          ValidationError,
        );
      }
    });
  });
});
