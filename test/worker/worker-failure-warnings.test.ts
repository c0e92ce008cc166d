/**
 * A handler that throws is told through the store's logger, where the developer looks: each failed
 * attempt as a warning naming the queue, the job and its attempt, and the error's message; under a
 * storm of failures, a few a second and then how many were not shown; a job that goes dead, always.
 */
import { describe, expect, it } from "vitest";
import type { Logger } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

/** A logger that keeps each warning, with its entry. */
function recording() {
  const warnings: { entry: Record<string, unknown>; message: string }[] = [];
  const ignore = () => {};
  const logger: Logger = {
    debug: ignore,
    info: ignore,
    error: ignore,
    warn: (entry, message) => {
      warnings.push({ entry, message: message ?? "" });
    },
  };
  return { logger, warnings };
}

forEachDriver((driver) => {
  describe("a failed run", () => {
    it("is a warning for each attempt, and says when the job is dead", async () => {
      const { logger, warnings } = recording();
      const store = await driver.open({ logger });
      const id = await store.jobs.enqueue({
        queue: "mail",
        name: "send-welcome",
        maxAttempts: 2,
        backoff: { baseMs: 0 },
      });
      const worker = store.jobs.work({
        queue: "mail",
        pollIntervalMs: 20,
        handler: () => {
          throw new TypeError("payload.to is undefined");
        },
      });
      await until(async () => (await store.jobs.get(id)).status === "dead");
      await until(() => warnings.some((w) => /is dead/.test(w.message)));
      await worker.stop();
      const mine = warnings.filter((w) => w.message.includes(id));
      expect(mine).toHaveLength(2);
      expect(mine[0]?.message).toMatch(/queue mail/);
      expect(mine[0]?.message).toMatch(/send-welcome/);
      expect(mine[0]?.message).toMatch(/attempt 1 of 2/);
      expect(mine[0]?.message).toMatch(/payload\.to is undefined/);
      expect(mine[0]?.message).not.toMatch(/is dead/);
      expect(mine[1]?.message).toMatch(/attempt 2 of 2/);
      expect(mine[1]?.message).toMatch(/is dead/);
      expect(mine[1]?.entry).toMatchObject({ queue: "mail", jobId: id, name: "send-welcome", attempt: 2 });
    });

    it("under a storm, shows a few a second and counts the rest, and every dead job", async () => {
      const { logger, warnings } = recording();
      const store = await driver.open({ logger });
      const retried = 60;
      // One attempt left after this one, an hour away: each run here is a failed attempt, not a death.
      await store.jobs.enqueue(
        Array.from({ length: retried }, (_, i) => ({
          queue: "storm",
          name: `retried-${i}`,
          maxAttempts: 2,
          backoff: { baseMs: 3_600_000 },
        })),
      );
      const dead = await store.jobs.enqueue(
        Array.from({ length: 3 }, (_, i) => ({ queue: "storm", name: `last-${i}`, maxAttempts: 1 })),
      );
      let runs = 0;
      const worker = store.jobs.work({
        queue: "storm",
        concurrency: 20,
        pollIntervalMs: 20,
        handler: () => {
          runs++;
          throw new Error("storm");
        },
      });
      await until(() => runs === retried + dead.length);
      const summaries = () =>
        warnings
          .map((w) => /(\d+) more failed attempts? .*not shown/.exec(w.message)?.[1])
          .filter((n): n is string => n !== undefined)
          .map(Number);
      const shown = () => warnings.filter((w) => /attempt 1 of 2/.test(w.message)).length;
      // Every failed attempt is either shown or counted in a summary, which comes once the second ends.
      await until(() => shown() + summaries().reduce((a, b) => a + b, 0) === retried);
      await worker.stop();
      expect(shown()).toBeLessThan(retried);
      for (const id of dead)
        expect(warnings.filter((w) => w.message.includes(id) && /is dead/.test(w.message))).toHaveLength(1);
    });
  });
});
