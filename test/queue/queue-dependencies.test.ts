/**
 * Job dependencies (`after`): a job waits, out of every claim's reach, until each job it runs after
 * has completed; a dependency that goes dead takes its dependents dead with it, one cancelled takes
 * them with it; a flow of jobs in one batch names earlier jobs of the batch by id; bad options are
 * refused with nothing written. Exact when dependencies complete in several processes at once while
 * another enqueues jobs after them (the real server).
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type LeasedJob, openStore, type Store, ValidationError } from "../../src/index.js";
import { startFixture } from "../support/fixture-process.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../support/harness.js";
import { until } from "../support/waiting.js";

const claimAll = async (store: Store, queue = "q") => store.jobs.claim({ queue, workerId: "w", limit: 100 });

const names = (jobs: readonly LeasedJob[]) => jobs.map((job) => job.name).sort();

/** The jobs' rows as the table keeps them: status (pending included) and the count of dependencies. */
const rowsOf = async (store: Store, ids: string[]) =>
  (
    await store.query<{ id: string; status: string; waiting_for: number }>(
      `select id, status, waiting_for from "${store.schema}".jobs where id = any($1::uuid[])`,
      [ids],
    )
  ).rows.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));

forEachDriver((driver) => {
  describe("job dependencies", () => {
    it("runs a job only once every job it runs after has completed", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "q", name: "a" });
      const b = await store.jobs.enqueue({ queue: "other", name: "b" });
      const c = await store.jobs.enqueue({ queue: "q", name: "c", after: [a, b] });
      const waiting = await store.jobs.get(c);
      expect([waiting.status, waiting.waitingFor]).toEqual(["waiting", 2]);
      expect((await rowsOf(store, [c]))[0]?.status).toBe("pending");
      expect((await store.jobs.list({ queue: "q", status: "waiting" })).map((j) => j.name)).toEqual([
        "a",
        "c",
      ]);

      const first = await claimAll(store);
      expect(names(first)).toEqual(["a"]);
      await store.jobs.complete(first[0] as LeasedJob);
      expect((await store.jobs.get(c)).waitingFor).toBe(1);
      expect(await claimAll(store)).toEqual([]);

      const [other] = await claimAll(store, "other");
      await store.jobs.complete(other as LeasedJob);
      expect((await store.jobs.get(c)).waitingFor).toBe(0);
      expect(names(await claimAll(store))).toEqual(["c"]);
    });

    it("enqueues a flow in one batch, later jobs naming earlier ones by the ids given them", async () => {
      const store = await driver.open();
      const [extract, transform, load, report] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      const ids = await store.jobs.enqueue([
        { id: extract, queue: "q", name: "extract" },
        { id: transform, queue: "q", name: "transform", after: [extract] },
        { id: load, queue: "q", name: "load", after: [transform] },
        { id: report, queue: "q", name: "report", after: [extract, load] },
      ]);
      expect(ids).toEqual([extract, transform, load, report]);
      expect((await rowsOf(store, ids)).map((r) => [r.status, r.waiting_for])).toEqual([
        ["waiting", 0],
        ["pending", 1],
        ["pending", 1],
        ["pending", 2],
      ]);
      const order: string[] = [];
      for (let round = 0; round < 4; round++) {
        const claimed = await claimAll(store);
        expect(claimed).toHaveLength(1);
        order.push((claimed[0] as LeasedJob).name);
        await store.jobs.complete(claimed[0] as LeasedJob, { keepCompleted: round % 2 === 0 });
      }
      expect(order).toEqual(["extract", "transform", "load", "report"]);
      expect(await store.jobs.list({ queue: "q" })).toEqual([]);
    });

    it("counts a dependency gone from the queue as completed", async () => {
      const store = await driver.open();
      const done = await store.jobs.enqueue({ queue: "q", name: "done" });
      await store.jobs.complete((await claimAll(store))[0] as LeasedJob);
      const id = await store.jobs.enqueue({ queue: "q", name: "next", after: [done, randomUUID()] });
      expect((await rowsOf(store, [id]))[0]).toMatchObject({ status: "waiting", waiting_for: 0 });
      // Its run time still holds: due later, it waits scheduled.
      const later = await store.jobs.enqueue({ queue: "q", name: "later", after: [done], delayMs: 60_000 });
      expect((await rowsOf(store, [later]))[0]?.status).toBe("scheduled");
      expect(names(await claimAll(store))).toEqual(["next"]);
    });

    it("keeps a dependent waiting while its dependency is retried, and releases it when it completes", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "q", name: "a", backoff: { baseMs: 0, maxMs: 0 } });
      const b = await store.jobs.enqueue({ queue: "q", name: "b", after: [a], delayMs: 0 });
      await store.jobs.fail((await claimAll(store))[0] as LeasedJob, { message: "once" });
      expect((await rowsOf(store, [b]))[0]?.status).toBe("pending");
      // A lease that lapses and is taken over changes nothing either.
      const [retried] = await store.jobs.claim({ queue: "q", workerId: "w1", limit: 10, leaseMs: 1 });
      expect(retried?.name).toBe("a");
      await new Promise((resolve) => setTimeout(resolve, 20));
      const [taken] = await store.jobs.claim({ queue: "q", workerId: "w2", limit: 10 });
      expect([taken?.name, (await rowsOf(store, [b]))[0]?.status]).toEqual(["a", "pending"]);
      await store.jobs.complete(taken as LeasedJob);
      expect(names(await claimAll(store))).toEqual(["b"]);
    });

    it("takes the dependents of a job that goes dead dead with it, each error naming its dependency", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "q", name: "a", maxAttempts: 1 });
      const b = await store.jobs.enqueue({ queue: "q", name: "b", after: [a] });
      const c = await store.jobs.enqueue({ queue: "other", name: "c", after: [b] });
      const free = await store.jobs.enqueue({ queue: "q", name: "free" });
      const d = await store.jobs.enqueue({ queue: "q", name: "d", after: [free, a] });
      const claimed = await claimAll(store);
      await store.jobs.fail(claimed.find((job) => job.name === "a") as LeasedJob, { message: "boom" });
      const dead = await store.jobs.list({ status: "dead" });
      expect(dead.map((job) => job.name).sort()).toEqual(["a", "b", "c", "d"]);
      const byName = new Map(dead.map((job) => [job.name, job]));
      expect(byName.get("b")?.lastError).toMatchObject({ dependency: a });
      expect(byName.get("c")?.lastError).toMatchObject({ dependency: b });
      expect(byName.get("d")?.lastError?.message).toContain(a);
      // A job enqueued after a dead job is dead at once.
      const e = await store.jobs.enqueue({ queue: "q", name: "e", after: [c] });
      expect((await store.jobs.get(e)).lastError).toMatchObject({ dependency: c });
      // The one that did not depend on it still completes, and releases nothing dead.
      await store.jobs.complete(claimed.find((job) => job.name === "free") as LeasedJob);
      expect((await store.jobs.get(d)).status).toBe("dead");
      expect(await claimAll(store)).toEqual([]);
    });

    it("cancels the dependents of a cancelled job, waiting or running, and of those in turn", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "q", name: "a" });
      const b = await store.jobs.enqueue({ queue: "q", name: "b", after: [a] });
      await store.jobs.enqueue({ queue: "q", name: "c", after: [b] });
      const keep = await store.jobs.enqueue({ queue: "q", name: "keep" });
      expect(await store.jobs.cancel([a])).toEqual([a]);
      expect((await store.jobs.list({ queue: "q" })).map((j) => j.id)).toEqual([keep]);

      // Running: cancelling it is no completion.
      const [running] = await claimAll(store);
      const after = await store.jobs.enqueue({ queue: "q", name: "after-keep", after: [keep] });
      await store.jobs.cancel([(running as LeasedJob).id]);
      await expect(store.jobs.get(after)).rejects.toThrow(/not found/);
      await expect(store.jobs.complete(running as LeasedJob)).rejects.toThrow();
      expect(await store.jobs.list({ queue: "q" })).toEqual([]);
    });

    it("leaves no edge of a dependent that is cancelled or dies, and refuses a snapshot transaction", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "q", name: "a", maxAttempts: 1 });
      const b = await store.jobs.enqueue({ queue: "q", name: "b" });
      const c = await store.jobs.enqueue({ queue: "q", name: "c", after: [a, b] });
      const d = await store.jobs.enqueue({ queue: "q", name: "d", after: [a, b] });
      const edges = async () =>
        (await store.query(`select after_id, job_id from "${store.schema}".job_dependencies order by 1, 2`))
          .rows;
      expect(await edges()).toHaveLength(4);
      await store.jobs.cancel([c]);
      expect((await edges()).map((e) => (e as { job_id: string }).job_id)).toEqual([d, d]);
      const [lease] = await store.jobs.claim({ queue: "q", workerId: "w", limit: 1 });
      expect(lease?.id).toBe(a);
      await store.jobs.fail(lease as LeasedJob, { message: "boom" });
      expect((await store.jobs.get(d)).status).toBe("dead");
      expect(await edges()).toEqual([]);
      // In repeatable read a job enqueued after the snapshot would go unseen, as if completed: refused.
      await expect(
        store.transaction((tx) => tx.jobs.enqueue({ queue: "q", name: "e", after: [b] }), {
          isolation: "repeatable read",
        }),
      ).rejects.toThrow(/read committed/);
      expect((await store.jobs.list({ queue: "q" })).map((j) => j.name).sort()).toEqual(["a", "b", "d"]);
    });

    it("releases grouped dependents into their group's turn", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "q", name: "a", group: "t1" });
      await store.jobs.enqueue({ queue: "q", name: "b", group: "t2", after: [a] });
      const [first] = await claimAll(store);
      expect(first?.name).toBe("a");
      await store.jobs.complete(first as LeasedJob);
      const [next] = await claimAll(store);
      expect([next?.name, next?.group]).toEqual(["b", "t2"]);
    });

    it("refuses bad dependencies, and writes nothing", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "deps", name: "a" });
      const own = randomUUID();
      const later = randomUUID();
      const bad: unknown[] = [
        [{ queue: "q", name: "n", after: a }],
        [{ queue: "q", name: "n", after: ["not-a-uuid"] }],
        [{ queue: "q", name: "n", after: [a], key: "k" }],
        [{ queue: "q", name: "n", after: [a], debounce: { key: "k", ms: 10 } }],
        [{ queue: "q", name: "n", after: [a], throttle: { key: "k", ms: 10 } }],
        [{ queue: "q", name: "n", after: Array.from({ length: 1_001 }, () => randomUUID()) }],
        [{ id: own, queue: "q", name: "n", after: [own] }],
        [
          { queue: "q", name: "first" },
          { queue: "q", name: "n", after: [later] },
          { id: later, queue: "q", name: "later" },
        ],
      ];
      for (const jobs of bad) {
        await expect(store.jobs.enqueue(jobs as never), JSON.stringify(jobs).slice(0, 200)).rejects.toThrow(
          ValidationError,
        );
      }
      expect(await store.jobs.list({ queue: "q" })).toEqual([]);
      expect((await rowsOf(store, [a]))[0]?.status).toBe("waiting");
      expect((await store.query(`select * from "${store.schema}".job_dependencies`)).rows).toEqual([]);
    });

    it("counts jobs waiting on dependencies as waiting in stats()", async () => {
      const store = await driver.open();
      const a = await store.jobs.enqueue({ queue: "deps", name: "a" });
      await store.jobs.enqueue([1, 2, 3].map((n) => ({ queue: "waits", name: `n${n}`, after: [a] })));
      const [stats] = await store.jobs.stats("waits");
      expect([stats?.waiting, stats?.ready]).toEqual([3, 0]);
    });
  });
});

