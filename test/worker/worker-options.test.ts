/**
 * work() checks its options before anything starts, and a worker leaves nothing behind on its signal.
 */
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/index.js";
import type { WorkerOptions } from "../../src/worker/types.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

/** Options work() must refuse, each with the field its error names. */
const refused: [string, Partial<WorkerOptions>][] = [
  ["leaseMs", { leaseMs: Number.POSITIVE_INFINITY }],
  ["leaseMs", { leaseMs: 0 }],
  ["leaseMs", { leaseMs: 1500.5 }],
  ["leaseMs", { leaseMs: Number.NaN }],
  ["leaseMs", { leaseMs: 2 ** 31 }],
  ["claimConcurrency", { claimConcurrency: Number.NaN }],
  ["claimConcurrency", { claimConcurrency: 0 }],
  ["claimConcurrency", { claimConcurrency: 1.5 }],
  ["batchSize", { batchSize: Number.NaN }],
  ["batchSize", { batchSize: 0 }],
  ["batchSize", { batchSize: 2.5 }],
  ["concurrency", { concurrency: Number.NaN }],
  ["concurrency", { concurrency: 0 }],
  ["pollIntervalMs", { pollIntervalMs: Number.NaN }],
  ["pollIntervalMs", { pollIntervalMs: 0 }],
  ["pollIntervalMs", { pollIntervalMs: Number.POSITIVE_INFINITY }],
  ["pollIntervalMs", { pollIntervalMs: 2 ** 31 }],
  ["stopTimeoutMs", { stopTimeoutMs: Number.NaN }],
  ["stopTimeoutMs", { stopTimeoutMs: -1 }],
  ["stopTimeoutMs", { stopTimeoutMs: Number.POSITIVE_INFINITY }],
  ["stopTimeoutMs", { stopTimeoutMs: 2 ** 31 }],
  ["queue", { queue: "" }],
  ["queue", { queue: "a\u0000b" }],
  ["queue", { queue: "q".repeat(256) }],
  ["queue", { queue: 42 as unknown as string }],
  ["workerId", { workerId: "" }],
  ["workerId", { workerId: "w\u0000" }],
];

forEachDriver((driver) => {
  describe("work() options", () => {
    it("refuses each option it cannot use, naming it, and writes nothing", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "n" });
      const before = await store.jobs.get(id);
      let badRuns = 0;
      for (const [field, options] of refused) {
        let thrown: unknown;
        try {
          store.jobs.work({
            queue: "q",
            handler: () => {
              badRuns++;
            },
            ...options,
          });
        } catch (error) {
          thrown = error;
        }
        const [[name, value]] = Object.entries(options) as [[string, unknown]];
        expect(thrown, `${name}: ${String(value)}`).toBeInstanceOf(ValidationError);
        expect((thrown as ValidationError).field).toBe(field);
        expect((thrown as Error).message).toContain(field);
      }
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.job_starts`,
      );
      expect(rows[0]?.n).toBe(0);
      expect(await store.jobs.get(id)).toEqual(before);
      // The job is there for a worker with good options, at its first attempt, and no other ran it.
      const attempts: number[] = [];
      const worker = store.jobs.work({
        queue: "q",
        handler: (job) => {
          attempts.push(job.attempts);
        },
      });
      await until(() => attempts.length === 1);
      await worker.stop();
      expect(attempts).toEqual([1]);
      expect(badRuns).toBe(0);
    });

    it("takes the edges of each range", async () => {
      const store = await driver.open();
      const worker = store.jobs.work({
        queue: "q".repeat(255),
        handler: () => {},
        leaseMs: 1,
        claimConcurrency: 1,
        batchSize: 1,
        concurrency: 1,
        pollIntervalMs: 2 ** 31 - 1,
        stopTimeoutMs: 0,
      });
      await worker.stop();
    });
  });

  describe("a worker's signal", () => {
    it("keeps no listener once the worker has stopped", async () => {
      const store = await driver.open();
      const shutdown = new AbortController();
      for (let i = 0; i < 3; i++) {
        const worker = store.jobs.work({ queue: `q${i}`, signal: shutdown.signal, handler: () => {} });
        expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(1);
        await worker.stop();
      }
      expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
      // A worker the signal stopped keeps none either, and a later abort stops what still runs.
      const running = store.jobs.work({ queue: "q", signal: shutdown.signal, handler: () => {} });
      shutdown.abort();
      await running.stopped;
      expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
    });
  });
});
