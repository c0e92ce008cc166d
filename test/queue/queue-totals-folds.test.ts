/**
 * The additions to the queue's totals (a row per enqueue, per claim by hand...) are folded into the
 * totals by the process that writes them once it has written enough of them, worker or none: the
 * table stays small and the totals stay exact.
 */
import { describe, expect, it } from "vitest";
import type { LeasedJob, Store } from "../../src/index.js";
import { FOLD_AFTER_ROWS } from "../../src/queue/total-folds.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

async function additions(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from "${store.schema}".queue_total_additions`,
  );
  return rows[0]?.n ?? 0;
}

forEachDriver((driver) => {
  describe("queue totals' additions", () => {
    it("are folded into the totals as enqueues add them, with no worker running", async () => {
      const store = await driver.open();
      // Each enqueue adds a row per queue: ten queues, ten rows.
      const queues = Array.from({ length: 10 }, (_, i) => `steady-${i}`);
      const enqueues = FOLD_AFTER_ROWS / queues.length + 1;
      for (let i = 0; i < enqueues; i++)
        await store.jobs.enqueue(queues.map((queue) => ({ queue, name: "n" })));
      await until(async () => (await additions(store)) < FOLD_AFTER_ROWS);
      const { rows } = await store.query<{ n: string }>(
        `select sum(n)::text as n from "${store.schema}".queue_totals where name = 'enqueued'`,
      );
      expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(FOLD_AFTER_ROWS);
      // Folded, not lost nor counted twice.
      const totals = await store.jobs.totals();
      expect(totals.map((t) => [t.queue, t.enqueued])).toEqual(queues.map((queue) => [queue, enqueues]));
    });

    it("are folded as an engine's own loop adds them, batches across many queues included", async () => {
      const store = await driver.open();
      const queues = Array.from({ length: FOLD_AFTER_ROWS }, (_, i) => `q${i}`);
      await store.jobs.enqueue(queues.map((queue) => ({ queue, name: "n" })));
      for (const queue of queues.slice(0, 50)) {
        const [job] = (await store.jobs.claim({ queue, workerId: "engine" })) as [LeasedJob];
        await store.jobs.complete(job);
      }
      await until(async () => (await additions(store)) < FOLD_AFTER_ROWS);
      const totals = await store.jobs.totals();
      expect(totals).toHaveLength(queues.length);
      expect(totals.reduce((sum, t) => sum + t.enqueued, 0)).toBe(queues.length);
      expect(totals.reduce((sum, t) => sum + t.started, 0)).toBe(50);
      expect(totals.reduce((sum, t) => sum + t.completed, 0)).toBe(50);
    });
  });
});
