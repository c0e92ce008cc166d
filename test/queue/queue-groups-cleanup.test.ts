/**
 * Groups with no jobs left and no limit of their own are deleted (with a worker's vacuum, a window of
 * groups at a time), never under an enqueue that is putting a job in one: a claim serves a group only
 * through its row, so such a job would never run.
 */
import { describe, expect, it } from "vitest";
import type { SqlContext } from "../../src/core/context.js";
import type { Queryable } from "../../src/db/driver.js";
import type { EnqueueJob, LeasedJob, Store } from "../../src/index.js";
import { deleteIdleGroups } from "../../src/queue/idle-groups.js";
import { forEachDriver } from "../support/harness.js";
import { until, waitingOnLocks } from "../support/waiting.js";

/** The deletion's SQL context over the store's own connections (queries and transactions only). */
function sqlOf(store: Store): SqlContext {
  const over = (scope: Pick<Store, "query">) =>
    ({ query: (text: string, values?: unknown[]) => scope.query(text, values) }) as unknown as Queryable;
  const db = {
    ...over(store),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => store.transaction((tx) => fn(over(tx))),
  } as unknown as Queryable;
  return { db, q: `"${store.schema}"` };
}

async function groupNames(store: Store, queue: string): Promise<string[]> {
  return (await store.jobs.groups(queue)).map((group) => group.name);
}

/** Runs every job of `group` to completion by hand, leaving the group without jobs. */
async function drain(store: Store, queue: string): Promise<void> {
  for (;;) {
    const jobs = await store.jobs.claim({ queue, workerId: "w", limit: 100 });
    if (jobs.length === 0) return;
    await store.jobs.complete(jobs);
  }
}

/**
 * Enqueues `job` in a transaction left open: resolves once the enqueue is in, with `release` to let
 * the transaction commit and `committed`, which resolves once it has.
 */
async function openEnqueue(
  store: Store,
  job: EnqueueJob,
): Promise<{ release: () => void; committed: Promise<void> }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let enqueued!: () => void;
  const inFlight = new Promise<void>((resolve) => {
    enqueued = resolve;
  });
  const committed = store.transaction(async (tx) => {
    await tx.jobs.enqueue(job);
    enqueued();
    await held;
  });
  await inFlight;
  return { release, committed };
}

