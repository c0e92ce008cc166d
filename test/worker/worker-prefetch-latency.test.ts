/**
 * A worker's prefetch grows with a backlog even when its claims are slow: a server 300 ms away (a
 * proxy holding each chunk 150 ms each way) and handlers that finish at once. The prefetch is held to
 * what the handlers start in a quarter of a second, and while claims set the pace that measured the
 * claims: each round trip brought at most the least prefetch (32 jobs), fewer than a quarter second's
 * worth at that pace, so it never grew and the worker drained the queue 32 jobs a round trip.
 * Real server only: PGlite has no network.
 */
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { loggingClaimLimits } from "../support/claim-answers.js";
import { fileDatabaseUrl, forEachDriver } from "../support/harness.js";
import { type LatencyProxy, startLatencyProxy } from "../support/latency-proxy.js";
import { until } from "../support/waiting.js";

const ONE_WAY_MS = 150;
let proxy: LatencyProxy | undefined;
let far: Store | undefined;
afterAll(async () => {
  await far?.close();
  await proxy?.close();
});

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("a worker on a far server", () => {
    it("grows its prefetch past the least while claims come back full", { timeout: 120_000 }, async () => {
      const near = await driver.open();
      await near.jobs.enqueue(Array.from({ length: 600 }, (_, i) => ({ queue: "q", name: "n", payload: i })));
      proxy = await startLatencyProxy(await fileDatabaseUrl(), ONE_WAY_MS);
      const limits: number[] = [];
      far = await openStore({
        ...loggingClaimLimits(limits),
        connection: proxy.url,
        schema: near.schema,
        migrate: false,
      });
      const errors: unknown[] = [];
      const worker = far.jobs.work({
        queue: "q",
        concurrency: 8,
        claimConcurrency: 1,
        handler: () => {},
        onError: (error) => errors.push(error),
      });
      await until(async () => worker.counts.completed === 600, 90_000);
      await worker.stop();
      expect(errors).toEqual([]);
      expect(limits[0]).toBe(16);
      expect(Math.max(...limits)).toBeGreaterThan(32);
    });
  });
});
