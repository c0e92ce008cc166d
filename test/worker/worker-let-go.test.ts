/**
 * The runs a worker let go of without recording their end stay named in its claims until another
 * worker takes their jobs back (see src/worker/start-marks.ts): now and then the worker asks which of
 * them it still holds reserved, and forgets the others.
 */
import { describe, expect, it } from "vitest";
import type { StoreContext } from "../../src/core/context.js";
import { StartMarks } from "../../src/worker/start-marks.js";
import { WorkerTotals } from "../../src/worker/totals.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("runs a worker let go of", () => {
    it("forgets those whose jobs it no longer holds reserved, and keeps the others", async () => {
      const store = await driver.open();
      const context = (store as unknown as { context: StoreContext }).context;
      const totals = new WorkerTotals(
        context,
        "q",
        (work) => work,
        () => {},
      );
      const marks = new StartMarks(context, 60_000, totals, () => {});
      const [held, takenBack] = (await store.jobs.enqueue([
        { queue: "q", name: "held" },
        { queue: "q", name: "taken back" },
      ])) as [string, string];
      // Both running under the worker's reservation, as its claim leaves them.
      expect(await store.jobs.claim({ queue: "q", workerId: "w", limit: 2 })).toHaveLength(2);
      await store.query(`update ${store.schema}.jobs set reserved_by = $1 where id = any($2::uuid[])`, [
        marks.worker,
        [held, takenBack],
      ]);
      marks.letGo(held);
      marks.letGo(takenBack);
      // Another worker's claim took one back: it is no longer reserved in this worker's name.
      await store.query(`update ${store.schema}.jobs set reserved_by = null where id = $1`, [takenBack]);

      await marks.forgetTakenBack();
      expect(marks.letGoIds).toEqual([held]);
      await store.close();
    });
  });
});
