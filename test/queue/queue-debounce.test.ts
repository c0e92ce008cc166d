/**
 * Debounce and throttle on enqueue: many enqueues of one key become one job, the last (debounce: its
 * payload and run time move with each) or the first (throttle: the others in its window return it),
 * each counted in the job's `absorbed`; in one batch as across calls; exact under concurrent enqueues
 * in one process (both drivers) and from several processes (the real server); bad options refused
 * with nothing written.
 */
import { describe, expect, it } from "vitest";
import { openStore, type Store, ValidationError } from "../../src/index.js";
import { startFixture } from "../support/fixture-process.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../support/harness.js";
import { until } from "../support/waiting.js";

const dbNow = async (store: Store) =>
  (await store.query<{ now: Date }>("select clock_timestamp() as now")).rows[0]?.now as Date;

forEachDriver((driver) => {
  describe("debounce", () => {
    it("makes one job of many enqueues, the last one's payload, run its window after the last", async () => {
      const store = await driver.open();
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) {
        ids.push(
          await store.jobs.enqueue({
            queue: "q",
            name: "save",
            payload: { n },
            priority: n,
            debounce: { key: "doc-1", ms: 60_000 },
          }),
        );
      }
      expect(new Set(ids).size).toBe(1);
      const job = await store.jobs.get(ids[0] as string);
      expect([job.payload, job.priority, job.absorbed, job.status]).toEqual([{ n: 4 }, 4, 4, "waiting"]);
      // The run time is the window after the last enqueue: about a minute from now.
      const now = await dbNow(store);
      expect(job.runAt.getTime() - now.getTime()).toBeGreaterThan(55_000);
      expect(job.runAt.getTime() - now.getTime()).toBeLessThanOrEqual(60_000);
      // Another key is another job.
      const other = await store.jobs.enqueue({
        queue: "q",
        name: "save",
        debounce: { key: "doc-2", ms: 10 },
      });
      expect(other).not.toBe(ids[0]);
    });

    it("never moves a job past maxMs after its first enqueue", async () => {
      const store = await driver.open();
      const first = await store.jobs.enqueue({
        queue: "q",
        name: "n",
        debounce: { key: "k", ms: 60_000, maxMs: 2_000 },
      });
      const created = (await store.jobs.get(first)).createdAt;
      for (let n = 0; n < 3; n++) {
        await store.jobs.enqueue({
          queue: "q",
          name: "n",
          payload: n,
          debounce: { key: "k", ms: 60_000, maxMs: 2_000 },
        });
      }
      const job = await store.jobs.get(first);
      expect(job.runAt.getTime() - created.getTime()).toBeLessThanOrEqual(2_000);
      expect([job.payload, job.absorbed]).toEqual([2, 3]);
      // Once due, a worker runs it once, with the last payload.
      const ran: unknown[] = [];
      const worker = store.jobs.work({
        queue: "q",
        pollIntervalMs: 100,
        handler: (leased) => {
          ran.push([leased.payload, leased.absorbed]);
        },
      });
      await until(() => ran.length === 1, 10_000);
      await worker.stop();
      expect(ran).toEqual([[2, 3]]);
    });

    it("runs a job at maxMs after its first enqueue when ms is longer, a successor too", async () => {
      const store = await driver.open();
      const debounce = { key: "k", ms: 60_000, maxMs: 2_000 };
      const sinceCreated = (job: { runAt: Date; createdAt: Date }) =>
        job.runAt.getTime() - job.createdAt.getTime();
      const first = await store.jobs.get(await store.jobs.enqueue({ queue: "q", name: "n", debounce }));
      expect(sinceCreated(first)).toBe(2_000);
      // One enqueued while it runs waits behind it, bound alike from its own first enqueue.
      await store.query(`update ${store.schema}.jobs set run_at = now(), status = 'waiting' where id = $1`, [
        first.id,
      ]);
      const [running] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(running?.id).toBe(first.id);
      const successor = await store.jobs.get(await store.jobs.enqueue({ queue: "q", name: "n", debounce }));
      expect([successor.id === first.id, sinceCreated(successor)]).toEqual([false, 2_000]);
    });

    it("makes a job to run after the one running, debounced alike", async () => {
      const store = await driver.open();
      const window = { key: "k", ms: 0 };
      const firstId = await store.jobs.enqueue({ queue: "q", name: "n", payload: "a", debounce: window });
      const [running] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(running?.id).toBe(firstId);
      const next = await store.jobs.enqueue({ queue: "q", name: "n", payload: "b", debounce: window });
      const again = await store.jobs.enqueue({ queue: "q", name: "n", payload: "c", debounce: window });
      expect(next).not.toBe(firstId);
      expect(again).toBe(next);
      // It waits for the running one, then runs with the last payload.
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      await store.jobs.complete(running as NonNullable<typeof running>);
      const [after] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect([after?.id, after?.payload, after?.absorbed]).toEqual([next, "c", 1]);
    });

    it("takes many enqueues of one batch as one job, the last of them", async () => {
      const store = await driver.open();
      const ids = await store.jobs.enqueue(
        [1, 2, 3].map((n) => ({ queue: "q", name: "n", payload: n, debounce: { key: "k", ms: 1_000 } })),
      );
      expect(new Set(ids).size).toBe(1);
      const job = await store.jobs.get(ids[0] as string);
      expect([job.payload, job.absorbed]).toEqual([3, 2]);
    });
  });

  describe("throttle", () => {
    it("returns the window's first job to the enqueues in it, and makes the next after it", async () => {
      const store = await driver.open();
      const window = { key: "report", ms: 1_500 };
      const first = await store.jobs.enqueue({ queue: "q", name: "n", payload: "first", throttle: window });
      const batch = await store.jobs.enqueue(
        ["a", "b"].map((payload) => ({ queue: "q", name: "n", payload, throttle: window })),
      );
      const again = await store.jobs.enqueue({ queue: "q", name: "n", payload: "c", throttle: window });
      expect([...batch, again]).toEqual([first, first, first]);
      const job = await store.jobs.get(first);
      expect([job.payload, job.absorbed]).toEqual(["first", 3]);
      // Another key has its own window.
      expect(
        await store.jobs.enqueue({ queue: "q", name: "n", throttle: { key: "other", ms: 1_500 } }),
      ).not.toBe(first);
      // After the window, the next enqueue makes a job (whatever became of the first).
      await store.jobs.complete(
        (await store.jobs.claim({ queue: "q", workerId: "w", limit: 5 }))[0] as never,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      const next = await store.jobs.enqueue({ queue: "q", name: "n", payload: "next", throttle: window });
      expect(next).not.toBe(first);
      expect((await store.jobs.get(next)).payload).toBe("next");
    });
  });

  for (const mode of ["debounce", "throttle"] as const) {
    it(`${mode}s exactly under many enqueues at once`, async () => {
      const store = await driver.open();
      const ids = await Promise.all(
        Array.from({ length: 40 }, (_, n) =>
          store.jobs.enqueue({ queue: "q", name: "n", payload: n, [mode]: { key: "k", ms: 60_000 } }),
        ),
      );
      expect(new Set(ids).size).toBe(1);
      expect((await store.jobs.get(ids[0] as string)).absorbed).toBe(39);
      expect((await store.jobs.list({ queue: "q" })).length).toBe(1);
    });
  }

  it("refuses bad debounce and throttle options, and writes nothing", async () => {
    const store = await driver.open();
    const bad: unknown[] = [
      { debounce: { key: "k", ms: 10 }, key: "k" },
      { debounce: { key: "k", ms: 10 }, delayMs: 5 },
      { debounce: { key: "k", ms: 10 }, throttle: { key: "k", ms: 10 } },
      { throttle: { key: "k", ms: 10 }, replace: true },
      { throttle: { key: "k", ms: -1 } },
      { throttle: { key: "k" } },
      { debounce: { key: "", ms: 10 } },
      { debounce: { key: "k", ms: 10, maxMs: Number.NaN } },
      { debounce: { key: "k", ms: 10, wait: 5 } },
      { throttle: "k" },
    ];
    for (const options of bad) {
      await expect(
        store.jobs.enqueue({ queue: "q", name: "n", ...(options as object) } as never),
        JSON.stringify(options),
      ).rejects.toThrow(ValidationError);
    }
    expect(await store.jobs.list({ queue: "q" })).toEqual([]);
  });
});

describe("postgres", () => {
  for (const mode of ["debounce", "throttle"] as const) {
    it(`${mode}s into one job the enqueues of 4 processes at once`, { timeout: 120_000 }, async () => {
      const url = await fileDatabaseUrl();
      const schema = uniqueSchema("windows");
      const store = await openStore({ connection: url, schema });
      try {
        const children = Array.from({ length: 4 }, () =>
          startFixture("enqueue-windows.ts", [url, schema, mode, "50"], { stdin: true }),
        );
        await until(() => children.every((c) => c.lines.includes("ready")), 60_000);
        for (const c of children) c.child.stdin?.write("go\n");
        expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0]);
        const returned = new Set(
          children.flatMap((c) => (c.lines.find((l) => l.startsWith("ids ")) ?? "").slice(4).split(",")),
        );
        const jobs = await store.jobs.list({ queue: "windows" });
        expect(jobs.map((j) => j.id)).toEqual([...returned]);
        expect(jobs[0]?.absorbed).toBe(199);
      } finally {
        await store.close();
      }
    });
  }
});
