/**
 * The queue's statements on a PostgreSQL older than 16, which refuses a subquery in FROM without an
 * alias ("subquery in FROM must have an alias"): Debian's PostgreSQL 15, the system's server. Snoozing
 * by hand and by a handler's `{ snoozeUntil }` (its wake-up reads the snoozed row through a subquery),
 * and the rest of a job's life beside it.
 * Needs Debian's PostgreSQL (CI installs it); skipped with a note elsewhere, never in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LeasedJob, openStore, type Store } from "../../src/index.js";
import { type SystemPostgres, startSystemPostgres } from "../../src/testing/system-postgres.js";
import { uniqueSchema } from "../support/harness.js";
import { systemPostgresFor } from "../support/system-postgres.js";
import { until } from "../support/waiting.js";

const available = systemPostgresFor("the queue's tests on PostgreSQL 15");

describe.skipIf(!available)("the queue on the system's PostgreSQL (before 16)", () => {
  let server: SystemPostgres;
  let store: Store;
  beforeAll(async () => {
    server = await startSystemPostgres();
    store = await openStore({ connection: await server.createDatabase(), schema: uniqueSchema() });
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it("is a server that wants an alias on a subquery in FROM", async () => {
    expect(server.version).toBeLessThan(16);
    await expect(store.query("select count(*) from (select 1)")).rejects.toThrow(
      "subquery in FROM must have an alias",
    );
  });

  it("snoozes a job by hand, due later and due now", async () => {
    const [later, now] = await store.jobs.enqueue([
      { queue: "by-hand", name: "later" },
      { queue: "by-hand", name: "now" },
    ]);
    const claimed = await store.jobs.claim({ queue: "by-hand", workerId: "w", limit: 2 });
    expect(claimed.map((job) => job.id)).toEqual([later, now]);
    const [first, second] = claimed as [LeasedJob, LeasedJob];
    const hourAhead = new Date(Date.now() + 3_600_000);
    expect(await store.jobs.snooze(first, hourAhead)).toMatchObject({
      id: later,
      status: "waiting",
      runAt: hourAhead,
    });
    // Due at once: the snooze wakes the queue's workers in its statement, and a claim takes it again.
    expect(await store.jobs.snooze(second, new Date(0))).toMatchObject({ id: now, status: "waiting" });
    const [again] = await store.jobs.claim({ queue: "by-hand", workerId: "w", limit: 2 });
    expect(again).toMatchObject({ id: now, attempts: 2 });
  });

  it("counts claims, completions and failures by hand in the queue's totals", async () => {
    const queue = "counted";
    await store.jobs.enqueue([
      { queue, name: "done", priority: 2 },
      { queue, name: "dies", priority: 1, maxAttempts: 1 },
    ]);
    const [done, dies] = (await store.jobs.claim({ queue, workerId: "w", limit: 2 })) as [
      LeasedJob,
      LeasedJob,
    ];
    await store.jobs.complete(done);
    await store.jobs.fail(dies, new Error("no"));
    const [totals] = await store.jobs.totals(queue);
    expect(totals).toMatchObject({ enqueued: 2, started: 2, completed: 1, failed: 1, dead: 1 });
  });

  for (const transactional of [false, true]) {
    it(`runs a job again when its handler returns { snoozeUntil }${transactional ? " (transactional)" : ""}`, async () => {
      const queue = `snoozing-${transactional}`;
      const id = await store.jobs.enqueue({ queue, name: "n", maxAttempts: 1 });
      const seen: number[] = [];
      const errors: unknown[] = [];
      const worker = store.jobs.work({
        queue,
        pollIntervalMs: 50,
        transactional,
        onError: (error) => errors.push(error),
        handler: (job) => {
          seen.push(job.attempts);
          return job.attempts < 2 ? { snoozeUntil: new Date() } : undefined;
        },
      });
      await until(async () => (await store.jobs.list({ queue })).length === 0 || worker.counts.failed > 0);
      await worker.stop();
      expect(errors).toEqual([]);
      expect(worker.counts).toEqual({ completed: 1, failed: 0 });
      expect(seen).toEqual([1, 2]);
      expect(await store.jobs.list({ queue })).toEqual([]);
      await expect(store.jobs.get(id)).rejects.toThrow();
    });
  }
});
