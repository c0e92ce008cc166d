/** Jobs, timers and schedules. */
import { expect } from "vitest";
import { type CallCase, call, running, unique } from "./case.js";

const past = () => new Date(Date.now() - 1000);

export const queueCases: CallCase[] = [
  call({
    call: "jobs.enqueue, get, list, cancel",
    prepare: async () => unique("queue"),
    run: async (tx, queue) => {
      const id = await tx.jobs.enqueue({ queue, name: "one", payload: { n: 1 } });
      const [kept, cancelled] = await tx.jobs.enqueue([
        { queue, name: "two", group: "g" },
        { queue, name: "three", key: unique("key") },
      ]);
      expect((await tx.jobs.get(id)).name).toBe("one");
      expect(await tx.jobs.list({ queue })).toHaveLength(3);
      expect(await tx.jobs.cancel([cancelled as string])).toEqual([cancelled]);
      expect(kept).toBeDefined();
    },
    after: async (store, queue) => expect(await store.jobs.list({ queue })).toHaveLength(2),
  }),
  call({
    call: "jobs.claim, complete, completeMany, heartbeat, release, fail, snooze, retry",
    prepare: async (store) => {
      const queue = unique("queue");
      await store.jobs.enqueue(["a", "b", "c", "d", "e"].map((name) => ({ queue, name, maxAttempts: 1 })));
      return queue;
    },
    run: async (tx, queue) => {
      const leases = await tx.jobs.claim({ queue, workerId: "w", limit: 5 });
      const by = (name: string) => leases.find((job) => job.name === name) as (typeof leases)[number];
      expect(leases).toHaveLength(5);
      await tx.jobs.complete(by("a"));
      expect(await tx.jobs.completeMany([by("b")], false)).toEqual([]); // no lease lost
      await tx.jobs.heartbeat(by("c"), { extendMs: 60_000 });
      await tx.jobs.release(by("c"));
      expect((await tx.jobs.fail(by("d"), new Error("no"))).status).toBe("dead");
      await tx.jobs.snooze(by("e"), new Date(Date.now() + 60_000));
      expect(await tx.jobs.retry([by("d").id])).toEqual([by("d").id]);
    },
    after: async (store, queue) => expect(await store.jobs.list({ queue })).toHaveLength(3),
  }),
  call({
    call: "jobs.stats, totals, workers, pause, paused, resume",
    prepare: async (store) => {
      const queue = unique("queue");
      await store.jobs.enqueue({ queue, name: "x" });
      return queue;
    },
    run: async (tx, queue) => {
      expect((await tx.jobs.stats(queue))[0]?.queue).toBe(queue);
      expect((await tx.jobs.totals(queue)).length).toBeGreaterThanOrEqual(0);
      expect(await tx.jobs.workers(queue)).toEqual([]);
      expect(await tx.jobs.pause(queue, { by: "test" })).toBe(true);
      expect((await tx.jobs.paused()).map((p) => p.queue)).toContain(queue);
      expect(await tx.jobs.resume(queue)).toBe(true);
      expect(await tx.jobs.pause(queue)).toBe(true);
    },
    after: async (store, queue) => expect((await store.jobs.paused()).map((p) => p.queue)).toContain(queue),
  }),
  call({
    call: "jobs.setLimits, limits, setGroupLimit, groups",
    prepare: async (store) => {
      const queue = unique("queue");
      await store.jobs.enqueue({ queue, name: "x", group: "g" });
      return queue;
    },
    run: async (tx, queue) => {
      expect((await tx.jobs.setLimits(queue, { groupConcurrency: 2 })).groupConcurrency).toBe(2);
      expect((await tx.jobs.limits(queue)).groupConcurrency).toBe(2);
      await tx.jobs.setGroupLimit(queue, "g", 3);
      expect((await tx.jobs.groups(queue)).map((g) => g.name)).toContain("g");
    },
    after: async (store, queue) => expect((await store.jobs.limits(queue)).groupConcurrency).toBe(2),
  }),
  call({
    call: "timers.schedule, get, list, listAll, next, cancel",
    prepare: running,
    run: async (tx, id) => {
      await tx.timers.schedule({ executionId: id, name: "t", fireAt: past(), payload: { n: 1 } });
      await tx.timers.schedule({ executionId: id, name: "gone", fireAt: past() });
      expect((await tx.timers.get(id, "t")).payload).toEqual({ n: 1 });
      expect(await tx.timers.list(id)).toHaveLength(2);
      expect((await tx.timers.listAll({ limit: 1000 })).length).toBeGreaterThan(0);
      expect(await tx.timers.next()).not.toBeNull();
      expect(await tx.timers.cancel(id, "gone")).toBe(true);
    },
    after: async (store, id) => expect(await store.timers.list(id)).toHaveLength(1),
  }),
  call({
    call: "timers.claimDue, ack, dispatchDue",
    prepare: async (store) => {
      const id = await running(store);
      await store.timers.schedule({ executionId: id, name: "leased", fireAt: past() });
      return id;
    },
    run: async (tx, id) => {
      const leased = (await tx.timers.claimDue({ workerId: unique("w"), limit: 1000 })).find(
        (timer) => timer.executionId === id,
      );
      expect(leased?.name).toBe("leased");
      await tx.timers.ack(leased as { id: string; leaseToken: string });
      await tx.timers.schedule({ executionId: id, name: "moved", fireAt: past(), queue: unique("q") });
      expect(await tx.timers.dispatchDue({ limit: 1000 })).toBeGreaterThan(0);
    },
    after: async (store, id) => expect(await store.timers.list(id)).toEqual([]),
  }),
  call({
    call: "schedules.set, get, list, pause, resume, delete, dispatchDue",
    prepare: async () => unique("schedule"),
    run: async (tx, name) => {
      await tx.schedules.set({ name, cron: "* * * * *", queue: unique("q") });
      await tx.schedules.set({ name: `${name}-gone`, cron: "0 * * * *", queue: "q" });
      expect((await tx.schedules.get(name)).cron).toBe("* * * * *");
      expect((await tx.schedules.list()).map((s) => s.name)).toContain(name);
      expect(await tx.schedules.pause(name)).toBe(true);
      expect(await tx.schedules.resume(name)).toBe(true);
      expect(await tx.schedules.delete(`${name}-gone`)).toBe(true);
      expect(await tx.schedules.dispatchDue()).toBeGreaterThanOrEqual(0);
    },
    after: async (store, name) => expect((await store.schedules.get(name)).pausedAt).toBeNull(),
  }),
  call({
    call: "timers.startDispatcher, schedules.startDispatcher",
    prepare: async () => [] as { stop(): Promise<void> }[],
    run: async (tx, loops) => {
      // Both loops run on the store, outside the transaction they were reached from, and outlive it
      // (on one connection they wait for it to end: they are stopped after).
      loops.push(tx.timers.startDispatcher({ pollIntervalMs: 60_000 }));
      loops.push(tx.schedules.startDispatcher({ pollIntervalMs: 60_000 }));
    },
    after: async (_, loops) => {
      expect(loops).toHaveLength(2);
      for (const loop of loops) await loop.stop();
    },
  }),
];
