import { describe, expect, it } from "vitest";
import { LeaseLostError, NotFoundError, type Store, uuidv7, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

async function jobCount(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(`select count(*)::int as n from ${store.schema}.jobs`);
  return rows[0]?.n ?? -1;
}

/** Makes every running lease of the store look expired, as if its worker had died long ago. */
async function expireLeases(store: Store): Promise<void> {
  await store.query(
    `update ${store.schema}.jobs set lease_expires_at = now() - interval '1 second' where status = 'running'`,
  );
}

forEachDriver((driver) => {
  describe("jobs", () => {
    it("enqueues one job or a batch, returning ids in input order", async () => {
      const store = await driver.open();
      const one = await store.jobs.enqueue({ queue: "q", name: "single", payload: { a: 1 } });
      const many = await store.jobs.enqueue(
        Array.from({ length: 50 }, (_, i) => ({ queue: "q", name: `job-${i}`, payload: { i } })),
      );
      expect(many).toHaveLength(50);
      for (const [i, id] of many.entries()) expect((await store.jobs.get(id)).payload).toEqual({ i });
      const job = await store.jobs.get(one);
      expect(job).toMatchObject({
        queue: "q",
        name: "single",
        payload: { a: 1 },
        status: "waiting",
        attempts: 0,
      });
      expect(await store.jobs.enqueue([])).toEqual([]);
    });

    it("claims by priority, then runAt, and never before runAt", async () => {
      const store = await driver.open();
      const past = (s: number) => new Date(Date.now() - s * 1000);
      await store.jobs.enqueue([
        { queue: "q", name: "low-old", priority: 0, runAt: past(30) },
        { queue: "q", name: "high-new", priority: 5, runAt: past(1) },
        { queue: "q", name: "high-old", priority: 5, runAt: past(10) },
        { queue: "q", name: "future", priority: 100, runAt: new Date(Date.now() + 3_600_000) },
        { queue: "other", name: "other-queue", priority: 100 },
      ]);
      const claimed = await store.jobs.claim({ queue: "q", workerId: "w", limit: 10 });
      expect(claimed.map((j) => j.name)).toEqual(["high-old", "high-new", "low-old"]);
      for (const job of claimed) {
        expect(job).toMatchObject({ status: "running", attempts: 1, leaseOwner: "w" });
        expect(job.leaseToken).toMatch(/^[0-9a-f-]{36}$/);
      }
      expect(await store.jobs.claim({ queue: "q", workerId: "w", limit: 10 })).toEqual([]);
    });

    it("a claimed job carries what the table holds, field for field", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.jobs.enqueue([
        { queue: "q", name: "plain", payload: { n: 1 } },
        {
          queue: "q",
          name: "full",
          key: "k1",
          executionId,
          maxAttempts: 3,
          runAt: new Date(Date.now() - 5_000),
        },
      ]);
      const claimed = await store.jobs.claim({ queue: "q", workerId: "w-1", limit: 2, leaseMs: 45_000 });
      expect(claimed).toHaveLength(2);
      for (const job of claimed) {
        const { leaseToken, ...fields } = job;
        expect(fields).toEqual(await store.jobs.get(job.id));
        expect(job.leaseExpiresAt?.getTime()).toBe(job.updatedAt.getTime() + 45_000);
      }
    });

    it("completes a large batch in one call, reporting only the stale leases", async () => {
      const store = await driver.open();
      await store.jobs.enqueue(Array.from({ length: 300 }, (_, i) => ({ queue: "q", name: `n${i}` })));
      const claimed = await store.jobs.claim({ queue: "q", workerId: "w", limit: 300 });
      // One lease goes stale: its job is handed back and leased to another worker.
      const stale = claimed[7] as (typeof claimed)[number];
      await store.jobs.release(stale);
      expect((await store.jobs.claim({ queue: "q", workerId: "other" })).map((job) => job.id)).toEqual([
        stale.id,
      ]);
      expect(await store.jobs.completeMany(claimed, false)).toEqual([stale.id]);
      expect(await jobCount(store)).toBe(1);
      expect(await store.jobs.get(stale.id)).toMatchObject({ status: "running", leaseOwner: "other" });
      // A made-up token is no lease either.
      expect(await store.jobs.completeMany([{ id: stale.id, leaseToken: uuidv7() }], false)).toEqual([
        stale.id,
      ]);
    });

    it("completes jobs in a batch and removes them from the hot table", async () => {
      const store = await driver.open();
      await store.jobs.enqueue(Array.from({ length: 5 }, (_, i) => ({ queue: "q", name: `n${i}` })));
      const claimed = await store.jobs.claim({ queue: "q", workerId: "w", limit: 5 });
      await store.jobs.complete(claimed);
      expect(await jobCount(store)).toBe(0);
      await expect(store.jobs.get(claimed[0]?.id as string)).rejects.toBeInstanceOf(NotFoundError);
    });

    it("moves completed jobs to history with keepCompleted", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "kept", payload: [1, 2] });
      const [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
      await store.jobs.complete(job as NonNullable<typeof job>, { keepCompleted: true });
      expect(await jobCount(store)).toBe(0);
      const { rows } = await store.query(
        `select id, name, payload, attempts from ${store.schema}.jobs_history`,
      );
      expect(rows).toEqual([{ id, name: "kept", payload: [1, 2], attempts: 1 }]);
    });

    it("rejects a stale lease with LeaseLostError and changes nothing", async () => {
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "q", name: "contested" });
      const [first] = await store.jobs.claim({ queue: "q", workerId: "slow", leaseMs: 60_000 });
      await expireLeases(store);
      const [second] = await store.jobs.claim({ queue: "q", workerId: "rescuer" });
      expect(second?.id).toBe(first?.id);
      expect(second?.attempts).toBe(2);
      const stale = first as NonNullable<typeof first>;
      await expect(store.jobs.complete(stale)).rejects.toBeInstanceOf(LeaseLostError);
      await expect(store.jobs.fail(stale, new Error("late"))).rejects.toBeInstanceOf(LeaseLostError);
      await expect(store.jobs.heartbeat(stale)).rejects.toBeInstanceOf(LeaseLostError);
      await expect(store.jobs.release(stale)).rejects.toBeInstanceOf(LeaseLostError);
      const job = await store.jobs.get(stale.id);
      expect(job).toMatchObject({ status: "running", leaseOwner: "rescuer", attempts: 2, lastError: null });
      await store.jobs.complete(second as NonNullable<typeof second>);
      expect(await jobCount(store)).toBe(0);
    });

    it("retries with exponential backoff until maxAttempts, then dead; retry() revives", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({
        queue: "q",
        name: "flaky",
        maxAttempts: 3,
        backoff: { baseMs: 1000 },
      });
      let [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
      const before = Date.now();
      const failed = await store.jobs.fail(job as NonNullable<typeof job>, new Error("first failure"));
      expect(failed.status).toBe("waiting");
      expect(failed.lastError).toMatchObject({ message: "first failure", name: "Error" });
      expect(failed.lastError?.stack).toContain("first failure");
      // Base 1 s, jitter ±25%: not claimable now, due in 0.75..1.25 s.
      const delay = failed.runAt.getTime() - before;
      expect(delay).toBeGreaterThan(700);
      expect(delay).toBeLessThan(1_400);
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      // Attempt 2 fails with an explicit retry time, attempt 3 fails for good.
      await store.query(`update ${store.schema}.jobs set run_at = now()`);
      [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
      const retryAt = new Date(Date.now() - 1000);
      expect((await store.jobs.fail(job as NonNullable<typeof job>, "second", { retryAt })).runAt).toEqual(
        retryAt,
      );
      [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(job?.attempts).toBe(3);
      const dead = await store.jobs.fail(job as NonNullable<typeof job>, { message: "third", code: 42 });
      expect(dead).toMatchObject({ status: "dead", attempts: 3, lastError: { message: "third", code: 42 } });
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      expect(await store.jobs.list({ status: "dead" })).toHaveLength(1);
      expect(await store.jobs.retry([id])).toEqual([id]);
      expect(await store.jobs.get(id)).toMatchObject({ status: "waiting", attempts: 0 });
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toHaveLength(1);
    });

    it("a lease that expires on the last attempt sends the job to dead, not round again", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "crashes-workers", maxAttempts: 1 });
      await store.jobs.claim({ queue: "q", workerId: "doomed" });
      await expireLeases(store);
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      expect(await store.jobs.get(id)).toMatchObject({
        status: "dead",
        leaseOwner: null,
        leaseExpiresAt: null,
        lastError: { message: "lease expired on the last attempt" },
      });
      // The lease is cleared by the claim itself: a job revived and claimed again right after keeps
      // its new lease.
      await store.jobs.retry([id]);
      const [again] = await store.jobs.claim({ queue: "q", workerId: "w2" });
      expect(again?.id).toBe(id);
      expect(await store.jobs.get(id)).toMatchObject({ status: "running", leaseOwner: "w2" });
      await store.jobs.complete(again as NonNullable<typeof again>);
    });

    it("heartbeat extends a lease; release hands the job back without counting the attempt", async () => {
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "q", name: "long" });
      const [job] = await store.jobs.claim({ queue: "q", workerId: "w", leaseMs: 1_000 });
      const held = job as NonNullable<typeof job>;
      await store.jobs.heartbeat(held, { extendMs: 600_000 });
      const extended = await store.jobs.get(held.id);
      expect((extended.leaseExpiresAt as Date).getTime() - Date.now()).toBeGreaterThan(500_000);
      await store.jobs.release(held);
      expect(await store.jobs.get(held.id)).toMatchObject({
        status: "waiting",
        attempts: 0,
        leaseOwner: null,
      });
      expect(await store.jobs.claim({ queue: "q", workerId: "w2" })).toHaveLength(1);
    });

    it("dedupes by key while a job waits or runs, and replaces when asked", async () => {
      const store = await driver.open();
      const first = await store.jobs.enqueue({ queue: "q", name: "sync", key: "user-1", payload: 1 });
      expect(await store.jobs.enqueue({ queue: "q", name: "sync", key: "user-1", payload: 2 })).toBe(first);
      expect((await store.jobs.get(first)).payload).toBe(1);
      expect(
        await store.jobs.enqueue({ queue: "q", name: "sync", key: "user-1", payload: 3, replace: true }),
      ).toBe(first);
      expect((await store.jobs.get(first)).payload).toBe(3);
      // The same key in another queue is another job; within one batch a key appears once.
      const [a, b, c] = await store.jobs.enqueue([
        { queue: "other", name: "sync", key: "user-1" },
        { queue: "other", name: "sync", key: "user-1" },
        { queue: "q", name: "sync", key: "user-1" },
      ]);
      expect(a).not.toBe(first);
      expect(b).toBe(a);
      expect(c).toBe(first);
      // Running still holds the key; once completed, the key is free.
      const [running] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(
        await store.jobs.enqueue({ queue: "q", name: "sync", key: "user-1", payload: 4, replace: true }),
      ).toBe(first);
      expect((await store.jobs.get(first)).payload).toBe(3);
      await store.jobs.complete(running as NonNullable<typeof running>);
      const next = await store.jobs.enqueue({ queue: "q", name: "sync", key: "user-1" });
      expect(next).not.toBe(first);
    });

    it("enqueues in a transaction only if it commits", async () => {
      const store = await driver.open();
      await expect(
        store.transaction(async (tx) => {
          await tx.jobs.enqueue({ queue: "q", name: "never" });
          throw new Error("rolled back");
        }),
      ).rejects.toThrow("rolled back");
      expect(await jobCount(store)).toBe(0);
      const id = await store.transaction((tx) => tx.jobs.enqueue({ queue: "q", name: "committed" }));
      expect((await store.jobs.get(id)).name).toBe("committed");
    });

    it("reports stats per queue, lists with keyset paging, cancels", async () => {
      const store = await driver.open();
      const ids = await store.jobs.enqueue([
        ...Array.from({ length: 5 }, (_, i) => ({ queue: "a", name: `a${i}` })),
        { queue: "a", name: "later", runAt: new Date(Date.now() + 60_000) },
        { queue: "b", name: "b0" },
      ]);
      await store.jobs.claim({ queue: "a", workerId: "w", limit: 2 });
      const stats = await store.jobs.stats();
      expect(stats).toEqual([
        {
          queue: "a",
          waiting: 4,
          ready: 3,
          running: 2,
          dead: 0,
          oldestReadyAgeSeconds: expect.any(Number),
          estimated: [],
          paused: false,
        },
        {
          queue: "b",
          waiting: 1,
          ready: 1,
          running: 0,
          dead: 0,
          oldestReadyAgeSeconds: expect.any(Number),
          estimated: [],
          paused: false,
        },
      ]);
      expect(await store.jobs.stats("b")).toHaveLength(1);
      const page1 = await store.jobs.list({ limit: 4 });
      const page2 = await store.jobs.list({ limit: 4, after: page1.at(-1)?.id });
      expect([...page1, ...page2].map((j) => j.id)).toEqual(ids);
      expect(await store.jobs.cancel([ids[0] as string, ids[6] as string])).toHaveLength(2);
      expect(await jobCount(store)).toBe(5);
    });

    it("rescues an expired lease before ready jobs, even behind a backlog", async () => {
      const store = await driver.open();
      const stuck = await store.jobs.enqueue({ queue: "q", name: "stuck" });
      await store.jobs.claim({ queue: "q", workerId: "died" });
      await expireLeases(store);
      await store.jobs.enqueue(
        Array.from({ length: 10 }, (_, i) => ({ queue: "q", name: `backlog-${i}`, priority: 9 })),
      );
      const [first] = await store.jobs.claim({ queue: "q", workerId: "w", limit: 1 });
      expect(first?.id).toBe(stuck);
      expect(first?.attempts).toBe(2);
    });

    it("completes a reused job id with keepCompleted, replacing the older history record", async () => {
      const store = await driver.open();
      const id = uuidv7();
      for (const round of [1, 2]) {
        await store.jobs.enqueue({ id, queue: "q", name: `round-${round}` });
        const other = await store.jobs.enqueue({ queue: "q", name: "neighbour" });
        const batch = await store.jobs.claim({ queue: "q", workerId: "w", limit: 2 });
        await store.jobs.complete(batch, { keepCompleted: true });
        expect(batch.map((j) => j.id).sort()).toEqual([id, other].sort());
      }
      const { rows } = await store.query<{ name: string }>(
        `select name from ${store.schema}.jobs_history where id = $1`,
        [id],
      );
      expect(rows).toEqual([{ name: "round-2" }]);
      expect(await jobCount(store)).toBe(0);
    });

    it("enqueues to hundreds of queues at once, past NOTIFY's payload limit", async () => {
      const store = await driver.open();
      const ids = await store.jobs.enqueue(
        Array.from({ length: 300 }, (_, i) => ({ queue: `tenant-${uuidv7()}-${i}`, name: "n" })),
      );
      expect(ids).toHaveLength(300);
      expect(await jobCount(store)).toBe(300);
    });

    it("records a failure whose error JSON could not hold as it is", async () => {
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "q", name: "n" });
      const [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
      const failed = await store.jobs.fail(job as NonNullable<typeof job>, new Error("broken\u0000byte"));
      expect(failed.status).toBe("waiting");
      expect(failed.lastError?.message).toBe("broken\uFFFDbyte");
      const [again] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(again).toBeUndefined(); // waiting out its backoff
      await store.query(`update ${store.schema}.jobs set run_at = now()`);
      const [third] = await store.jobs.claim({ queue: "q", workerId: "w" });
      const odd = { message: "odd", detail: 10n };
      expect((await store.jobs.fail(third as NonNullable<typeof third>, odd)).lastError).toEqual({
        message: "odd",
      });
    });

    it("release with countAttempt keeps the attempt, and on the last one the job goes dead", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "hangs", maxAttempts: 2 });
      for (const expected of ["waiting", "dead"]) {
        const [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
        await store.jobs.release(job as NonNullable<typeof job>, { countAttempt: true });
        expect((await store.jobs.get(id)).status).toBe(expected);
      }
      expect(await store.jobs.get(id)).toMatchObject({
        attempts: 2,
        lastError: { message: expect.stringMatching(/abandoned/) },
      });
    });

    it("rejects bad input with ValidationError and writes nothing", async () => {
      const store = await driver.open();
      const bad: unknown[] = [
        { queue: "", name: "x" },
        { queue: "q", name: "nul\u0000name" },
        { queue: "q", name: "x", payload: { n: 10n } },
        { queue: "q", name: "x", payload: { text: "nul\u0000inside" } },
        { queue: "q", name: "x", payload: "x".repeat(5 * 1024 * 1024) },
        { queue: "q", name: "x", priority: 1.5 },
        { queue: "q", name: "x", maxAttempts: 0 },
        { queue: "q", name: "x", runAt: new Date("nope") },
        { queue: "q", name: "x", id: "not-a-uuid" },
      ];
      for (const job of bad) {
        // The good first job of the batch must not be written either.
        await expect(
          store.jobs.enqueue([{ queue: "q", name: "fine" }, job as { queue: string; name: string }]),
        ).rejects.toBeInstanceOf(ValidationError);
      }
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(store.jobs.enqueue({ queue: "q", name: "x", payload: cyclic })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.jobs.complete({ id: "nope", leaseToken: "nope" })).rejects.toBeInstanceOf(
        ValidationError,
      );
      expect(await jobCount(store)).toBe(0);
    });

    if (driver.concurrent) {
      it("dedupes one key under 20 concurrent enqueues", async () => {
        const store = await driver.open({ pool: { max: 20 } });
        const ids = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.jobs.enqueue({ queue: "q", name: "once", key: "k", payload: i }),
          ),
        );
        expect(new Set(ids).size).toBe(1);
        expect(await jobCount(store)).toBe(1);
      });

      it("never hands one job to two concurrent claimers", async () => {
        const store = await driver.open({ pool: { max: 8 } });
        await store.jobs.enqueue(Array.from({ length: 400 }, (_, i) => ({ queue: "q", name: `j${i}` })));
        // Eight claimers loop until the queue is empty.
        const claims = await Promise.all(
          Array.from({ length: 8 }, async (_, w) => {
            const mine = [];
            for (;;) {
              const batch = await store.jobs.claim({ queue: "q", workerId: `w${w}`, limit: 25 });
              if (batch.length === 0 && (await store.jobs.stats("q"))[0]?.ready === 0) return mine;
              mine.push(...batch);
            }
          }),
        );
        const ids = claims.flat().map((j) => j.id);
        expect(ids).toHaveLength(400);
        expect(new Set(ids).size).toBe(400);
      });
    }
  });
});
