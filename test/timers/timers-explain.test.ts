/**
 * The timer lookups use an index, not a sequential scan, on a table of 20,000 timers: `cancel` and
 * `list` find an execution's timers through the unique index on (coalesce(execution_id, nil), name), and
 * `next` (the dispatcher's look-ahead) reads timers_due. The plans are read for the statements the
 * repository actually sends (captured through statement logging), with the values it sent. Real server
 * only, as in workflow-explain.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { expectNoSeqScan, openRecording } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";

const onTimers = (sql: string) => sql.includes(".timers");

/** 2,000 executions with timers named step-0 .. step-9 each, and 100 timers of no execution. */
async function fill(store: Store): Promise<void> {
  const s = `"${store.schema}"`;
  await store.query(
    `insert into ${s}.timers (id, execution_id, name, fire_at)
     select gen_random_uuid(),
            case when i < 100 then null
                 else ('00000000-0000-4000-8000-' || lpad(to_hex(i / 10), 12, '0'))::uuid end,
            case when i < 100 then 'global-' || i else 'step-' || i % 10 end,
            now() + i * interval '1 second'
       from generate_series(0, 20099) i`,
  );
  await store.query(`analyze ${s}.timers`);
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("timer indexes", () => {
    it("cancel and list by execution use the (execution, name) index on 20,000 timers", async () => {
      const { store, plansOf } = await openRecording(driver, onTimers);
      await fill(store);
      const execution = "00000000-0000-4000-8000-000000000400"; // timers 10240 .. 10249
      expect(await store.timers.list(execution)).toHaveLength(10);
      expect(await store.timers.list(null)).toHaveLength(100);

      const calls: [string, () => Promise<unknown>][] = [
        ["list of an execution", () => store.timers.list(execution)],
        ["list of no execution", () => store.timers.list(null)],
        ["cancel in an execution", () => store.timers.cancel(execution, "step-5")],
        ["cancel of no execution", () => store.timers.cancel(null, "global-50")],
      ];
      for (const [what, call] of calls) {
        for (const plan of await plansOf(call)) {
          const name = `${what} (plan ${plan.kind})`;
          expectNoSeqScan(plan, name);
          // The index must find the execution's entries, not be walked whole with the execution as a filter.
          const byExecution = plan.nodes.some(
            (n) =>
              n["Index Name"] === "timers_execution_name" &&
              /coalesce\(execution_id/i.test(n["Index Cond"] ?? ""),
          );
          expect
            .soft(byExecution, `${name} looks the execution up in timers_execution_name: ${plan.shown}`)
            .toBe(true);
        }
      }
      expect((await store.timers.list(execution)).map((t) => t.name)).not.toContain("step-5");
      expect(await store.timers.list(execution)).toHaveLength(9);
      expect((await store.timers.list(null)).map((t) => t.name)).not.toContain("global-50");
      expect(await store.timers.list(null)).toHaveLength(99);
    });

    it("next() reads timers_due, not the whole table, with some timers leased", async () => {
      const { store, planOf } = await openRecording(driver, onTimers);
      await fill(store);
      await store.query(
        `update "${store.schema}".timers set fire_at = now() - interval '1 minute' where name like 'global-%'`,
      );
      expect(await store.timers.claimDue({ workerId: "w", limit: 20, leaseMs: 60_000 })).toHaveLength(20);
      const plan = await planOf(() => store.timers.next());
      const types = plan.nodes.map((n) => n["Node Type"]);
      expect(types, plan.shown).not.toContain("Seq Scan");
      expect(
        plan.nodes.filter((n) => n["Index Name"] === "timers_due"),
        plan.shown,
      ).toHaveLength(2);
      expect((await store.timers.next())?.leaseOwner).toBeNull();
    });
  });
});
