/**
 * A paused queue is not claimed, by any claimer: its jobs wait, new ones go in, other queues go on,
 * and expired leases of the queue are not taken back either. Resuming wakes its workers, which then
 * take what waited.
 */
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("pausing a queue", () => {
    it("stops every claim of the queue until it is resumed, and only of that queue", async () => {
      const store = await driver.open();
      await store.jobs.enqueue([
        { queue: "paused", name: "a" },
        { queue: "other", name: "b" },
      ]);
      expect(await store.jobs.pause("paused", { by: "operator" })).toBe(true);
      expect(await store.jobs.pause("paused")).toBe(false);
      await store.jobs.enqueue({ queue: "paused", name: "c" });
      expect(await store.jobs.claim({ queue: "paused", workerId: "w", limit: 10 })).toEqual([]);
      expect(await store.jobs.claim({ queue: "other", workerId: "w" })).toHaveLength(1);
      expect(await store.jobs.paused()).toEqual([
        { queue: "paused", pausedAt: expect.any(Date), pausedBy: "operator" },
      ]);
      expect((await store.jobs.stats("paused"))[0]).toMatchObject({ ready: 2, paused: true });
      expect(await store.jobs.resume("paused")).toBe(true);
      expect(await store.jobs.resume("paused")).toBe(false);
      expect(await store.jobs.claim({ queue: "paused", workerId: "w", limit: 10 })).toHaveLength(2);
      expect(await store.jobs.paused()).toEqual([]);
    });

    it("does not take back an expired lease of a paused queue", async () => {
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "leases", name: "a" });
      await store.jobs.claim({ queue: "leases", workerId: "gone", leaseMs: 1 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await store.jobs.pause("leases");
      expect(await store.jobs.claim({ queue: "leases", workerId: "w" })).toEqual([]);
      await store.jobs.resume("leases");
      expect(await store.jobs.claim({ queue: "leases", workerId: "w" })).toHaveLength(1);
    });

    it("holds a running worker back, and wakes it on resume", async () => {
      const store = await driver.open();
      await store.jobs.pause("work");
      const done: string[] = [];
      // A long poll: only the resume's wake (or a claim after it) can start the jobs soon.
      const worker = store.jobs.work({
        queue: "work",
        pollIntervalMs: 60_000,
        handler: (job) => {
          done.push(job.name);
        },
      });
      await store.jobs.enqueue([
        { queue: "work", name: "x" },
        { queue: "work", name: "y" },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(done).toEqual([]);
      await store.jobs.resume("work");
      await until(() => done.length === 2, 10_000);
      await worker.stop();
      expect(done.sort()).toEqual(["x", "y"]);
    });

    it("refuses a queue name that is not text, and writes nothing", async () => {
      const store = await driver.open();
      await expect(store.jobs.pause("")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.jobs.pause("a\u0000b")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.jobs.pause("q", { by: 5 as never })).rejects.toBeInstanceOf(ValidationError);
      expect(await store.jobs.paused()).toEqual([]);
    });
  });
});
