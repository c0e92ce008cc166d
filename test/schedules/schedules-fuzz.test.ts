/**
 * Property-based, as test/core/input-fuzz.test.ts: the schedules' write methods, given generated
 * input, either succeed and read back what they were given, or throw a ValidationError (or
 * NotFoundError) and leave every table, the schedules' rows included, as it was.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { SetSchedule, Store } from "../../src/index.js";
import {
  asJson,
  checkProperty,
  json,
  number,
  optionalText,
  text,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";

const cron = fc.oneof(
  fc.constantFrom("* * * * *", "0 3 * * *", "*/5 9-17 * * mon-fri", "@daily", "30 * * * * *", "0 0 1 jan *"),
  fc.constantFrom<unknown>("", "* * *", "61 * * * *", "0 0 30 2 *", "@never", "* * * * \u0000", 5, null),
  fc.string({ maxLength: 20 }),
);
const timeZone = fc.constantFrom<unknown>(
  undefined,
  "UTC",
  "Europe/Berlin",
  "America/New_York",
  "Nowhere/X",
  "",
  1,
);
const missed = fc.constantFrom<unknown>(undefined, "skip", "backfill", "all", 1);
const payload = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(fc.string({ maxLength: 5 }), json, { maxKeys: 3 }),
  json,
);

/** Every schedule's row, to see that a refused write changed none (a refused replace changes no count). */
async function scheduleRows(store: Store): Promise<unknown[]> {
  return (await store.query(`select * from ${store.schema}.schedules order by name`)).rows;
}

/** writeOrRefuse, and when the write was refused, every schedule's row as it was. */
async function setOrRefuse<T>(store: Store, write: () => Promise<T>, readBack: (result: T) => Promise<void>) {
  const before = await scheduleRows(store);
  let refused = true;
  await writeOrRefuse(
    store,
    async () => {
      const result = await write();
      refused = false;
      return result;
    },
    readBack,
  );
  if (refused) expect(await scheduleRows(store)).toEqual(before);
}

forEachDriver((driver) => {
  describe("schedule write methods, fuzzed", () => {
    let store: Store;
    beforeAll(async () => {
      store = await driver.open();
    });

    it("schedules.set", () =>
      checkProperty(
        [text, cron, timeZone, text, optionalText, payload, missed, fc.oneof(fc.constant(undefined), number)],
        (name, expression, zone, queue, jobName, given, policy, priority) =>
          setOrRefuse(
            store,
            () =>
              store.schedules.set({
                name,
                cron: expression,
                timeZone: zone,
                queue,
                jobName,
                payload: given,
                missed: policy,
                priority,
              } as SetSchedule),
            async (set) => {
              const read = await store.schedules.get(name as string);
              expect(read).toEqual(set);
              expect(read.cron).toBe(expression);
              expect(read.payload).toEqual(given === undefined ? {} : asJson(given));
              expect(read.nextRunAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
            },
          ),
      ));

    it("schedules.delete, pause and resume", () =>
      checkProperty([text, fc.constantFrom("delete", "pause", "resume")], (name, method) =>
        setOrRefuse(
          store,
          () => store.schedules[method](name as string),
          async (done) => expect(typeof done).toBe("boolean"),
        ),
      ));
  });
});
