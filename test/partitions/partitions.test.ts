/**
 * History partitioned by time: a run's rows sit in the partitions of the range its id's time falls in,
 * rows of a range not made yet wait in the default partitions and move when it is made, and retention
 * drops a range whole, moving the runs that may not go yet (still going, or tied to one that is) to the
 * default partitions with everything they own.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { ConflictError } from "../../src/index.js";
import {
  addDays,
  dropRange,
  EXECUTIONS,
  ensureRanges,
  type HistoryRange,
  partitionOf,
  RangeChangedError,
} from "../../src/partitions/index.js";
import { forEachDriver } from "../support/harness.js";
import { rowsOf } from "../support/retention-fixtures.js";
import { until, waitingOnLocks } from "../support/waiting.js";
import { everywhere, idAt, placeOf, seedAt } from "./fixtures.js";

const HOUR = 3_600_000;
const DAILY = { days: 1, aheadDays: 3 };

forEachDriver((driver) => {
  describe("history partitions", () => {
    it("makes the days ahead when the store opens, and puts a run's rows in its day's partitions", async () => {
      const store = await driver.open({ partitions: DAILY });
      const ranges = await store.listPartitions();
      expect(ranges[0]).toMatchObject({ name: "legacy", startsAt: null });
      expect(ranges.length).toBeGreaterThanOrEqual(4);
      for (const [i, range] of ranges.entries()) {
        if (i > 0) expect(range.startsAt).toEqual(ranges[i - 1]?.endsAt);
      }
      expect(ranges.at(-1)?.endsAt.getTime()).toBeGreaterThan(Date.now() + 3 * 24 * HOUR);
      // Opening again makes nothing new.
      expect(await store.ensurePartitions()).toEqual([]);

      const day = ranges[2] as HistoryRange;
      const id = await seedAt(store, "running", idAt(new Date(day.startsAt as Date), 1));
      expect(await placeOf(store, id)).toEqual(everywhere(day.name as string));
      // Read back through the partitioned tables as through any other.
      expect((await store.executions.get(id)).status).toBe("running");
      expect((await store.events.list(id)).items.map((e) => e.type)).toEqual(["started", "step"]);
      // Every partition of executions leaves 30% of a page free, the first range's as those made now.
      const { rows } = await store.driver.query<{ options: string[] | null }>(
        `select c.reloptions as options from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where i.inhparent = '"${store.schema}".executions'::regclass`,
      );
      expect(rows.length).toBe(ranges.length + 1);
      for (const row of rows) expect(row.options).toEqual(["fillfactor=70"]);
    });

    it("makes ranges as long as the store was set to, whoever opens it after", async () => {
      const store = await driver.open({ partitions: DAILY });
      const context = { db: store.driver, q: `"${store.schema}"` };
      // Opened without a length, as the command opens it: the next ranges are a day each too.
      const made = await ensureRanges(context, { aheadDays: 10 });
      expect(made.length).toBeGreaterThanOrEqual(6);
      for (const range of made)
        expect(range.endsAt.getTime() - (range.startsAt as Date).getTime()).toBe(24 * HOUR);
      // A length given applies from the next range on, and is kept.
      const weekly = await ensureRanges(context, { days: 7, aheadDays: 20 });
      expect(weekly.map((r) => r.endsAt.getTime() - (r.startsAt as Date).getTime())).toEqual([
        7 * 24 * HOUR,
        7 * 24 * HOUR,
      ]);
      const after = await ensureRanges(context, { aheadDays: 25 });
      expect(after.map((r) => r.endsAt.getTime() - (r.startsAt as Date).getTime())).toEqual([7 * 24 * HOUR]);
    });

    it("keeps rows of a range not made yet in the default partitions, and moves them in when it is made", async () => {
      const store = await driver.open({ partitions: { days: 1, aheadDays: 0 } });
      const ranges = await store.listPartitions();
      const last = ranges.at(-1)?.endsAt as Date;
      const early = idAt(addDays(last, 2), 1);
      const id = await seedAt(store, "running", early);
      const before = await rowsOf(store, id);
      expect(await placeOf(store, id)).toEqual(everywhere("default"));

      const made = await ensureRanges(
        { db: store.driver, q: `"${store.schema}"` },
        { days: 1, aheadDays: 4 },
        last,
      );
      const at = addDays(last, 2);
      const home = made.find((range) => range.startsAt && range.startsAt <= at && at < range.endsAt);
      expect(home).toBeDefined();
      expect(await placeOf(store, id)).toEqual(everywhere(home?.name as string));
      expect(await rowsOf(store, id)).toEqual(before);
      // Still whole: the correlation came back with it, and its history goes on where it stopped.
      expect((await store.correlations.resolve(`key-${id}`)).map((c) => c.executionId)).toEqual([id]);
      await store.events.append(id, [{ type: "later" }]);
      expect((await store.events.list(id)).items.map((e) => e.sequence)).toEqual([1, 2, 3]);
    });

    it("drops an aged range whole, moving the runs that may not go yet with all they own", async () => {
      const store = await driver.open({ partitions: DAILY });
      const ranges = await store.listPartitions();
      const day = ranges[1] as HistoryRange;
      const start = new Date(day.startsAt as Date);
      const done = await seedAt(store, "completed", idAt(start, 1));
      const going = await seedAt(store, "running", idAt(start, 2));
      // A finished parent whose child (of a later range) still runs stays, as its child does.
      const parent = await seedAt(store, "completed", idAt(start, 3));
      const child = await seedAt(store, "running", idAt(addDays(start, 1), 4), parent);
      await store.query(
        `update "${store.schema}".executions set idempotency_key = 'done-key' where id = $1`,
        [done],
      );
      await store.query(`insert into "${store.schema}".execution_keys values ('done-key', $1)`, [done]);
      const kept = { going: await rowsOf(store, going), parent: await rowsOf(store, parent) };

      // The cut is after the range's end (and the first range's): both go, the runs that stay move.
      const cut = new Date((day.endsAt as Date).getTime() + HOUR);
      const result = await store.prune({ finishedBefore: cut });
      expect(result).toMatchObject({ partitions: 2, executions: 1, movedExecutions: 2 });
      expect(Object.values(await rowsOf(store, done)).every((n) => n === 0)).toBe(true);
      expect((await store.listPartitions()).map((range) => range.name)).not.toContain(day.name);
      expect((await store.listPartitions()).map((range) => range.name)).not.toContain("legacy");
      expect(await rowsOf(store, going)).toEqual(kept.going);
      expect(await rowsOf(store, parent)).toEqual(kept.parent);
      expect(await placeOf(store, going)).toEqual(everywhere("default"));
      expect((await placeOf(store, child)).executions).not.toEqual(["default"]);

      // What the gone run held is free again: its key and its signal token.
      const again = await store.executions.start({ name: "d", idempotencyKey: "done-key" });
      expect(again.created).toBe(true);
      expect((await store.signals.claim(`signal-${done}`, going)).signal.executionId).toBe(going);
      // The run that stayed goes on: its history, its signal and its task tree are all there.
      await store.events.append(going, [{ type: "resumed" }]);
      expect((await store.events.list(going)).items.map((e) => e.sequence)).toEqual([1, 2, 3]);
      await expect(store.signals.claim(`signal-${going}`, child)).rejects.toBeInstanceOf(ConflictError);
      expect((await store.tasks.listInExecution(going)).size).toBe(3);

      // Once it finishes, it is pruned from the default partitions, row by row.
      await store.executions.update(child, { status: "completed" });
      await store.executions.update(going, { status: "completed" });
      const later = await store.prune({ finishedBefore: new Date(Date.now() + 60_000), partitions: false });
      expect(later.executions).toBeGreaterThanOrEqual(3);
      for (const id of [going, parent, child]) {
        expect(Object.values(await rowsOf(store, id)).every((n) => n === 0)).toBe(true);
      }
    });

    it.runIf(driver.concurrent)(
      "lets writes through while it waits for the tables, and moves what they wrote",
      async () => {
        const store = await driver.open({ partitions: DAILY });
        const day = (await store.listPartitions())[1] as HistoryRange;
        const going = await seedAt(store, "running", idAt(new Date(day.startsAt as Date), 1));
        // A reader holds the events table: the drop cannot have its lock until the reader is done.
        const reader = new pg.Client({ connectionString: (await driver.connection()) as string });
        await reader.connect();
        try {
          await reader.query("begin");
          await reader.query(`select count(*) from "${store.schema}".events`);
          const pruned = store.prune({ finishedBefore: new Date(day.endsAt.getTime() + HOUR) });
          await until(async () => (await waitingOnLocks(store)) >= 1);
          // Meanwhile writes to the run that is to move go through: the drop lets go of the tables after
          // a short wait, so no writer queues behind it for long or meets it in a deadlock.
          for (let i = 0; i < 5; i++) await store.events.append(going, [{ type: `during-${i}` }]);
          await reader.query("commit");
          expect(await pruned).toMatchObject({ partitions: 2, movedExecutions: 1 });
        } finally {
          await reader.end();
        }
        const types = (await store.events.list(going)).items.map((e) => e.type);
        expect(types).toEqual(["started", "step", ...[0, 1, 2, 3, 4].map((i) => `during-${i}`)]);
        expect((await placeOf(store, going)).events).toEqual(["default"]);
      },
    );

    it("frees what a dropped range's runs held outside the partitions when none of them stays", async () => {
      const store = await driver.open({ partitions: DAILY });
      const s = `"${store.schema}"`;
      const day = (await store.listPartitions())[1] as HistoryRange;
      const done = await seedAt(store, "completed", idAt(new Date(day.startsAt as Date), 1));
      await store.query(`update ${s}.executions set idempotency_key = 'gone-key' where id = $1`, [done]);
      await store.query(`insert into ${s}.execution_keys values ('gone-key', $1)`, [done]);

      const result = await store.prune({ finishedBefore: new Date(day.endsAt.getTime() + HOUR) });
      expect(result).toMatchObject({ partitions: 2, executions: 1, movedExecutions: 0 });
      expect(Object.values(await rowsOf(store, done)).every((n) => n === 0)).toBe(true);
      // The registries name it no more: its key, its task ids, its correlation are free.
      const { rows } = await store.query(
        `select (select count(*) from ${s}.execution_keys where execution_id = $1)::int as keys,
                (select count(*) from ${s}.task_ids where execution_id = $1)::int as tasks`,
        [done],
      );
      expect(rows[0]).toEqual({ keys: 0, tasks: 0 });
      expect(await store.correlations.resolve(`key-${done}`)).toEqual([]);
      expect((await store.executions.start({ name: "d", idempotencyKey: "gone-key" })).created).toBe(true);
    });

    it("moves the finished runs of a status the prune was not asked for, dropping the others' range", async () => {
      const store = await driver.open({ partitions: DAILY });
      const day = (await store.listPartitions())[1] as HistoryRange;
      const start = new Date(day.startsAt as Date);
      const done = await seedAt(store, "completed", idAt(start, 1));
      const failed = await seedAt(store, "failed", idAt(start, 2));
      const cancelled = await seedAt(store, "cancelled", idAt(start, 3));
      const kept = { failed: await rowsOf(store, failed), cancelled: await rowsOf(store, cancelled) };

      const cut = new Date(day.endsAt.getTime() + HOUR);
      const result = await store.prune({ finishedBefore: cut, statuses: ["completed", "timed_out"] });
      expect(result).toMatchObject({ executions: 1, movedExecutions: 2 });
      expect((await store.listPartitions()).map((range) => range.name)).not.toContain(day.name);
      expect(Object.values(await rowsOf(store, done)).every((n) => n === 0)).toBe(true);
      expect(await rowsOf(store, failed)).toEqual(kept.failed);
      expect(await rowsOf(store, cancelled)).toEqual(kept.cancelled);
      expect(await placeOf(store, failed)).toEqual(everywhere("default"));
      expect((await store.executions.get(cancelled)).status).toBe("cancelled");
    });

    it("drops nothing when a run that was to go is made to stay meanwhile", async () => {
      const store = await driver.open({ partitions: DAILY });
      const day = (await store.listPartitions())[1] as HistoryRange;
      const done = await seedAt(store, "completed", idAt(new Date(day.startsAt as Date), 1));
      const before = await rowsOf(store, done);
      const q = `"${store.schema}"`;
      const executions = partitionOf(q, EXECUTIONS, day.name);
      const attempt = store.driver.transaction((tx) =>
        dropRange(tx, q, day.name, {
          keepExecutions: `select e.id from ${executions} e where e.status = 'running'`,
          keepJobsHistory: "select null::uuid as id where false",
          params: [],
          historyParams: [],
          // While what the run owns elsewhere is being deleted, it is made to run again.
          onGone: async () => {
            await tx.query(`update ${q}.executions set status = 'running' where id = $1`, [done]);
          },
        }),
      );
      await expect(attempt).rejects.toBeInstanceOf(RangeChangedError);
      // The transaction rolled back whole: the range, the run and all it owns are as they were.
      expect((await store.listPartitions()).map((range) => range.name)).toContain(day.name);
      expect(await rowsOf(store, done)).toEqual(before);
      expect((await store.executions.get(done)).status).toBe("completed");
    });

    it("keeps a range whose time has not ended, however old its runs' completion", async () => {
      const store = await driver.open({ partitions: DAILY });
      const ranges = await store.listPartitions();
      const day = ranges[2] as HistoryRange;
      const id = await seedAt(store, "completed", idAt(new Date(day.startsAt as Date), 1));
      // Cut inside the range: the run finished before it and goes, row by row; the range stays.
      const cut = new Date((day.startsAt as Date).getTime() + HOUR);
      const result = await store.prune({ finishedBefore: cut });
      expect(result.executions).toBe(1);
      expect(Object.values(await rowsOf(store, id)).every((n) => n === 0)).toBe(true);
      expect((await store.listPartitions()).map((range) => range.name)).toContain(day.name);
    });
  });
});
