/**
 * Cron schedules on every driver: set, get, list, delete, pause and resume; bad input refused with
 * nothing written; dispatch enqueueing one job per tick, and what a gap does with skip and backfill.
 * Schedules are made due by moving their next tick into the past, never by waiting for the clock.
 */
import { describe, expect, it } from "vitest";
import {
  type Job,
  NotFoundError,
  openStore,
  ReadOnlyError,
  type Schedule,
  type ScheduleTick,
  type SetSchedule,
  type Store,
  ValidationError,
} from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const DAY_MS = 86_400_000;
const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Moves the schedule's next tick to midnight UTC `daysAgo` days back (a tick of a daily "0 0 * * *"). */
async function dueSince(store: Store, name: string, daysAgo: number): Promise<Date> {
  const { rows } = await store.query<{ at: Date }>(
    `update ${store.schema}.schedules
        set next_run_at = date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - $2 * interval '1 day'
      where name = $1 returning next_run_at as at`,
    [name, daysAgo],
  );
  return (rows[0] as { at: Date }).at;
}

async function jobs(store: Store, queue = "cron"): Promise<Job[]> {
  const all = await store.jobs.list({ queue, limit: 1000 });
  return all.sort((a, b) => a.runAt.getTime() - b.runAt.getTime());
}

function tickOf(job: Job): ScheduleTick {
  return (job.payload as { _schedule: ScheduleTick })._schedule;
}

async function tableRows(store: Store): Promise<unknown[]> {
  const { rows } = await store.query(`select * from ${store.schema}.schedules order by name`);
  return rows;
}

const daily: SetSchedule = { name: "report", cron: "0 0 * * *", queue: "cron", payload: { kind: "daily" } };

