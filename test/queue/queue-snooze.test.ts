/** Snoozing a job: run it again later, counted as a run, never a failure and never dead for it. */
import { describe, expect, it } from "vitest";
import { LeaseLostError, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("jobs.snooze", () => {
    it("hands the job back for later with its run counted and its attempt budget kept", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "n", maxAttempts: 1 });
      const [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
      if (!job) throw new Error("nothing claimed");
      const later = new Date(Date.now() + 3_600_000);
      const snoozed = await store.jobs.snooze(job, later);
      expect(snoozed).toMatchObject({ id, status: "waiting", attempts: 1, maxAttempts: 2, lastError: null });
      expect(snoozed.runAt).toEqual(later);
      expect(snoozed.leaseOwner).toBeNull();
      // Not due: no claim finds it; and the old lease is gone.
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      await expect(store.jobs.complete(job)).rejects.toBeInstanceOf(LeaseLostError);
      await expect(store.jobs.snooze(job, later)).rejects.toBeInstanceOf(LeaseLostError);
      await expect(store.jobs.snooze(job, "soon" as unknown as Date)).rejects.toBeInstanceOf(ValidationError);
    });

    it("a job snoozed until now is claimable at once, and a failure still has its attempts", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "n", maxAttempts: 1 });
      for (let run = 1; run <= 3; run++) {
        const [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
        expect(job?.attempts).toBe(run);
        await store.jobs.snooze(job as NonNullable<typeof job>, new Date(0));
      }
      const [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
      const failed = await store.jobs.fail(job as NonNullable<typeof job>, new Error("boom"));
      expect(failed).toMatchObject({ id, status: "dead", attempts: 4, maxAttempts: 4 });
    });
  });

  describe("a worker handler returning { snoozeUntil }", () => {
    for (const transactional of [false, true]) {
      it(`runs the job again then, with the same id and the next attempt${transactional ? " (transactional)" : ""}`, async () => {
        const store = await driver.open();
        const id = await store.jobs.enqueue({ queue: "q", name: "n", maxAttempts: 1 });
        const seen: [string, number][] = [];
        const worker = store.jobs.work({
          queue: "q",
          pollIntervalMs: 50,
          transactional,
          handler: (job) => {
            seen.push([job.id, job.attempts]);
            return job.attempts < 3 ? { snoozeUntil: new Date(Date.now() + 100) } : undefined;
          },
        });
        await until(async () => (await store.jobs.list({ queue: "q" })).length === 0);
        await worker.stop();
        expect(seen).toEqual([
          [id, 1],
          [id, 2],
          [id, 3],
        ]);
        expect(worker.counts).toEqual({ completed: 1, failed: 0 });
      });
    }
  });
});
