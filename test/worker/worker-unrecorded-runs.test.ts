/**
 * A run whose end the worker could not record (its failure or its completion refused by the database)
 * leaves the job in the worker's name until its lease lapses, and the same worker may then take it back
 * and run it again. Every run that started is an attempt all the same: such a job runs at most
 * maxAttempts times, as it would if another worker had taken it back.
 */
import { describe, expect, it } from "vitest";
import type { Job, LeasedJob, Store } from "../../src/index.js";
import { holdClaimAnswers } from "../support/claim-answers.js";
import { forEachDriver } from "../support/harness.js";
import { runTwoAttempts } from "../support/two-attempts.js";
import { until } from "../support/waiting.js";

/** Makes the database refuse `refused` updates or deletes of running jobs, as a constraint would. */
async function refuse(store: Store, event: "update" | "delete", refused: string): Promise<void> {
  const s = store.schema;
  await store.query(`create function ${s}.refuse() returns trigger language plpgsql as $$
    begin
      if old.status = 'running' and ${refused} then raise exception 'refused by the database'; end if;
      return case when tg_op = 'DELETE' then old else new end;
    end $$`);
  await store.query(
    `create trigger refuse before ${event} on ${s}.jobs for each row execute function ${s}.refuse()`,
  );
}

/**
 * Lets the job's lease lapse long ago, as if its heartbeats had been held up, until `takenBack` says a
 * claim has taken the job back.
 */
async function lapseUntil(store: Store, job: LeasedJob, takenBack: () => Promise<boolean> | boolean) {
  const first = job.leaseToken;
  await until(async () => {
    await store.query(
      `update ${store.schema}.jobs set lease_expires_at = now() - interval '1 minute'
        where id = $1 and lease_token = $2`,
      [job.id, first],
    );
    return takenBack();
  });
}

/** The job's lease token in the database. */
async function leaseToken(store: Store, id: string): Promise<string | undefined> {
  const { rows } = await store.query<{ token: string }>(
    `select lease_token as token from ${store.schema}.jobs where id = $1`,
    [id],
  );
  return rows[0]?.token;
}

/** A job of two attempts ran twice and went dead, both runs counted. */
function expectRanTwiceThenDead({ runs, job }: { runs: number; job: Job }): void {
  expect({ runs, status: job.status, attempts: job.attempts }).toEqual({
    runs: 2,
    status: "dead",
    attempts: 2,
  });
}

/** Runs a job of two attempts whose handler always fails, after `firstRun` in its first run. */
async function failTwice(store: Store, firstRun: (job: LeasedJob) => Promise<void>) {
  let first = true;
  return runTwoAttempts(store, async (running) => {
    if (first) {
      first = false;
      await firstRun(running);
    }
    throw new Error("handler failed");
  });
}

forEachDriver((driver) => {
  describe("a run the worker could not record", () => {
    it("counts when the worker takes its job back after a failure it could not record", async () => {
      const store = await driver.open();
      // A retry cannot be recorded; the failure of a last attempt (the job goes dead) can.
      await refuse(store, "update", "new.status in ('waiting', 'scheduled')");
      const ran = await runTwoAttempts(store, () => {
        throw new Error("handler failed");
      });
      expectRanTwiceThenDead(ran);
      expect(ran.job.lastError).toMatchObject({ message: "handler failed" });
    });

    it("counts when the worker takes its job back after a completion it could not record", async () => {
      const store = await driver.open();
      await refuse(store, "delete", "true");
      expectRanTwiceThenDead(await runTwoAttempts(store, () => {}));
    });

    it("counts a run once when its worker takes the job back while still running it", async () => {
      const store = await driver.open();
      const ran = await failTwice(store, async (running) => {
        // The worker's own claim takes the job back, and the worker renews the lease it holds.
        const token = running.leaseToken;
        await lapseUntil(store, running, () => running.leaseToken !== token);
      });
      expectRanTwiceThenDead(ran);
    });

    it("counts a run once when its worker takes the job back as the run's failure is on its way", async () => {
      const store = await driver.open();
      const ran = await failTwice(store, async (running) => {
        // The worker's own claim takes the job back, and the worker learns of it only after the
        // handler's failure has been sent under the lease it had.
        const answer = holdClaimAnswers(store, running.id);
        const token = running.leaseToken;
        await lapseUntil(store, running, async () => (await leaseToken(store, running.id)) !== token);
        setTimeout(answer, 200);
      });
      expectRanTwiceThenDead(ran);
      expect(ran.job.lastError).toMatchObject({ message: "handler failed" });
    });
  });
});