forEachDriver((driver) => {
  describe("schedules", () => {
    it("sets, gets, lists, replaces and deletes", async () => {
      const store = await driver.open();
      const set = await store.schedules.set(daily);
      expect(set).toMatchObject({
        name: "report",
        cron: "0 0 * * *",
        timeZone: "UTC",
        queue: "cron",
        jobName: "report",
        payload: { kind: "daily" },
        missed: "skip",
        backfillLimit: 100,
        jobOptions: {},
        lastRunAt: null,
        pausedAt: null,
        version: 1,
      });
      expect(set.nextRunAt.getTime() % DAY_MS).toBe(0);
      expect(set.nextRunAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(await store.schedules.get("report")).toEqual(set);

      await store.schedules.set({
        name: "berlin",
        cron: "30 2 * * *",
        timeZone: "Europe/Berlin",
        queue: "other",
        jobName: "cleanup",
        missed: "backfill",
        backfillLimit: 5,
        priority: 7,
        maxAttempts: 3,
        backoff: { baseMs: 10 },
      });
      expect((await store.schedules.list()).map((s) => s.name)).toEqual(["berlin", "report"]);
      expect(await store.schedules.get("berlin")).toMatchObject({
        jobName: "cleanup",
        missed: "backfill",
        backfillLimit: 5,
        jobOptions: { priority: 7, maxAttempts: 3, backoff: { baseMs: 10 } },
      });

      // Set again with the same cron and zone: the next tick stays (a gap is not forgotten).
      const past = await dueSince(store, "report", 3);
      const same = await store.schedules.set({ ...daily, payload: { kind: "new" } });
      expect(same).toMatchObject({ version: 2, payload: { kind: "new" }, nextRunAt: past });
      // Another expression: the next tick is the new one's, after now.
      const hourly = await store.schedules.set({ ...daily, cron: "@hourly" });
      expect(hourly.version).toBe(3);
      expect(hourly.nextRunAt.getTime()).toBeGreaterThan(Date.now() - 60_000);

      expect(await store.schedules.delete("report")).toBe(true);
      expect(await store.schedules.delete("report")).toBe(false);
      await expect(store.schedules.get("report")).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.schedules.list()).map((s) => s.name)).toEqual(["berlin"]);
    });

    it("refuses bad input with a ValidationError and writes nothing", async () => {
      const store = await driver.open();
      await store.schedules.set(daily);
      const before = await tableRows(store);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const bad: [string, unknown][] = [
        ["cron", { ...daily, cron: "61 * * * *" }],
        ["cron", { ...daily, cron: "@fortnightly" }],
        ["cron", { ...daily, cron: "0 0 30 2 *" }],
        ["cron", { ...daily, cron: 5 }],
        ["timeZone", { ...daily, timeZone: "Europe/Atlantis" }],
        ["timeZone", { ...daily, timeZone: "UTC\u0000" }],
        ["name", { ...daily, name: "" }],
        ["name", { ...daily, name: "a\u0000b" }],
        ["name", { ...daily, name: "n".repeat(201) }],
        ["name", { ...daily, name: undefined }],
        ["queue", { ...daily, queue: "" }],
        ["queue", { ...daily, queue: "q\u0000" }],
        ["jobName", { ...daily, jobName: "\u0000" }],
        ["payload", { ...daily, payload: [1, 2] }],
        ["payload", { ...daily, payload: "text" }],
        ["payload", { ...daily, payload: new Date() }],
        ["payload", { ...daily, payload: new Map([["a", 1]]) }],
        ["payload", { ...daily, payload: { n: 10n } }],
        ["payload", { ...daily, payload: cyclic }],
        ["payload", { ...daily, payload: { text: "nul \u0000" } }],
        ["payload._schedule", { ...daily, payload: { _schedule: 1 } }],
        ["missed", { ...daily, missed: "all" }],
        ["backfillLimit", { ...daily, backfillLimit: 0 }],
        ["backfillLimit", { ...daily, backfillLimit: 1.5 }],
        ["priority", { ...daily, priority: "high" }],
        ["group", { ...daily, group: "" }],
        ["group", { ...daily, group: "a\u0000b" }],
        ["maxAttempts", { ...daily, maxAttempts: 0 }],
        ["backoff", { ...daily, backoff: 5 }],
        ["backoff.baseMs", { ...daily, backoff: { baseMs: -1 } }],
      ];
      for (const [field, input] of bad) {
        // Replacing "report" (or, for a bad name, making a new one).
        const error = await store.schedules.set(input as SetSchedule).catch((e: unknown) => e);
        expect(error, field).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field, field).toBe(field);
        if (field !== "name") {
          const other = await store.schedules
            .set({ ...(input as SetSchedule), name: "other" })
            .catch((e) => e);
          expect(other, field).toBeInstanceOf(ValidationError);
        }
      }
      await expect(store.schedules.set(null as unknown as SetSchedule)).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.schedules.get("\u0000")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.schedules.delete("")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.schedules.dispatchDue({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      expect(await tableRows(store)).toEqual(before);
    });

    it("dispatches a due tick as one job, with its key and the tick in the payload, once", async () => {
      const store = await driver.open();
      await store.schedules.set({
        ...daily,
        jobName: "send-report",
        priority: 3,
        maxAttempts: 2,
        group: "acme",
      });
      const tick = await dueSince(store, "report", 0);
      expect(await store.schedules.dispatchDue()).toBe(1);
      expect(await store.schedules.dispatchDue()).toBe(0);
      const [job, ...more] = await jobs(store);
      expect(more).toEqual([]);
      expect(job).toMatchObject({
        queue: "cron",
        name: "send-report",
        priority: 3,
        maxAttempts: 2,
        group: "acme",
        runAt: tick,
        key: `schedule:report:${tick.toISOString()}`,
        payload: {
          kind: "daily",
          _schedule: { name: "report", tick: tick.toISOString(), backfilled: false },
        },
      });
      const after = await store.schedules.get("report");
      expect(after.lastRunAt).toEqual(tick);
      expect(after.lastDispatchedAt).not.toBeNull();
      expect(after.nextRunAt.getTime()).toBe(tick.getTime() + DAY_MS);
      expect((await store.jobs.totals("cron"))[0]?.enqueued).toBe(1);

      // The tick again while its job still waits (the schedule's row set back): the key holds it.
      await dueSince(store, "report", 0);
      expect(await store.schedules.dispatchDue()).toBe(1);
      expect((await jobs(store)).map((j) => j.id)).toEqual([job?.id]);
    });

    it("after a gap, skip enqueues only the latest missed tick", async () => {
      const store = await driver.open();
      await store.schedules.set(daily);
      const since = await dueSince(store, "report", 5);
      expect(await store.schedules.dispatchDue()).toBe(1);
      const [job, ...more] = await jobs(store);
      expect(more).toEqual([]);
      const { lastRunAt, nextRunAt } = await store.schedules.get("report");
      expect(lastRunAt?.getTime()).toBe(since.getTime() + 5 * DAY_MS);
      expect(job?.runAt).toEqual(lastRunAt);
      expect(tickOf(job as Job)).toMatchObject({ tick: lastRunAt?.toISOString(), backfilled: false });
      expect(nextRunAt.getTime()).toBe((lastRunAt as Date).getTime() + DAY_MS);
    });

    it("after a gap, backfill enqueues each missed tick, oldest first, up to its limit", async () => {
      const store = await driver.open();
      await store.schedules.set({ ...daily, missed: "backfill" });
      const since = await dueSince(store, "report", 5);
      expect(await store.schedules.dispatchDue()).toBe(6);
      const all = await jobs(store);
      expect(all.map((j) => j.runAt.getTime())).toEqual(
        [0, 1, 2, 3, 4, 5].map((d) => since.getTime() + d * DAY_MS),
      );
      expect(all.map((j) => tickOf(j).backfilled)).toEqual([true, true, true, true, true, false]);
      // Oldest first: of equal priority, a worker claims them in that order.
      const claimed = await store.jobs.claim({ queue: "cron", workerId: "w", limit: 6 });
      expect(claimed.map((j) => j.runAt.getTime())).toEqual(all.map((j) => j.runAt.getTime()));

      await store.schedules.set({
        ...daily,
        name: "capped",
        queue: "capped",
        missed: "backfill",
        backfillLimit: 3,
      });
      const cappedSince = await dueSince(store, "capped", 30);
      expect(await store.schedules.dispatchDue()).toBe(3);
      expect((await jobs(store, "capped")).map((j) => j.runAt.getTime())).toEqual(
        [28, 29, 30].map((d) => cappedSince.getTime() + d * DAY_MS),
      );
    });

    it("a paused schedule enqueues nothing; resumed, it goes on from its next tick after now", async () => {
      const store = await driver.open();
      await store.schedules.set({ ...daily, missed: "backfill" });
      expect(await store.schedules.pause("report")).toBe(true);
      expect(await store.schedules.pause("report")).toBe(false);
      await dueSince(store, "report", 3);
      expect(await store.schedules.dispatchDue()).toBe(0);
      expect((await store.schedules.get("report")).pausedAt).not.toBeNull();
      // Set again while paused: it stays paused.
      await store.schedules.set({ ...daily, missed: "backfill" });
      expect((await store.schedules.get("report")).pausedAt).not.toBeNull();
      expect(await store.schedules.resume("report")).toBe(true);
      expect(await store.schedules.resume("report")).toBe(false);
      expect(await store.schedules.resume("none")).toBe(false);
      const resumed = await store.schedules.get("report");
      expect(resumed.pausedAt).toBeNull();
      expect(resumed.nextRunAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(await store.schedules.dispatchDue()).toBe(0);
      expect(await jobs(store)).toEqual([]);
    });

    it("pauses a schedule it cannot dispatch, with a warning, and dispatches the others", async () => {
      const warnings: Record<string, unknown>[] = [];
      const logger = { ...silentLogger, warn: (entry: Record<string, unknown>) => warnings.push(entry) };
      const store = await driver.open({ logger, limits: { jsonBytes: 1000 } });
      for (const name of ["bad-cron", "bad-zone", "too-big", "good"]) {
        await store.schedules.set({ ...daily, name });
        await dueSince(store, name, 1);
      }
      // Within the limits alone, not once each job's tick is added: set refuses it.
      const big = { text: "x".repeat(960) };
      await expect(store.schedules.set({ ...daily, name: "too-big", payload: big })).rejects.toThrow(
        ValidationError,
      );
      await store.query(`update ${store.schema}.schedules set payload = $1 where name = 'too-big'`, [big]);
      // As another process might have written them: what this one does not know, or refuses.
      await store.query(
        `update ${store.schema}.schedules set cron = '0 0 * * * * *' where name = 'bad-cron'`,
      );
      await store.query(
        `update ${store.schema}.schedules set time_zone = 'Mars/Base' where name = 'bad-zone'`,
      );
      expect(await store.schedules.dispatchDue()).toBe(1);
      expect((await jobs(store)).map((j) => tickOf(j).name)).toEqual(["good"]);
      const paused = (await store.schedules.list()).filter((s) => s.pausedAt !== null).map((s) => s.name);
      expect(paused).toEqual(["bad-cron", "bad-zone", "too-big"]);
      expect(warnings.map((w) => w.schedule).sort()).toEqual(["bad-cron", "bad-zone", "too-big"]);
      expect(await store.schedules.dispatchDue()).toBe(0);
    });

    it("in a transaction: set and dispatch count only if it commits", async () => {
      const store = await driver.open();
      await expect(
        store.transaction(async (tx) => {
          await tx.schedules.set(daily);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.schedules.list()).toEqual([]);
      await store.schedules.set(daily);
      const tick = await dueSince(store, "report", 0);
      await expect(
        store.transaction(async (tx) => {
          expect(await tx.schedules.dispatchDue()).toBe(1);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await jobs(store)).toEqual([]);
      expect((await store.schedules.get("report")).nextRunAt).toEqual(tick);
      expect(await store.schedules.dispatchDue()).toBe(1);
    });

    it("the dispatcher enqueues due schedules until the store closes", async () => {
      const store = await driver.open();
      const schema = store.schema;
      await store.schedules.set(daily);
      await store.schedules.set({ ...daily, name: "weekly", cron: "@weekly" });
      const dispatcher = store.schedules.startDispatcher({ pollIntervalMs: 20 });
      await dueSince(store, "report", 2);
      await until(async () => (await jobs(store)).length === 1);
      await dueSince(store, "weekly", 0);
      await until(async () => (await jobs(store)).length === 2);
      await dispatcher.stop();
      await dispatcher.stop();

      // One started and left running: close() stops it.
      const other = await openStore({
        connection: await driver.connection(),
        schema,
        logger: silentLogger,
      });
      other.schedules.startDispatcher({ pollIntervalMs: 20 });
      await other.close();
      expect(() => other.schedules.startDispatcher()).toThrow();
    });

    it("a read-only store refuses to set or dispatch", async () => {
      const store = await driver.open();
      await store.schedules.set(daily);
      const reader = await openStore({
        connection: await driver.connection(),
        schema: store.schema,
        readOnly: true,
        logger: silentLogger,
      });
      try {
        expect((await reader.schedules.list()).map((s: Schedule) => s.name)).toEqual(["report"]);
        expect(() => reader.schedules.startDispatcher()).toThrow(ReadOnlyError);
        await expect(reader.schedules.set({ ...daily, name: "new" })).rejects.toBeInstanceOf(ReadOnlyError);
        await expect(reader.schedules.delete("report")).rejects.toBeInstanceOf(ReadOnlyError);
        await dueSince(store, "report", 0);
        await expect(reader.schedules.dispatchDue()).rejects.toBeInstanceOf(ReadOnlyError);
      } finally {
        await reader.close();
      }
      expect(await jobs(store)).toEqual([]);
      expect((await store.schedules.list()).map((s) => s.name)).toEqual(["report"]);
    });

    it.runIf(driver.concurrent)("concurrent dispatches enqueue each tick once", async () => {
      const store = await driver.open({ pool: { max: 10 } });
      for (let i = 0; i < 10; i++) {
        await store.schedules.set({ ...daily, name: `s${i}`, missed: "backfill" });
        await dueSince(store, `s${i}`, 9);
      }
      const counts = await Promise.all(
        Array.from({ length: 8 }, () => store.schedules.dispatchDue({ limit: 2 })),
      );
      let total = counts.reduce((a, b) => a + b, 0);
      while (true) {
        const more = await store.schedules.dispatchDue();
        if (more === 0) break;
        total += more;
      }
      const all = await jobs(store);
      expect(total).toBe(100);
      expect(all).toHaveLength(100);
      expect(new Set(all.map((j) => j.key)).size).toBe(100);
    });
  });
});