forEachDriver((driver) => {
  describe("idle job groups", () => {
    it("are deleted when no job of any status is left and no limit is set", async () => {
      const store = await driver.open();
      const queue = "tenants";
      await store.jobs.enqueue(
        ["gone", "waiting", "running", "dead", "limited"].map((group) => ({
          queue,
          name: "n",
          group,
          maxAttempts: group === "dead" ? 1 : 3,
        })),
      );
      await store.jobs.enqueue({
        queue,
        name: "later",
        group: "scheduled",
        runAt: new Date(Date.now() + 60_000),
      });
      await store.jobs.setGroupLimit(queue, "limited", 2);
      const claimed = await store.jobs.claim({ queue, workerId: "w", limit: 10 });
      const byGroup = new Map(claimed.map((job) => [job.group, job]));
      await store.jobs.complete([byGroup.get("gone"), byGroup.get("limited")] as LeasedJob[]);
      await store.jobs.release(byGroup.get("waiting") as LeasedJob);
      expect((await store.jobs.fail(byGroup.get("dead") as LeasedJob, new Error("no"))).status).toBe("dead");
      expect(await groupNames(store, queue)).toEqual([
        "dead",
        "gone",
        "limited",
        "running",
        "scheduled",
        "waiting",
      ]);

      expect(await deleteIdleGroups(sqlOf(store), null)).toEqual({ deleted: 1, next: null });
      expect(await groupNames(store, queue)).toEqual(["dead", "limited", "running", "scheduled", "waiting"]);
      // A group that comes back is a new one, served like any other.
      await store.jobs.enqueue({ queue, name: "again", group: "gone" });
      expect((await store.jobs.claim({ queue, workerId: "w", limit: 10 })).map((job) => job.name)).toContain(
        "again",
      );
    });

    it("are looked for a window at a time, the next window where the last one ended", async () => {
      const store = await driver.open();
      const queue = "windows";
      await store.jobs.enqueue(["a", "b", "c", "d", "e"].map((group) => ({ queue, name: "n", group })));
      await drain(store, queue);
      const first = await deleteIdleGroups(sqlOf(store), null, 2);
      expect(first).toEqual({ deleted: 2, next: { queue, name: "b" } });
      expect(await groupNames(store, queue)).toEqual(["c", "d", "e"]);
      const second = await deleteIdleGroups(sqlOf(store), first.next, 2);
      expect(second).toEqual({ deleted: 2, next: { queue, name: "d" } });
      expect(await deleteIdleGroups(sqlOf(store), second.next, 2)).toEqual({ deleted: 1, next: null });
      expect(await groupNames(store, queue)).toEqual([]);
    });

    it("are deleted by a worker's vacuum once its queue is drained", async () => {
      const store = await driver.open();
      const queue = "worked";
      await store.jobs.enqueue(Array.from({ length: 20 }, (_, i) => ({ queue, name: "n", group: `g${i}` })));
      const worker = store.jobs.work({ queue, vacuumAfterJobs: 1, handler: () => {} });
      await until(
        async () => worker.counts.completed === 20 && (await groupNames(store, queue)).length === 0,
      );
      await worker.stop();
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".job_group_wakeups`,
      );
      expect(rows[0]?.n).toBe(0);
    });

    it.skipIf(!driver.concurrent)(
      "are not deleted under an enqueue that has not committed yet (concurrent connections)",
      async () => {
        const store = await driver.open();
        const queue = "racing";
        await store.jobs.enqueue([
          { queue, name: "n", group: "busy" },
          { queue, name: "n", group: "idle" },
        ]);
        await drain(store, queue);
        const { release, committed: enqueue } = await openEnqueue(store, {
          queue,
          name: "late",
          group: "busy",
        });
        // The other idle group goes; the one the open enqueue is putting a job in stays.
        expect((await deleteIdleGroups(sqlOf(store), null)).deleted).toBe(1);
        release();
        await enqueue;
        expect(await groupNames(store, queue)).toEqual(["busy"]);
        const [job] = await store.jobs.claim({ queue, workerId: "w" });
        expect(job).toMatchObject({ name: "late", group: "busy" });
      },
    );

    it.skipIf(!driver.concurrent)(
      "stay served by claims while an enqueue into them has not committed (concurrent connections)",
      async () => {
        const store = await driver.open();
        const queue = "served";
        await store.jobs.enqueue({ queue, name: "first", group: "g" });
        const { release, committed: enqueue } = await openEnqueue(store, {
          queue,
          name: "second",
          group: "g",
        });
        // The enqueue holds the group's row for key share: a claim still takes the group's turn.
        const claimed = await store.jobs.claim({ queue, workerId: "w", limit: 5 });
        release();
        await enqueue;
        expect(claimed.map((job) => job.name)).toEqual(["first"]);
      },
    );

    it.skipIf(!driver.concurrent)(
      "make an enqueue that comes while one is being deleted wait, then add it again (concurrent connections)",
      async () => {
        const store = await driver.open();
        const queue = "waiting-enqueue";
        await store.jobs.enqueue({ queue, name: "n", group: "g" });
        await drain(store, queue);
        const t = `"${store.schema}".job_groups`;
        let enqueue: Promise<string> | undefined;
        // The deletion's own steps: the row locked, then deleted in a later statement, then committed.
        await store.transaction(async (tx) => {
          await tx.query(`select 1 from ${t} where queue = $1 and name = 'g' for update`, [queue]);
          enqueue = store.jobs.enqueue({ queue, name: "late", group: "g" });
          await until(async () => (await waitingOnLocks(store)) > 0);
          await tx.query(`delete from ${t} where queue = $1 and name = 'g'`, [queue]);
        });
        await enqueue;
        expect(await groupNames(store, queue)).toEqual(["g"]);
        const [job] = await store.jobs.claim({ queue, workerId: "w" });
        expect(job).toMatchObject({ name: "late", group: "g" });
      },
    );

    it.skipIf(!driver.concurrent)(
      "leave every job of a group served while enqueues race with deletions (concurrent connections)",
      async () => {
        const store = await driver.open();
        const queue = "raced";
        const groups = Array.from({ length: 8 }, (_, i) => `g${i}`);
        for (let round = 0; round < 15; round++) {
          await Promise.all([
            ...groups.map((group) => store.jobs.enqueue({ queue, name: `r${round}`, group })),
            deleteIdleGroups(sqlOf(store), null),
            deleteIdleGroups(sqlOf(store), null),
          ]);
          // Every job enqueued this round is claimable: its group's row is there.
          const claimed = await store.jobs.claim({ queue, workerId: "w", limit: 100 });
          expect(claimed.map((job) => job.group).sort()).toEqual(groups);
          await store.jobs.complete(claimed);
        }
      },
    );
  });
});
