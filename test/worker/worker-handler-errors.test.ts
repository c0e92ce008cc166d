/**
 * What a worker does with whatever a handler throws: a failure is recorded and counted, and the job
 * retried until dead, whatever the error holds; only the loss of the job's own lease is not a failure.
 */
import { describe, expect, it } from "vitest";
import { type LeasedJob, LeaseLostError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { runTwoAttempts } from "../support/two-attempts.js";
import { until } from "../support/waiting.js";

/** A job that cannot be found: acking it as a timer, or completing it as a job, loses a lease. */
const NO_SUCH_LEASE = {
  id: "00000000-0000-4000-8000-000000000001",
  leaseToken: "00000000-0000-4000-8000-000000000002",
};

/** Values a handler may throw that are awkward to record, each with what the record should say. */
const awkward: [string, () => unknown, Record<string, unknown>][] = [
  [
    "an Error whose message is not a string",
    () => Object.assign(new Error("x"), { message: 42 }),
    {
      name: "Error",
      message: "42",
    },
  ],
  [
    "an Error whose name holds NUL",
    () => Object.assign(new Error("x"), { name: "Bad\u0000Name" }),
    {
      name: "Bad\uFFFDName",
      message: "x",
    },
  ],
  ["an object without a prototype", () => Object.create(null), { message: "[object Object]" }],
];

forEachDriver((driver) => {
  describe("a handler's LeaseLostError", () => {
    it("fails the job when it is about a timer, not the job, and retries it until dead", async () => {
      const store = await driver.open();
      const { job, runs, counts } = await runTwoAttempts(store, () => store.timers.ack(NO_SUCH_LEASE));
      expect(runs).toBe(2);
      expect(job).toMatchObject({ status: "dead", attempts: 2, lastError: { name: "LeaseLostError" } });
      expect(counts.failed).toBe(2);
    });

    it("fails the job when it is about another job", async () => {
      const store = await driver.open();
      const other = await store.jobs.enqueue({ queue: "other", name: "other" });
      const [lease] = await store.jobs.claim({ queue: "other", workerId: "by hand" });
      await store.jobs.cancel([other]);
      const { job, runs } = await runTwoAttempts(store, () => store.jobs.complete(lease as LeasedJob));
      expect(runs).toBe(2);
      expect(job).toMatchObject({ status: "dead", attempts: 2, lastError: { name: "LeaseLostError" } });
      expect(String(job.lastError?.message)).toContain(other);
    });

    it("is no failure when the job's own lease is gone", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({ queue: "q", name: "n" });
      const errors: unknown[] = [];
      const worker = store.jobs.work({
        queue: "q",
        onError: (error) => errors.push(error),
        handler: async (job, { heartbeat }) => {
          await store.jobs.cancel([job.id]);
          await heartbeat();
        },
      });
      await until(() => errors.length > 0);
      await worker.stop();
      expect(worker.counts).toEqual({ completed: 0, failed: 0 });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(LeaseLostError);
      expect((errors[0] as { lost?: string[] }).lost).toEqual([id]);
    });
  });

  describe("a handler's error that is awkward to record", () => {
    it.each(awkward)("records %s, and retries the job until dead", async (_label, make, recorded) => {
      const store = await driver.open();
      const { job, runs } = await runTwoAttempts(store, () => {
        throw make();
      });
      expect(runs).toBe(2);
      expect(job).toMatchObject({ status: "dead", attempts: 2 });
      expect(job.lastError).toMatchObject(recorded);
    });

    it("records an error over the store's JSON limit, shortened to fit", async () => {
      const store = await driver.open({ limits: { jsonBytes: 2048 } });
      const message = "boom ".repeat(500);
      const { job, runs } = await runTwoAttempts(store, () => {
        throw new Error(message);
      });
      expect(runs).toBe(2);
      expect(job).toMatchObject({ status: "dead", attempts: 2, lastError: { name: "Error" } });
      expect(message.startsWith(String(job.lastError?.message))).toBe(true);
      expect(String(job.lastError?.message).length).toBeGreaterThan(0);
      expect(Buffer.byteLength(JSON.stringify(job.lastError))).toBeLessThanOrEqual(2048);
    });

    it("fail() records anything thrown, within any JSON limit", async () => {
      const revoked = Proxy.revocable({}, {});
      revoked.revoke();
      // The stack first: defining it formats the stack V8 holds, which reads the message.
      const throwingGetters = Object.defineProperties(new Error("x"), {
        stack: {
          get() {
            throw new Error("stack getter");
          },
        },
        message: {
          get() {
            throw new Error("message getter");
          },
        },
      });
      const cyclic: Record<string, unknown> = { message: "cyclic" };
      cyclic.self = cyclic;
      const values: unknown[] = [
        ...awkward.map(([, make]) => make()),
        undefined,
        null,
        Symbol("thrown"),
        10n,
        () => "a function",
        "a \u0000 string with NUL and a lone \uD800 surrogate",
        revoked.proxy,
        throwingGetters,
        cyclic,
        { message: "a BigInt beside it", amount: 10n },
        Object.assign(new Error("\uD83D\uDE00".repeat(40_000)), { name: "N".repeat(100_000) }),
        new Error("x".repeat(1_000_000)),
      ];
      // 4 bytes: the least a job's own payload (null) needs.
      for (const jsonBytes of [4 * 1024 * 1024, 2048, 64, 4]) {
        const store = await driver.open({ limits: { jsonBytes } });
        await store.jobs.enqueue(values.map((_, i) => ({ queue: "q", name: `n${i}`, maxAttempts: 1 })));
        const leases = await store.jobs.claim({ queue: "q", workerId: "by hand", limit: values.length });
        expect(leases).toHaveLength(values.length);
        for (const [i, lease] of leases.entries()) {
          const job = await store.jobs.fail(lease, values[Number(lease.name.slice(1))]);
          expect(job.status, `value ${i} with jsonBytes ${jsonBytes}`).toBe("dead");
          expect(Buffer.byteLength(JSON.stringify(job.lastError))).toBeLessThanOrEqual(jsonBytes);
        }
      }
    });
  });
});
