/**
 * Groups share a queue fairly and keep to their concurrency limits, whoever claims; a queue's rate
 * limit holds across claims. Jobs without a group are served as one more group.
 */
import { describe, expect, it } from "vitest";
import { type LeasedJob, type Store, ValidationError } from "../../src/index.js";
import { rowCounts } from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const claim = (store: Store, queue: string, limit: number) =>
  store.jobs.claim({ queue, workerId: "w", limit });

const groupsOf = (jobs: LeasedJob[]) => jobs.map((job) => job.group);

async function enqueueMany(store: Store, queue: string, group: string | undefined, n: number) {
  await store.jobs.enqueue(
    Array.from({ length: n }, (_, i) => ({ queue, name: `${group ?? "none"}-${i}`, group })),
  );
}

forEachDriver((driver) => {
  describe("job groups", () => {
    it("serve a small tenant's job in the next claim, behind any number of another tenant's", async () => {
      const store = await driver.open();
      await enqueueMany(store, "fair", "big", 500);
      // The big tenant has been served for a while.
      expect(groupsOf(await claim(store, "fair", 10))).toEqual(Array(10).fill("big"));
      await store.jobs.enqueue({ queue: "fair", name: "one", group: "small", payload: { n: 1 } });
      const next = await claim(store, "fair", 10);
      expect(next.map((job) => job.name)).toContain("one");
      expect(next.find((job) => job.name === "one")).toMatchObject({ group: "small", payload: { n: 1 } });
      const listed = await store.jobs.get(next.find((job) => job.name === "one")?.id as string);
      expect(listed.group).toBe("small");
    });

    it("take turns: each claim shares its jobs between the groups, least recently served first", async () => {
      const store = await driver.open();
      for (const group of ["a", "b", "c"]) await enqueueMany(store, "turns", group, 4);
      for (let round = 0; round < 4; round++) {
        const jobs = await claim(store, "turns", 3);
        expect(groupsOf(jobs).sort()).toEqual(["a", "b", "c"]);
      }
      expect(await claim(store, "turns", 3)).toEqual([]);
    });

    it("serve jobs without a group as one more group, and fill a claim from one group alone", async () => {
      const store = await driver.open();
      await enqueueMany(store, "mixed", "g", 10);
      await enqueueMany(store, "mixed", undefined, 10);
      const jobs = await claim(store, "mixed", 4);
      expect(groupsOf(jobs).sort()).toEqual(["g", "g", null, null]);
      await enqueueMany(store, "alone", "only", 50);
      expect(await claim(store, "alone", 50)).toHaveLength(50);
    });

    it("keep each group within its concurrency limit across claims, freeing places as jobs end", async () => {
      const store = await driver.open();
      expect(await store.jobs.setLimits("limited", { groupConcurrency: 2 })).toEqual({
        groupConcurrency: 2,
        rate: null,
        strictOrder: false,
      });
      await enqueueMany(store, "limited", "a", 10);
      await enqueueMany(store, "limited", "b", 10);
      await store.jobs.setGroupLimit("limited", "b", 3);
      const first = await claim(store, "limited", 20);
      expect(groupsOf(first).sort()).toEqual(["a", "a", "b", "b", "b"]);
      expect(await claim(store, "limited", 20)).toEqual([]);
      await store.jobs.complete(first.find((job) => job.group === "a") as LeasedJob);
      const failed = first.find((job) => job.group === "b") as LeasedJob;
      await store.jobs.fail(failed, new Error("again"), { retryAt: new Date(Date.now() - 1000) });
      // A failure puts its job back to wait: it frees a place, and the job is among the group's again.
      expect(groupsOf(await claim(store, "limited", 20)).sort()).toEqual(["a", "b"]);
      await store.jobs.setGroupLimit("limited", "b", null);
      expect(groupsOf(await claim(store, "limited", 20))).toEqual([]);
      await store.jobs.setLimits("limited", { groupConcurrency: null });
      expect(await claim(store, "limited", 20)).toHaveLength(14);
      const groups = await store.jobs.groups("limited");
      expect(
        groups.map(({ name, concurrency, ready, running }) => ({ name, concurrency, ready, running })),
      ).toEqual([
        { name: "a", concurrency: null, ready: 0, running: 9 },
        { name: "b", concurrency: null, ready: 0, running: 10 },
      ]);
    });

    it("wake a group that ran dry when its jobs come back: retried, released, snoozed or promoted", async () => {
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "dry", name: "x", group: "g" });
      const [x] = await claim(store, "dry", 5);
      // The claim found the group empty behind x.
      expect(await claim(store, "dry", 5)).toEqual([]);
      await store.jobs.release(x as LeasedJob);
      const [again] = await claim(store, "dry", 5);
      expect(again?.id).toBe(x?.id);
      await store.jobs.snooze(again as LeasedJob, new Date(Date.now() - 1));
      const [snoozed] = await claim(store, "dry", 5);
      expect(snoozed?.id).toBe(x?.id);
      await store.jobs.enqueue({
        queue: "dry",
        name: "later",
        group: "g",
        runAt: new Date(Date.now() + 300),
      });
      expect(await claim(store, "dry", 5)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 400));
      // The claim promotes the due job, which wakes its group.
      expect((await claim(store, "dry", 5)).map((job) => job.name)).toEqual(["later"]);
      const stats = await store.jobs.stats("dry");
      expect(stats[0]).toMatchObject({ waiting: 0, running: 2 });
    });

    it("count grouped jobs in stats", async () => {
      const store = await driver.open();
      await enqueueMany(store, "counted", "g", 3);
      await enqueueMany(store, "counted", undefined, 2);
      expect((await store.jobs.stats("counted"))[0]).toMatchObject({ waiting: 5, ready: 5 });
      expect((await store.jobs.stats("counted"))[0]?.oldestReadyAgeSeconds).toBeGreaterThanOrEqual(0);
    });

    it("hold a queue to its rate: at most `limit` jobs claimed per window", async () => {
      const store = await driver.open();
      await store.jobs.setLimits("rated", { rate: { limit: 3, periodMs: 60_000 } });
      await enqueueMany(store, "rated", undefined, 5);
      await enqueueMany(store, "rated", "g", 5);
      expect(await claim(store, "rated", 10)).toHaveLength(3);
      expect(await claim(store, "rated", 10)).toEqual([]);
      expect(await store.jobs.limits("rated")).toEqual({
        groupConcurrency: null,
        rate: { limit: 3, periodMs: 60_000 },
        strictOrder: false,
      });
      // A new rate starts a new window.
      await store.jobs.setLimits("rated", { rate: { limit: 4, periodMs: 60_000 } });
      expect(await claim(store, "rated", 10)).toHaveLength(4);
      await store.jobs.setLimits("rated", { rate: null });
      expect(await claim(store, "rated", 10)).toHaveLength(3);
    });

    it("refuse bad groups and limits with ValidationError, writing nothing", async () => {
      const store = await driver.open();
      const before = await rowCounts(store);
      const bad: [() => Promise<unknown>, string][] = [
        [() => store.jobs.enqueue({ queue: "v", name: "n", group: "" }), "job.group"],
        [() => store.jobs.enqueue({ queue: "v", name: "n", group: "a\u0000b" }), "job.group"],
        [
          () => store.jobs.enqueue([{ queue: "v", name: "n", group: 7 as unknown as string }]),
          "jobs[0].group",
        ],
        [() => store.jobs.setLimits("v", { groupConcurrency: 0 }), "groupConcurrency"],
        [() => store.jobs.setLimits("v", { groupConcurrency: 1.5 }), "groupConcurrency"],
        [() => store.jobs.setLimits("v", { rate: { limit: 0, periodMs: 1000 } }), "rate.limit"],
        [() => store.jobs.setLimits("v", { rate: { limit: 1, periodMs: -1 } }), "rate.periodMs"],
        [() => store.jobs.setLimits("v", { rate: 5 as unknown as null }), "rate"],
        [() => store.jobs.setGroupLimit("v", "g", 0), "concurrency"],
        [() => store.jobs.setGroupLimit("v", "", 1), "group"],
      ];
      for (const [call, field] of bad) {
        const error = await call().catch((e: unknown) => e);
        expect(error, field).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field).toBe(field);
      }
      expect(await rowCounts(store)).toEqual(before);
    });

    it.skipIf(!driver.concurrent)("hold a group to its limit under claimers racing each other", async () => {
      const store = await driver.open({ pool: { max: 8 } });
      await store.jobs.setLimits("race", { groupConcurrency: 1 });
      for (const group of ["a", "b"]) await enqueueMany(store, "race", group, 60);
      const held = new Map<string, number>();
      let most = 0;
      let finished = 0;
      // Six claimers in a loop, each completing what it got after a moment: whatever the interleaving,
      // a group never has two jobs out at once.
      const claimer = async (n: number) => {
        while (finished < 120) {
          const jobs = await store.jobs.claim({ queue: "race", workerId: `c${n}`, limit: 4 });
          for (const job of jobs) {
            const count = (held.get(job.group as string) ?? 0) + 1;
            held.set(job.group as string, count);
            most = Math.max(most, count);
          }
          await new Promise((resolve) => setTimeout(resolve, jobs.length ? 1 : 5));
          for (const job of jobs) held.set(job.group as string, (held.get(job.group as string) ?? 1) - 1);
          if (jobs.length) await store.jobs.complete(jobs);
          finished += jobs.length;
        }
      };
      await Promise.all([1, 2, 3, 4, 5, 6].map(claimer));
      expect(finished).toBe(120);
      expect(most).toBe(1);
    });

    it("let workers share a group's limit, run every job, and never wait for a poll", async () => {
      const store = await driver.open();
      await store.jobs.setLimits("shared", { groupConcurrency: 2 });
      const running = new Map<string, number>();
      let most = 0;
      const done: string[] = [];
      const handler = async (job: LeasedJob) => {
        const group = job.group as string;
        running.set(group, (running.get(group) ?? 0) + 1);
        most = Math.max(most, running.get(group) ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running.set(group, (running.get(group) ?? 0) - 1);
        done.push(job.name);
      };
      // Polls an hour apart: only wake-ups (notifications, freed places, claims that say more wait)
      // keep these workers going.
      const workers = [1, 2].map(() =>
        store.jobs.work({ queue: "shared", concurrency: 8, pollIntervalMs: 3_600_000, handler }),
      );
      for (const group of ["a", "b", "c"]) await enqueueMany(store, "shared", group, 40);
      await until(() => done.length === 120);
      expect(most).toBeLessThanOrEqual(2);
      for (const worker of workers) await worker.stop();
    });
  });
});
