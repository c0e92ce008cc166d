/**
 * A worker shares its statements among the jobs that end or start together: a completion for those
 * that end while one is on its way, a start mark for those it starts at once. On PGlite a statement runs
 * to its end before the next turn of the event loop, so none was ever on its way there: each job of a
 * worker of concurrency 8 made a completion and a start mark of its own (1,994 and 1,987 for 2,000
 * jobs), and its handlers ran one at a time.
 */
import { describe, expect, it } from "vitest";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const JOBS = 1_000;

forEachDriver((driver) => {
  describe("a worker's statements", () => {
    it("complete and mark the jobs that end and start together in shared statements", {
      timeout: 120_000,
    }, async () => {
      const sent = { completions: 0, marks: 0 };
      const ignore = () => {};
      const store = await driver.open({
        logStatements: true,
        logger: {
          debug: (entry: Record<string, unknown>) => {
            const sql = String(entry.sql ?? "");
            if (/done as \(delete from \S+\.jobs/.test(sql)) sent.completions++;
            if (/insert into \S+\.job_starts \(worker/.test(sql)) sent.marks++;
          },
          info: ignore,
          warn: ignore,
          error: ignore,
        },
      });
      await store.jobs.enqueue(
        Array.from({ length: JOBS }, (_, i) => ({ queue: "q", name: "n", payload: i })),
      );
      const worker = store.jobs.work({ queue: "q", concurrency: 8, handler: () => {} });
      await until(async () => worker.counts.completed === JOBS, 90_000);
      await worker.stop();
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.jobs`,
      );
      expect(rows[0]?.n).toBe(0);
      expect(worker.counts).toEqual({ completed: JOBS, failed: 0 });
      // Every job was started under a mark and completed by a statement: far fewer of each than jobs.
      expect(sent.completions).toBeGreaterThan(0);
      expect(sent.marks).toBeGreaterThan(0);
      expect(sent.completions).toBeLessThanOrEqual(JOBS / 4);
      expect(sent.marks).toBeLessThanOrEqual(JOBS / 4);
    });
  });
});
