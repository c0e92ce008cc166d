/**
 * Strict order per group (jobs.setLimits(queue, { strictOrder: true })): each group runs one job at a
 * time, in its order, and a job that failed and will be retried, was snoozed, or whose lease lapsed
 * holds the group's later jobs until it completes or goes dead; other groups go on. Exact with three
 * worker processes racing on the real server.
 */
import { describe, expect, it } from "vitest";
import { type LeasedJob, openStore, type Store, ValidationError } from "../../src/index.js";
import { startFixture } from "../support/fixture-process.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../support/harness.js";
import { until } from "../support/waiting.js";

const claim = (store: Store, workerId = "w", leaseMs?: number) =>
  store.jobs.claim({ queue: "ordered", workerId, limit: 10, leaseMs });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Claims until a claim takes something, and returns what it took: a job's retry or snooze time comes
 * when it comes, on a loaded machine too.
 */
async function claimWhenDue(store: Store): Promise<LeasedJob[]> {
  for (;;) {
    const claimed = await claim(store);
    if (claimed.length > 0) return claimed;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Long enough for what a test does before the retry or snooze time, however loaded the machine. */
const HOLD_MS = 2_000;

/** Enqueues jobs a, b, c in group g (in that order) and x in group h; returns nothing. */
async function seed(store: Store, options: { maxAttempts?: number } = {}) {
  await store.jobs.setLimits("ordered", { strictOrder: true });
  for (const name of ["a", "b", "c"]) {
    await store.jobs.enqueue({ queue: "ordered", name, group: "g", ...options });
  }
  await store.jobs.enqueue({ queue: "ordered", name: "x", group: "h" });
}

const names = (jobs: readonly LeasedJob[]) => jobs.map((job) => job.name).sort();

forEachDriver((driver) => {
  describe("strict order per group", () => {
    it("runs one job of a group at a time, and holds the rest while its first waits for a retry", async () => {
      const store = await driver.open();
      await seed(store);
      const first = await claim(store);
      expect(names(first)).toEqual(["a", "x"]);
      const a = first.find((job) => job.name === "a") as LeasedJob;
      const retryAt = new Date(Date.now() + HOLD_MS);
      const failed = await store.jobs.fail(a, { message: "once" }, { retryAt });
      // It keeps its place (its run time as it was); the job returned says when it runs again.
      expect([failed.status, failed.runAt]).toEqual(["waiting", retryAt]);
      expect((await store.jobs.get(a.id)).runAt).toEqual(a.runAt);
      // b and c wait behind a's retry; the other group is not held.
      await store.jobs.enqueue({ queue: "ordered", name: "y", group: "h" });
      expect(names(await claim(store))).toEqual([]);
      await store.jobs.complete(first.find((job) => job.name === "x") as LeasedJob);
      expect(names(await claim(store))).toEqual(["y"]);
      const retried = await claimWhenDue(store);
      expect(names(retried)).toEqual(["a"]);
      expect(await claim(store)).toEqual([]);
      await store.jobs.complete(retried[0] as LeasedJob);
      const next = await claim(store);
      expect(names(next)).toEqual(["b"]);
    });

    it("holds the group while its first job is snoozed", async () => {
      const store = await driver.open();
      await seed(store);
      const [a] = (await claim(store)).filter((job) => job.name === "a");
      await store.jobs.snooze(a as LeasedJob, new Date(Date.now() + HOLD_MS));
      expect(names(await claim(store))).toEqual([]);
      const again = await claimWhenDue(store);
      expect(names(again)).toEqual(["a"]);
      await store.jobs.complete(again[0] as LeasedJob);
      expect(names(await claim(store))).toEqual(["b"]);
    });

    it("serves a woken group past groups held for their retries, and ends a hold with its job", async () => {
      const store = await driver.open();
      await store.jobs.setLimits("ordered", { strictOrder: true });
      const one = (group: string, name: string) => store.jobs.enqueue({ queue: "ordered", name, group });
      // z runs dry first, so a job enqueued for it later comes through its wake-up.
      await one("z", "z1");
      await store.jobs.complete((await claim(store))[0] as LeasedJob);
      for (const group of ["a", "b", "c"]) await one(group, `${group}1`);
      await one("a", "a2");
      const later = new Date(Date.now() + 60_000);
      for (const job of await claim(store))
        await store.jobs.fail(job, { message: "down" }, { retryAt: later });
      await one("z", "z2");
      const [next] = await store.jobs.claim({ queue: "ordered", workerId: "w", limit: 1 });
      expect(next?.name).toBe("z2");
      // Cancelling the job a group is held for ends the hold: the next job of the group runs.
      const a1 = (await store.jobs.list({ queue: "ordered" })).find((job) => job.name === "a1");
      await store.jobs.cancel([a1?.id as string]);
      expect(names(await claim(store))).toEqual(["a2"]);
      // Turning strict order off ends the others, not their jobs' retry times.
      await store.jobs.setLimits("ordered", { strictOrder: false });
      expect(names(await claim(store))).toEqual([]);
      const retries = (await store.jobs.list({ queue: "ordered" })).filter((job) => job.status === "waiting");
      expect(retries.map((job) => [job.name, job.runAt]).sort()).toEqual([
        ["b1", later],
        ["c1", later],
      ]);
    });

    it("keeps a failed job's retry time when strict order is turned off, while its group goes on", async () => {
      const store = await driver.open();
      await seed(store);
      const [a] = (await claim(store)).filter((job) => job.name === "a");
      const retryAt = new Date(Date.now() + 60_000);
      await store.jobs.fail(a as LeasedJob, { message: "once" }, { retryAt });
      await store.jobs.setLimits("ordered", { strictOrder: false });
      expect(names(await claim(store))).toEqual(["b", "c"]);
      expect((await store.jobs.get(a?.id as string)).runAt).toEqual(retryAt);
    });

    it("lets the group go on once its first job goes dead", async () => {
      const store = await driver.open();
      await seed(store, { maxAttempts: 1 });
      const [a] = (await claim(store)).filter((job) => job.name === "a");
      const dead = await store.jobs.fail(a as LeasedJob, { message: "fatal" });
      expect(dead.status).toBe("dead");
      expect(names(await claim(store))).toEqual(["b"]);
    });

    it("takes back the first job whose lease lapsed before any later one", async () => {
      const store = await driver.open();
      await seed(store);
      const first = await claim(store, "w1", 50);
      expect(names(first)).toEqual(["a", "x"]);
      await sleep(120);
      const taken = await claim(store, "w2");
      expect(names(taken)).toEqual(["a", "x"]);
      expect(taken.every((job) => job.leaseOwner === "w2")).toBe(true);
    });

    it("sets, shows and clears the setting, and refuses a bad one with nothing written", async () => {
      const store = await driver.open();
      expect((await store.jobs.limits("ordered")).strictOrder).toBe(false);
      expect(await store.jobs.setLimits("ordered", { strictOrder: true, groupConcurrency: 3 })).toEqual({
        groupConcurrency: 3,
        rate: null,
        strictOrder: true,
      });
      // Other changes keep it.
      expect((await store.jobs.setLimits("ordered", { groupConcurrency: null })).strictOrder).toBe(true);
      await expect(store.jobs.setLimits("ordered", { strictOrder: "yes" } as never)).rejects.toThrow(
        ValidationError,
      );
      await expect(store.jobs.setLimits("other", { strictOrder: 1 } as never)).rejects.toThrow(
        ValidationError,
      );
      expect((await store.jobs.limits("ordered")).strictOrder).toBe(true);
      expect((await store.jobs.limits("other")).strictOrder).toBe(false);
      expect((await store.jobs.setLimits("ordered", { strictOrder: false })).strictOrder).toBe(false);
      // Without it, a failed first job no longer holds its group.
      await store.jobs.enqueue(["a", "b"].map((name) => ({ queue: "ordered", name, group: "g" })));
      const [a] = await store.jobs.claim({ queue: "ordered", workerId: "w", limit: 1 });
      expect(a?.name).toBe("a");
      await store.jobs.fail(a as LeasedJob, { message: "once" }, { retryAt: new Date(Date.now() + 60_000) });
      expect(names(await claim(store))).toEqual(["b"]);
    });
  });
});

describe("postgres", () => {
  it("keeps each group in order, one run at a time, under 3 racing worker processes with retries and snoozes", {
    timeout: 180_000,
  }, async () => {
    const url = await fileDatabaseUrl();
    const schema = uniqueSchema("strict");
    const store = await openStore({ connection: url, schema });
    await store.query(
      `create table "${schema}".runs (id serial primary key, job_id uuid not null, grp text not null,
         place int not null, attempt int not null, pid int not null,
         started timestamptz not null default clock_timestamp(), ended timestamptz, outcome text)`,
    );
    await store.jobs.setLimits("ordered", { strictOrder: true });
    const GROUPS = 8;
    const PER_GROUP = 15;
    await store.jobs.enqueue(
      Array.from({ length: PER_GROUP }, (_, place) =>
        Array.from({ length: GROUPS }, (_, g) => ({
          queue: "ordered",
          name: "step",
          group: `g${g}`,
          payload: { group: `g${g}`, place },
          backoff: { baseMs: 20, maxMs: 20 },
        })),
      ).flat(),
    );
    const children = Array.from({ length: 3 }, () => startFixture("strict-order-worker.ts", [url, schema]));
    try {
      const done = async () =>
        (
          await store.query<{ n: number }>(
            `select count(*)::int as n from "${schema}".runs where outcome = 'done'`,
          )
        ).rows[0]?.n;
      await until(async () => (await done()) === GROUPS * PER_GROUP, 150_000);
      const { rows } = await store.query<{
        grp: string;
        place: number;
        outcome: string;
        started: Date;
        ended: Date;
        pid: number;
      }>(`select grp, place, outcome, started, ended, pid from "${schema}".runs order by grp, started`);
      const byGroup = new Map<string, typeof rows>();
      for (const row of rows) byGroup.set(row.grp, [...(byGroup.get(row.grp) ?? []), row]);
      for (const [group, runs] of byGroup) {
        // In the order enqueued: a job's retry or snoozed run comes before any later job's run.
        const places = runs.map((run) => run.place);
        expect(places, group).toEqual([...places].sort((x, y) => x - y));
        // Each done once, one run at a time.
        expect(
          runs.filter((run) => run.outcome === "done").map((run) => run.place),
          group,
        ).toEqual(Array.from({ length: PER_GROUP }, (_, place) => place));
        for (let i = 1; i < runs.length; i++) {
          expect(
            (runs[i] as (typeof runs)[0]).started >= (runs[i - 1] as (typeof runs)[0]).ended,
            group,
          ).toBe(true);
        }
      }
      expect(rows.some((row) => row.outcome === "failed")).toBe(true);
      expect(rows.some((row) => row.outcome === "snoozed")).toBe(true);
      expect(new Set(rows.map((row) => row.pid)).size).toBeGreaterThan(1);
    } finally {
      for (const c of children) c.child.kill("SIGTERM");
      await Promise.all(children.map((c) => c.exited));
      await store.close();
    }
  });
});
