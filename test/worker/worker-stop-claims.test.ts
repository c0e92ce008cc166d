/**
 * stop() and the claims it gives up waiting for: a claim that lands after stop() went on without it
 * hands its jobs back before stop() resolves, so a store closed right after stop() leaves no job
 * reserved by a worker that is gone.
 */
import { describe, expect, it } from "vitest";
import { holdClaimAnswers } from "../support/claim-answers.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("stopping with a claim on its way", () => {
    it("hands back the jobs of a claim that lands after stop() gave up on it, before stop() resolves", async () => {
      const store = await driver.open();
      const ids = await store.jobs.enqueue(
        Array.from({ length: 3 }, (_, i) => ({ queue: "q", name: `n${i}` })),
      );
      const answer = holdClaimAnswers(store);
      const errors: unknown[] = [];
      let runs = 0;
      const worker = store.jobs.work({
        queue: "q",
        // stop() waits for no claim.
        stopTimeoutMs: 0,
        onError: (error) => errors.push(error),
        handler: () => {
          runs++;
        },
      });
      // The worker's claim has run: its jobs are reserved, and the worker has not seen them yet.
      await until(async () =>
        (await store.jobs.list({ queue: "q" })).every((job) => job.status === "running"),
      );
      const closed = worker.stop().then(() => store.close());
      // The answer comes once stop() has gone on without the claim.
      await new Promise((resolve) => setTimeout(resolve, 500));
      answer();
      await closed;

      const other = await driver.open({ schema: store.schema });
      const taken = await other.jobs.claim({ queue: "q", workerId: "another worker", limit: 10 });
      expect(taken.map((job) => job.id).sort()).toEqual([...ids].sort());
      expect(taken.map((job) => job.attempts)).toEqual([1, 1, 1]);
      expect(runs).toBe(0);
      expect(errors.map(String)).toEqual([]);
    });
  });
});
