/**
 * The dispatcher's claim of due schedules reads schedules_due, not the whole table, on a table of
 * 20,000 schedules of which a few are due and some are paused; `get` probes the primary key. The
 * plans are read for the statements the repository sends, with its values, and generic. Real server
 * only, as timers-explain.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { expectIndexProbes, openRecording } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";

/** 20,000 daily schedules, due over the coming days; every tenth paused. */
async function fill(store: Store): Promise<void> {
  await store.query(
    `insert into "${store.schema}".schedules (name, cron, time_zone, queue, job_name, missed, backfill_limit,
                                              next_run_at, paused_at)
     select 's' || i, '0 0 * * *', 'UTC', 'q', 'j', 'skip', 100, now() + i * interval '1 minute',
            case when i % 10 = 0 then now() end
       from generate_series(1, 20000) i`,
  );
  await store.query(`analyze "${store.schema}".schedules`);
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("schedule indexes", () => {
    it("the due claim reads schedules_due and get probes the name, on 20,000 schedules", async () => {
      const { store, plansOf } = await openRecording(driver, (sql) => sql.includes(".schedules"));
      await fill(store);
      await store.schedules.set({ name: "due", cron: "@daily", queue: "q" });
      await store.query(
        `update "${store.schema}".schedules set next_run_at = date_trunc('day', now()) where name = 'due'`,
      );
      await expectIndexProbes(plansOf, [
        ["the due claim", "schedules_due", () => store.schedules.dispatchDue()],
        ["get", "schedules_pkey", () => store.schedules.get("s500")],
      ]);
      expect((await store.schedules.get("due")).lastRunAt).not.toBeNull();
    });
  });
});
