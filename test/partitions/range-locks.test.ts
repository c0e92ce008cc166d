/**
 * Making a range while the application works: runs wait in the default partitions (nothing made their
 * range in time), and a store that opens makes it, moving them, while their histories grow. The
 * opening never fails for it and the application's writes are never rolled back for it; a range whose
 * tables stay held is made later.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import type { HistoryRange } from "../../src/partitions/index.js";
import { forEachDriver, type TestDriver } from "../support/harness.js";
import { until, waitingOnLocks, warningLogger } from "../support/waiting.js";
import { everywhere, idAt, placeOf, seedAt } from "./fixtures.js";

const HOUR = 3_600_000;

/** A store whose ranges end within a day from now, and a run of the next range's day, in the default partitions. */
async function waitingRun(driver: TestDriver): Promise<{ store: Store; id: string; at: Date }> {
  const store = await driver.open({ partitions: { days: 1, aheadDays: 0 } });
  const last = (await store.listPartitions()).at(-1) as HistoryRange;
  const at = new Date(last.endsAt.getTime() + HOUR);
  const id = await seedAt(store, "running", idAt(at, 1));
  expect(await placeOf(store, id)).toEqual(everywhere("default"));
  return { store, id, at };
}

/** Another process's store on the same schema, which makes the ranges due (the run's among them) as it opens. */
function openAgain(driver: TestDriver, store: Store, logger = warningLogger()): Promise<Store> {
  return driver.open({ schema: store.schema, partitions: { days: 1, aheadDays: 4 }, logger });
}

/** The range `at` falls in, once made. */
async function rangeOf(store: Store, at: Date): Promise<HistoryRange | undefined> {
  return (await store.listPartitions()).find((r) => r.startsAt && r.startsAt <= at && at < r.endsAt);
}

/**
 * Opens the store again (making the ranges due, if the opening before left them for later) and checks
 * that the run moved whole into its range, with the history given.
 */
async function expectMoved(driver: TestDriver, store: Store, id: string, at: Date, types: string[]) {
  const logger = warningLogger();
  await openAgain(driver, store, logger);
  expect(logger.warnings).toEqual([]);
  const home = await rangeOf(store, at);
  expect(home).toBeDefined();
  expect(await placeOf(store, id)).toEqual(everywhere(home?.name as string));
  const history = (await store.events.list(id)).items;
  expect(history.map((event) => event.type)).toEqual(types);
  expect(history.map((event) => event.sequence)).toEqual(types.map((_, i) => i + 1));
}

/** A session of the test's own holding locks in a transaction until it commits. */
async function holder(driver: TestDriver, sql: string, values: unknown[]): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: (await driver.connection()) as string });
  await client.connect();
  await client.query("begin");
  await client.query(sql, values);
  return client;
}

forEachDriver((driver) => {
  describe("making a range while the application works", () => {
    it("moves the runs waiting in the default partitions when a store opens, their histories going on", async () => {
      const { store, id, at } = await waitingRun(driver);
      await store.events.append(id, [{ type: "before" }]);
      await expectMoved(driver, store, id, at, ["started", "step", "before"]);
      await store.events.append(id, [{ type: "after" }]);
      expect((await store.events.list(id)).items.map((event) => event.sequence)).toEqual([1, 2, 3, 4]);
    });

    // Between connections only: PGlite has one, on which nothing waits for another session.
    it.runIf(driver.concurrent)(
      "never makes an append the deadlock's victim, when the append waits on the move first",
      async () => {
        const { store, id, at } = await waitingRun(driver);
        // Another session holds the run's correlation: the range making must wait for it partway.
        const other = await holder(
          driver,
          `select 1 from "${store.schema}".correlations where execution_id = $1 for update`,
          [id],
        );
        let opened: Promise<Store> | undefined;
        try {
          opened = openAgain(driver, store);
          await until(async () => (await waitingOnLocks(store)) >= 1);
          // An append outside any transaction of the caller's, while the move is under way.
          let settled = false;
          const appended = store.events.append(id, [{ type: "during" }]).finally(() => {
            settled = true;
          });
          appended.catch(() => {});
          await until(async () => settled || (await waitingOnLocks(store)) >= 2);
          await other.query("commit");
          expect((await appended).map((event) => event.type)).toEqual(["during"]);
          await opened;
        } finally {
          await other.end();
          await opened?.catch(() => {});
        }
        await expectMoved(driver, store, id, at, ["started", "step", "during"]);
      },
    );

    it.runIf(driver.concurrent)(
      "opens even when a transaction of the application that the move waits on then waits on the move",
      async () => {
        const { store, id, at } = await waitingRun(driver);
        let settled = false;
        let opened: Promise<Store> | undefined;
        // The run's worker, in a transaction: it appends, then replays its first step's checkpoint each
        // time the range making waits on it, as often as the opening would try the range again.
        const work = store.transaction(async (tx) => {
          await tx.events.append(id, [{ type: "in-transaction" }]);
          opened = openAgain(driver, store).finally(() => {
            settled = true;
          });
          opened.catch(() => {});
          for (let round = 0; round < 4 && !settled; round++) {
            await until(async () => settled || (await waitingOnLocks(store)) >= 1);
            const { created } = await tx.steps.record({
              executionId: id,
              number: 0,
              name: "validate",
              output: { ok: true },
            });
            expect(created).toBe(false);
          }
        });
        await work;
        await expect(opened).resolves.toBeDefined();
        await expectMoved(driver, store, id, at, ["started", "step", "in-transaction"]);
      },
    );

    it.runIf(driver.concurrent)(
      "opens with a warning when the tables stay held, and makes the range at the next try",
      async () => {
        const { store, id, at } = await waitingRun(driver);
        const reader = await holder(driver, `select count(*) from "${store.schema}".events`, []);
        const logger = warningLogger();
        try {
          await openAgain(driver, store, logger);
          expect(logger.warnings.some((w) => w.includes("partitions"))).toBe(true);
          expect(await rangeOf(store, at)).toBeUndefined();
          expect(await placeOf(store, id)).toEqual(everywhere("default"));
        } finally {
          await reader.query("commit");
          await reader.end();
        }
        // The next opening makes it.
        await expectMoved(driver, store, id, at, ["started", "step"]);
      },
    );
  });
});
