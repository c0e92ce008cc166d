/**
 * jobs.fail must always record the failure: at any attempt count (the backoff must not overflow) and
 * for any error text (the 64 KiB cut must not split a surrogate pair, and lone surrogates, which jsonb
 * refuses, are stored as U+FFFD).
 */
import { describe, expect, it } from "vitest";
import type { Job, LeasedJob, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const MAX_INT = 2_147_483_647;
const CUT = 64 * 1024;
const EMOJI = "\u{1F600}"; // two UTF-16 code units

/** True when `text` holds a high surrogate not followed by a low one, or a low one not after a high one. */
function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

let queueCounter = 0;

/**
 * Enqueues a job on a queue of its own and claims it on attempt `attempt` (the attempts counter is set
 * to one less before the claim, which adds one).
 */
async function claimAtAttempt(
  store: Store,
  attempt: number,
  options: { maxAttempts?: number; backoff?: { baseMs?: number; maxMs?: number } } = {},
): Promise<LeasedJob> {
  const queue = `failures-${++queueCounter}`;
  const id = await store.jobs.enqueue({ queue, name: `attempt-${attempt}`, ...options });
  await store.query(`update ${store.schema}.jobs set attempts = $2 where id = $1`, [id, attempt - 1]);
  const [job] = await store.jobs.claim({ queue, workerId: "w" });
  expect(job).toMatchObject({ id, attempts: attempt, status: "running" });
  return job as LeasedJob;
}

/** The backoff fail() chose: run_at and updated_at are both set by its one statement. */
function delayMs(job: Job): number {
  return job.runAt.getTime() - job.updatedAt.getTime();
}

/** Backoff is `expected` ms with ±25% jitter; Dates drop the microseconds, hence the 1 ms slack. */
function expectBackoff(job: Job, expected: number): void {
  expect(job.status).toBe("waiting");
  expect(delayMs(job)).toBeGreaterThanOrEqual(Math.floor(expected * 0.75) - 1);
  expect(delayMs(job)).toBeLessThanOrEqual(Math.ceil(expected * 1.25) + 1);
}

/** fail() on a fresh job, then the job as the table holds it afterwards. */
async function failWith(store: Store, error: unknown): Promise<Job> {
  const job = await claimAtAttempt(store, 1, { maxAttempts: 2 });
  const failed = await store.jobs.fail(job, error);
  expect(failed).toMatchObject({ status: "waiting", attempts: 1, leaseOwner: null });
  expect(failed.runAt.getTime()).toBeGreaterThan(Date.now());
  expect(await store.jobs.get(job.id)).toEqual(failed);
  return failed;
}

forEachDriver((driver) => {
  describe("jobs.fail at large attempt counts", () => {
    it.each([1_025, 1_026, 2_000, 1_000_000, MAX_INT - 1])(
      "records the failure on attempt %i and waits backoffMaxMs",
      async (attempt) => {
        const store = await driver.open();
        const job = await claimAtAttempt(store, attempt, { maxAttempts: MAX_INT });
        const failed = await store.jobs.fail(job, new Error(`failed on attempt ${attempt}`));
        expect(failed).toMatchObject({
          status: "waiting",
          attempts: attempt,
          leaseOwner: null,
          leaseExpiresAt: null,
          lastError: { name: "Error", message: `failed on attempt ${attempt}` },
        });
        expectBackoff(failed, 3_600_000); // the default backoffMaxMs
        expect(await store.jobs.get(job.id)).toEqual(failed);
      },
    );

    it("does not overflow when a huge base meets a large attempt count", async () => {
      const store = await driver.open();
      // 2^999 is a finite double, but times a base near 2^31 it is not.
      const job = await claimAtAttempt(store, 1_000, {
        maxAttempts: MAX_INT,
        backoff: { baseMs: MAX_INT, maxMs: MAX_INT },
      });
      const failed = await store.jobs.fail(job, new Error("huge base"));
      expect(failed.lastError?.message).toBe("huge base");
      expectBackoff(failed, MAX_INT);
    });

    it("sends the job dead on its last attempt, even at maxAttempts 2,147,483,647", async () => {
      const store = await driver.open();
      const job = await claimAtAttempt(store, MAX_INT, { maxAttempts: MAX_INT });
      const runAtBefore = (await store.jobs.get(job.id)).runAt;
      const dead = await store.jobs.fail(job, new Error("last one"));
      expect(dead).toMatchObject({
        status: "dead",
        attempts: MAX_INT,
        leaseOwner: null,
        lastError: { message: "last one" },
      });
      expect(dead.runAt).toEqual(runAtBefore);
      expect(await store.jobs.claim({ queue: job.queue, workerId: "w" })).toEqual([]);
    });

    it("keeps the backoff of small attempt counts, up to and past the cap", async () => {
      const store = await driver.open();
      // base 1 ms: attempt n waits 2^(n-1) ms, until backoffMaxMs (here the largest int) caps it.
      for (const attempt of [1, 2, 11, 30, 31, 32, 33, 40]) {
        const job = await claimAtAttempt(store, attempt, {
          maxAttempts: 1_000,
          backoff: { baseMs: 1, maxMs: MAX_INT },
        });
        expectBackoff(await store.jobs.fail(job, "x"), Math.min(MAX_INT, 2 ** (attempt - 1)));
      }
      // The defaults' shape: base 1 s doubling, capped at 1 h from attempt 13 on.
      for (const attempt of [1, 3, 12, 13, 14]) {
        const job = await claimAtAttempt(store, attempt, { maxAttempts: 1_000 });
        expectBackoff(await store.jobs.fail(job, "x"), Math.min(3_600_000, 1_000 * 2 ** (attempt - 1)));
      }
      // Base 0 never waits, at any attempt.
      for (const attempt of [1, 40, 5_000]) {
        const job = await claimAtAttempt(store, attempt, { maxAttempts: 10_000, backoff: { baseMs: 0 } });
        const failed = await store.jobs.fail(job, "x");
        expect(failed.status).toBe("waiting");
        expect(delayMs(failed)).toBe(0);
      }
    });
  });

  describe("jobs.fail with error text jsonb could refuse", () => {
    it("cuts a long message before an emoji that straddles 64 KiB, dropping it whole", async () => {
      const store = await driver.open();
      const message = `${"x".repeat(CUT - 1)}${EMOJI} and more text after the cut`;
      const failed = await failWith(store, new Error(message));
      expect(failed.lastError?.message).toBe("x".repeat(CUT - 1));
      expect(failed.lastError?.name).toBe("Error");
      expect(failed.lastError?.stack?.startsWith(`Error: ${"x".repeat(100)}`)).toBe(true);
    });

    it("keeps an emoji whole when it ends exactly at the cut", async () => {
      const store = await driver.open();
      const failed = await failWith(store, new Error(`${"x".repeat(CUT - 2)}${EMOJI}tail`));
      expect(failed.lastError?.message).toBe(`${"x".repeat(CUT - 2)}${EMOJI}`);
    });

    it("cuts a stack the same way", async () => {
      const store = await driver.open();
      const error = new Error("short");
      error.stack = `${"y".repeat(CUT - 1)}${EMOJI}${"z".repeat(100)}`;
      const failed = await failWith(store, error);
      expect(failed.lastError).toEqual({ name: "Error", message: "short", stack: "y".repeat(CUT - 1) });
    });

    it("on the last attempt the job goes dead with the cut message", async () => {
      const store = await driver.open();
      const job = await claimAtAttempt(store, 1, { maxAttempts: 1 });
      const dead = await store.jobs.fail(job, new Error(`${"x".repeat(CUT - 1)}${EMOJI}!`));
      expect(dead).toMatchObject({
        status: "dead",
        attempts: 1,
        lastError: { message: "x".repeat(CUT - 1) },
      });
    });

    it("stores each lone surrogate in an Error as U+FFFD, and keeps pairs", async () => {
      const store = await driver.open();
      const message = `high \uD800 low \uDC00 reversed \uDC00\uD800 pair ${EMOJI} end\uD83D`;
      const failed = await failWith(store, new Error(message));
      const stored = failed.lastError?.message ?? "";
      expect(stored).toBe(`high \uFFFD low \uFFFD reversed \uFFFD\uFFFD pair ${EMOJI} end\uFFFD`);
      expect(hasLoneSurrogate(stored)).toBe(false);
      expect(hasLoneSurrogate(failed.lastError?.stack ?? "")).toBe(false);
    });

    it("stores lone surrogates in an error object or a thrown string as U+FFFD, keeping every field", async () => {
      const store = await driver.open();
      const failed = await failWith(store, {
        message: "object \uDFFF",
        code: "E\uD83D",
        nested: { list: ["ok", "\uDC00x"] },
        // Text that merely looks like an escape is not a surrogate: a backslash, then "ud800".
        literal: "\\ud800 and \\\uD800",
      });
      expect(failed.lastError).toEqual({
        message: "object \uFFFD",
        code: "E\uFFFD",
        nested: { list: ["ok", "\uFFFDx"] },
        literal: "\\ud800 and \\\uFFFD",
      });
      const fromString = await failWith(store, "thrown \uD800 string");
      expect(fromString.lastError).toEqual({ message: "thrown \uFFFD string" });
    });
  });
});
