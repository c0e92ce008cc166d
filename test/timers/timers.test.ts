import { describe, expect, it } from "vitest";
import { LeaseLostError, NotFoundError, type Store, uuidv7, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { statementCounter } from "../support/statement-counter.js";
import { unhandledDuring, until } from "../support/waiting.js";

async function count(store: Store, table: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.${table}`,
  );
  return rows[0]?.n ?? -1;
}

const inMs = (ms: number) => new Date(Date.now() + ms);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

forEachDriver((driver) => {
  describe("timers", () => {
    it("schedules, reschedules by (execution, name), lists, cancels", async () => {
      const store = await driver.open();
      const execution = uuidv7();
      const first = await store.timers.schedule({
        executionId: execution,
        name: "reminder",
        fireAt: inMs(60_000),
        payload: 1,
      });
      const again = await store.timers.schedule({
        executionId: execution,
        name: "reminder",
        fireAt: inMs(5_000),
        payload: 2,
      });
      expect(again.id).toBe(first.id);
      expect(again.payload).toBe(2);
      await store.timers.schedule({ executionId: execution, name: "deadline", fireAt: inMs(10_000) });
      await store.timers.schedule({ name: "global", fireAt: inMs(1_000) });
      await store.timers.schedule({ name: "global", fireAt: inMs(2_000) });
      expect((await store.timers.list(execution)).map((t) => t.name)).toEqual(["reminder", "deadline"]);
      expect((await store.timers.list(null)).map((t) => t.name)).toEqual(["global"]);
      expect((await store.timers.get(execution, "deadline")).executionId).toBe(execution);
      expect((await store.timers.next())?.name).toBe("global");
      expect(await store.timers.cancel(execution, "reminder")).toBe(true);
      expect(await store.timers.cancel(execution, "reminder")).toBe(false);
      await expect(store.timers.get(execution, "reminder")).rejects.toBeInstanceOf(NotFoundError);
      expect(await count(store, "timers")).toBe(2);
    });

    it("claims only due timers with a lease; ack removes; a rescheduled timer's old lease is lost", async () => {
      const store = await driver.open();
      await store.timers.schedule({ name: "due", fireAt: inMs(-1_000) });
      await store.timers.schedule({ name: "later", fireAt: inMs(60_000) });
      await store.timers.schedule({ name: "moved", fireAt: inMs(-500) });
      const claimed = await store.timers.claimDue({ workerId: "w", leaseMs: 60_000 });
      expect(claimed.map((t) => t.name)).toEqual(["due", "moved"]);
      expect(await store.timers.claimDue({ workerId: "other" })).toEqual([]);
      const [due, moved] = claimed as [(typeof claimed)[0], (typeof claimed)[0]];
      await store.timers.ack(due);
      await store.timers.schedule({ name: "moved", fireAt: inMs(30_000) });
      await expect(store.timers.ack(moved)).rejects.toBeInstanceOf(LeaseLostError);
      expect((await store.timers.listAll()).map((t) => t.name)).toEqual(["moved", "later"]);
    });

    it("an expired timer lease can be claimed again", async () => {
      const store = await driver.open();
      await store.timers.schedule({ name: "t", fireAt: inMs(-1_000) });
      const [first] = await store.timers.claimDue({ workerId: "dies" });
      await store.query(`update ${store.schema}.timers set lease_expires_at = now() - interval '1 second'`);
      const [second] = await store.timers.claimDue({ workerId: "rescuer" });
      expect(second?.id).toBe(first?.id);
      await expect(store.timers.ack(first as NonNullable<typeof first>)).rejects.toBeInstanceOf(
        LeaseLostError,
      );
      await store.timers.ack(second as NonNullable<typeof second>);
      expect(await count(store, "timers")).toBe(0);
    });

    it("dispatches due timers into the queue, once, as jobs with the timer's id", async () => {
      const store = await driver.open();
      const execution = uuidv7();
      const timer = await store.timers.schedule({
        executionId: execution,
        name: "wake",
        fireAt: inMs(-10),
        payload: { step: 3 },
        queue: "steps",
      });
      await store.timers.schedule({ name: "future", fireAt: inMs(60_000) });
      expect(await store.timers.dispatchDue()).toBe(1);
      expect(await store.timers.dispatchDue()).toBe(0);
      const job = await store.jobs.get(timer.id);
      expect(job).toMatchObject({
        queue: "steps",
        name: "wake",
        payload: { step: 3 },
        executionId: execution,
      });
      expect(await count(store, "timers")).toBe(1);
    });

    // Scheduling 1,000 timers one by one and firing them takes PGlite seconds, many more on a busy machine.
    it("fires 1,000 timers with random due times each exactly once and never early", {
      timeout: 150_000,
    }, async () => {
      const store = await driver.open();
      const fired = `${store.schema}.fired`;
      await store.query(
        `create table ${fired} (timer_id uuid not null, due timestamptz not null, at timestamptz not null default clock_timestamp())`,
      );
      const due = new Map<string, Date>();
      for (let i = 0; i < 1_000; i++) {
        const fireAt = inMs(Math.floor(Math.random() * 2_000));
        const timer = await store.timers.schedule({
          name: `t${i}`,
          fireAt,
          payload: { due: fireAt.toISOString() },
        });
        due.set(timer.id, fireAt);
      }
      const dispatcher = store.timers.startDispatcher({ pollIntervalMs: 50, limit: 200 });
      const worker = store.jobs.work({
        queue: "timers",
        concurrency: 4,
        pollIntervalMs: 50,
        handler: async (job) => {
          await store.query(`insert into ${fired} (timer_id, due) values ($1, $2)`, [
            job.id,
            (job.payload as { due: string }).due,
          ]);
        },
      });
      const deadline = Date.now() + 120_000;
      while ((await count(store, "fired")) < 1_000 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await dispatcher.stop();
      await worker.stop();
      const { rows } = await store.query<{ total: number; distinct_ids: number; early: number }>(
        `select count(*)::int as total, count(distinct timer_id)::int as distinct_ids,
                count(*) filter (where at < due)::int as early from ${fired}`,
      );
      expect(rows[0]).toEqual({ total: 1_000, distinct_ids: 1_000, early: 0 });
      expect(await count(store, "timers")).toBe(0);
    });

    it("the dispatcher idles while the only due timer is leased by someone else", async () => {
      const logger = statementCounter();
      const store = await driver.open({ logStatements: true, logger });
      await store.timers.schedule({ name: "held", fireAt: inMs(-1_000) });
      expect(await store.timers.claimDue({ workerId: "someone-else", leaseMs: 60_000 })).toHaveLength(1);
      logger.statements = 0;
      const dispatcher = store.timers.startDispatcher();
      await sleep(1_000);
      await dispatcher.stop();
      // One look (dispatchDue, then next) and a sleep until the next poll: not a spin of hundreds.
      expect(logger.statements).toBeLessThanOrEqual(6);
      expect(await count(store, "timers")).toBe(1);
      expect(await count(store, "jobs")).toBe(0);
    });

    it("the dispatcher fires a leased timer when its lease expires, before its next poll", async () => {
      const store = await driver.open();
      await store.timers.schedule({ name: "abandoned", fireAt: inMs(-1_000) });
      const [leased] = await store.timers.claimDue({ workerId: "dies", leaseMs: 300 });
      const dispatcher = store.timers.startDispatcher({ pollIntervalMs: 60_000 });
      const deadline = Date.now() + 10_000;
      while ((await count(store, "jobs")) === 0 && Date.now() < deadline) await sleep(50);
      await dispatcher.stop();
      expect((await store.jobs.get(leased?.id as string)).name).toBe("abandoned");
      expect(await count(store, "timers")).toBe(0);
    });

    it.skipIf(!driver.concurrent)(
      "the dispatcher backs off while a due timer's row is locked by an open transaction",
      async () => {
        const logger = statementCounter();
        const store = await driver.open({ logStatements: true, logger });
        await store.timers.schedule({ name: "locked", fireAt: inMs(-1_000) });
        let release: () => void = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked: () => void = () => {};
        const isLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const holder = store.transaction(async (tx) => {
          await tx.query(`select id from ${store.schema}.timers for update`);
          locked();
          await released;
        });
        await isLocked;
        logger.statements = 0;
        const dispatcher = store.timers.startDispatcher();
        await sleep(1_000);
        const during = logger.statements;
        release();
        await holder;
        const deadline = Date.now() + 10_000;
        while ((await count(store, "jobs")) === 0 && Date.now() < deadline) await sleep(50);
        await dispatcher.stop();
        // Retries every 50 ms at most (two statements each), not a spin of hundreds a second.
        expect(during).toBeLessThanOrEqual(60);
        expect(await count(store, "timers")).toBe(0);
      },
    );

    it("the dispatcher still picks up new timers while another is leased", async () => {
      const store = await driver.open();
      await store.timers.schedule({ name: "held", fireAt: inMs(-1_000) });
      await store.timers.claimDue({ workerId: "someone-else", leaseMs: 60_000 });
      const dispatcher = store.timers.startDispatcher({ pollIntervalMs: 50 });
      await sleep(100);
      const fresh = await store.timers.schedule({ name: "fresh", fireAt: inMs(0) });
      const deadline = Date.now() + 10_000;
      while ((await count(store, "jobs")) === 0 && Date.now() < deadline) await sleep(50);
      await dispatcher.stop();
      expect((await store.jobs.get(fresh.id)).name).toBe("fresh");
      expect((await store.timers.listAll()).map((t) => t.name)).toEqual(["held"]);
    });

    it("the dispatcher goes on after an onError that throws, and leaves no unhandled rejection", async () => {
      const store = await driver.open();
      const t = `${store.schema}.timers`;
      const reported: unknown[] = [];
      const unhandled = await unhandledDuring(async () => {
        // While the table is away every pass fails.
        await store.query(`alter table ${t} rename to timers_away`);
        const dispatcher = store.timers.startDispatcher({
          pollIntervalMs: 20,
          onError: (error) => {
            reported.push(error);
            throw new Error("onError broke");
          },
        });
        await until(() => reported.length >= 2);
        await store.query(`alter table ${store.schema}.timers_away rename to timers`);
        const timer = await store.timers.schedule({ name: "after", fireAt: inMs(0) });
        await until(async () => (await count(store, "jobs")) === 1);
        await dispatcher.stop();
        expect((await store.jobs.get(timer.id)).name).toBe("after");
      });
      expect(unhandled).toEqual([]);
    });

    it("next() orders by when a timer can next fire: a live lease defers it to the lease's expiry", async () => {
      const store = await driver.open();
      expect(await store.timers.next()).toBeNull();
      await store.timers.schedule({ name: "held", fireAt: inMs(-1_000) });
      await store.timers.schedule({ name: "soon", fireAt: inMs(5_000) });
      expect((await store.timers.next())?.name).toBe("held");
      await store.timers.claimDue({ workerId: "w", leaseMs: 60_000 });
      expect((await store.timers.next())?.name).toBe("soon");
      await store.timers.cancel(null, "soon");
      const held = await store.timers.next();
      expect(held?.name).toBe("held");
      expect(held?.leaseOwner).toBe("w");
    });

    it("rejects bad input with ValidationError and writes nothing", async () => {
      const store = await driver.open();
      const bad = [
        { name: "", fireAt: new Date() },
        { name: "x", fireAt: new Date("invalid") },
        { name: "x\u0000", fireAt: new Date() },
        { name: "x", fireAt: new Date(), executionId: "not-a-uuid" },
        { name: "x", fireAt: new Date(), payload: { big: 1n } },
      ];
      for (const timer of bad)
        await expect(store.timers.schedule(timer)).rejects.toBeInstanceOf(ValidationError);
      expect(await count(store, "timers")).toBe(0);
    });
  });
});