describe("postgres", () => {
  it("settles a dependent whose dependency completes while it is being enqueued", async () => {
    const url = await fileDatabaseUrl();
    const schema = uniqueSchema("deps");
    const store = await openStore({ connection: url, schema });
    try {
      for (const ending of ["complete", "fail"] as const) {
        const a = await store.jobs.enqueue({ queue: "q", name: "a", maxAttempts: 1 });
        const [lease] = await claimAll(store);
        let ended: Promise<unknown> = Promise.resolve();
        const b = await store.transaction(async (tx) => {
          const id = await tx.jobs.enqueue({ queue: "q", name: "b", after: [a] });
          // Another session ends the dependency now: it must wait for this enqueue's commit, then
          // find the job after it.
          ended =
            ending === "complete"
              ? store.jobs.complete(lease as LeasedJob)
              : store.jobs.fail(lease as LeasedJob, { message: "boom" });
          await new Promise((resolve) => setTimeout(resolve, 300));
          return id;
        });
        await ended;
        const job = await store.jobs.get(b);
        expect([job.status, job.waitingFor], ending).toEqual(
          ending === "complete" ? ["waiting", 0] : ["dead", 0],
        );
        if (ending === "complete") await store.jobs.complete((await claimAll(store))[0] as LeasedJob);
        else await store.jobs.cancel([a, b]);
      }
    } finally {
      await store.close();
    }
  });

  it("runs each dependent once, after its dependencies, as 3 worker processes complete them and jobs are enqueued after them", {
    timeout: 180_000,
  }, async () => {
    const url = await fileDatabaseUrl();
    const schema = uniqueSchema("deps");
    const store = await openStore({ connection: url, schema });
    await store.query(
      `create table "${schema}".ran (id uuid not null, pid int not null, early bool not null, at timestamptz not null default clock_timestamp())`,
    );
    const children = Array.from({ length: 3 }, () => startFixture("dependency-worker.ts", [url, schema]));
    try {
      await until(() => children.every((c) => c.lines.includes("ready")), 60_000);
      // Pairs of jobs, and after each pair a job that runs after both: enqueued as the workers take
      // the pair, so some of its dependencies complete before it is enqueued, some as it is, some after.
      const dependents: string[] = [];
      for (let n = 0; n < 150; n++) {
        const pair = (await store.jobs.enqueue([
          { queue: "first", name: "x" },
          { queue: "first", name: "y" },
        ])) as string[];
        if (n % 3 === 1) await new Promise((resolve) => setImmediate(resolve));
        dependents.push(
          await store.jobs.enqueue({ queue: "then", name: "both", payload: { after: pair }, after: pair }),
        );
      }
      const ran = async () =>
        (
          await store.query<{ id: string; runs: number; early: boolean }>(
            `select id, count(*)::int as runs, bool_or(early) as early from "${schema}".ran group by id`,
          )
        ).rows;
      await until(async () => (await ran()).length === 450, 120_000);
      const runs = await ran();
      expect(runs.filter((r) => r.runs !== 1)).toEqual([]);
      expect(runs.filter((r) => r.early)).toEqual([]);
      expect(dependents.every((id) => runs.some((r) => r.id === id))).toBe(true);
      const pids = await store.query<{ n: number }>(
        `select count(distinct pid)::int as n from "${schema}".ran`,
      );
      expect(pids.rows[0]?.n).toBeGreaterThan(1);
      await until(async () => (await store.jobs.list({ limit: 1 })).length === 0, 10_000);
      expect((await store.query(`select * from "${schema}".job_dependencies`)).rows).toEqual([]);
    } finally {
      for (const c of children) c.child.kill("SIGTERM");
      await Promise.all(children.map((c) => c.exited));
      await store.close();
    }
  });
});
