/**
 * executions.statusCounts: exact up to a bound per status, through the status index; above it an
 * estimate from the planner's statistics, never below the bound, and marked as such.
 */
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("executions.statusCounts", () => {
    it("counts exactly up to the bound, and estimates above it from the statistics", async () => {
      const store = await driver.open();
      const s = `"${store.schema}"`;
      // UUIDv7s of now, as the store makes them: all in the newest range's partition, which ANALYZE
      // then reads whole.
      await store.query(
        `insert into ${s}.executions (id, name, status, completed_at)
         select (substr(${s}.uuid_floor(now())::text, 1, 14) || '7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
                'w', case when i <= 20 then 'running' else 'completed' end, case when i > 20 then now() end
           from generate_series(1, 80) i`,
      );
      const before = await store.executions.statusCounts({ exactUpTo: 40 });
      expect(before.running).toEqual({ count: 20, exact: true });
      expect(before.failed).toEqual({ count: 0, exact: true });
      // Never analyzed: no statistics to read, so "more than the bound" is all it says.
      expect(before.completed).toEqual({ count: 41, exact: false });

      await store.query(`analyze ${s}.executions`);
      const after = await store.executions.statusCounts({ exactUpTo: 40 });
      expect(after.running).toEqual({ count: 20, exact: true });
      // A partition this small is read whole by ANALYZE: the estimate is the count.
      expect(after.completed).toEqual({ count: 60, exact: false });
      // Under a bound above every status, it is countByStatus.
      const exact = await store.executions.statusCounts();
      const counted = await store.executions.countByStatus();
      for (const [status, n] of Object.entries(counted)) {
        expect(exact[status as keyof typeof exact]).toEqual({ count: n, exact: true });
      }
    });

    it("refuses a bound that is not a whole number from 0 to 1,000,000", async () => {
      const store = await driver.open();
      for (const exactUpTo of [-1, 1.5, 2_000_000, Number.NaN]) {
        await expect(store.executions.statusCounts({ exactUpTo })).rejects.toBeInstanceOf(ValidationError);
      }
    });
  });
});
