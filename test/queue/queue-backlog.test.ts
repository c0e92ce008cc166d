/**
 * Jobs due later wait apart from the ready set: a claim never walks past them, and they are claimed
 * once due, by claim() and by workers alike.
 */
import { describe, expect, it } from "vitest";
import type { Logger, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

/** A logger that keeps each statement the store sends, with its values. */
function statementRecorder(): { logger: Logger; statements: { sql: string; values: unknown[] }[] } {
  const statements: { sql: string; values: unknown[] }[] = [];
  const ignore = () => {};
  const logger: Logger = {
    debug: (entry) => {
      const { sql, values } = entry as { sql?: string; values?: unknown[] };
      if (sql) statements.push({ sql, values: values ?? [] });
    },
    info: ignore,
    warn: ignore,
    error: ignore,
  };
  return { logger, statements };
}

/** Shared buffers the plan touched, read or hit, over the whole statement. */
function buffersTouched(plan: Record<string, unknown>): number {
  return Number(plan["Shared Hit Blocks"] ?? 0) + Number(plan["Shared Read Blocks"] ?? 0);
}

async function explainAnalyzed(
  store: Store,
  sql: string,
  values: unknown[],
): Promise<Record<string, unknown>> {
  // EXPLAIN ANALYZE runs the statement: inside a transaction that rolls back, it changes nothing.
  let plan: Record<string, unknown> = {};
  await store
    .transaction(async (tx) => {
      const { rows } = await tx.query<{ "QUERY PLAN": [{ Plan: Record<string, unknown> }] }>(
        `explain (analyze, buffers, format json) ${sql}`,
        values,
      );
      plan = rows[0]?.["QUERY PLAN"][0]?.Plan ?? {};
      throw new Error("roll back");
    })
    .catch((error: unknown) => {
      if (String(error) !== "Error: roll back") throw error;
    });
  return plan;
}

forEachDriver((driver) => {
  describe("jobs due later", () => {
    it("are claimed once due, not before, and count as waiting meanwhile", async () => {
      const store = await driver.open();
      // Due far enough ahead that the checks before it finish first, on PGlite on a loaded machine too.
      const due = Date.now() + 3_000;
      const id = await store.jobs.enqueue({ queue: "q", name: "later", runAt: new Date(due) });
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      expect((await store.jobs.get(id)).status).toBe("waiting");
      expect((await store.jobs.list({ queue: "q", status: "waiting" })).map((job) => job.id)).toEqual([id]);
      expect(await store.jobs.stats("q")).toMatchObject([{ waiting: 1, ready: 0 }]);
      expect(Date.now()).toBeLessThan(due);
      await until(async () => (await store.jobs.stats("q"))[0]?.ready === 1, 10_000);
      expect(Date.now()).toBeGreaterThanOrEqual(due);
      expect(await store.jobs.stats("q")).toMatchObject([{ waiting: 1, ready: 1 }]);
      const [claimed] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(claimed?.id).toBe(id);
    });

    it("a retry after a backoff waits apart, then runs", async () => {
      const store = await driver.open();
      const id = await store.jobs.enqueue({
        queue: "q",
        name: "flaky",
        backoff: { baseMs: 300, maxMs: 300 },
      });
      const [lease] = await store.jobs.claim({ queue: "q", workerId: "w" });
      if (!lease) throw new Error("no job claimed");
      const failed = await store.jobs.fail(lease, new Error("not yet"));
      expect(failed.status).toBe("waiting");
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      await until(async () =>
        (await store.jobs.claim({ queue: "q", workerId: "w" })).some((job) => job.id === id),
      );
    });

    it("a worker runs a job once it is due", async () => {
      const store = await driver.open();
      const ran: string[] = [];
      const worker = store.jobs.work({
        queue: "q",
        pollIntervalMs: 100,
        handler: (job) => {
          ran.push(job.name);
        },
      });
      await store.jobs.enqueue([
        { queue: "q", name: "now" },
        { queue: "q", name: "soon", runAt: new Date(Date.now() + 300) },
      ]);
      await until(() => ran.length === 2, 10_000);
      await worker.stop();
      expect(ran).toEqual(["now", "soon"]);
    });

    it("a dedupe key holds while its job waits for later, and replace can bring it forward", async () => {
      const store = await driver.open();
      const later = new Date(Date.now() + 60_000);
      const id = await store.jobs.enqueue({ queue: "q", name: "n", key: "k", runAt: later });
      expect(await store.jobs.enqueue({ queue: "q", name: "n", key: "k" })).toBe(id);
      expect(await store.jobs.claim({ queue: "q", workerId: "w" })).toEqual([]);
      expect(await store.jobs.enqueue({ queue: "q", name: "n", key: "k", replace: true })).toBe(id);
      const [claimed] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(claimed?.id).toBe(id);
    });

    it("a claim does not walk past jobs due later that outrank the ready one", async () => {
      if (!driver.concurrent) return; // EXPLAIN's buffer counts, on the real server
      const { logger, statements } = statementRecorder();
      const store = await driver.open({ logger, logStatements: { values: true } });
      const later = new Date(Date.now() + 86_400_000);
      for (let batch = 0; batch < 10; batch++) {
        await store.jobs.enqueue(
          // Distinct priorities: with one shared priority, PostgreSQL 18's skip scan would hop over them all.
          Array.from({ length: 5_000 }, (_, i) => ({
            queue: "q",
            name: "later",
            priority: 1 + batch * 5_000 + i,
            runAt: later,
          })),
        );
      }
      await store.jobs.enqueue({ queue: "q", name: "ready" });
      await store.query(`analyze ${store.schema}.jobs`);
      statements.length = 0;
      const [claimed] = await store.jobs.claim({ queue: "q", workerId: "w" });
      expect(claimed?.name).toBe("ready");
      const claimStatement = statements.find((s) => /^\s*(with .*)?update .*jobs j/is.test(s.sql));
      if (!claimStatement)
        throw new Error(`no claim statement among: ${statements.map((s) => s.sql).join("\n")}`);
      await store.jobs.enqueue({ queue: "q", name: "ready again" });
      const plan = await explainAnalyzed(store, claimStatement.sql, claimStatement.values);
      // Reading 50,000 index entries touches hundreds of pages; a claim that goes straight to the ready
      // job touches a handful.
      expect(buffersTouched(plan)).toBeLessThan(60);
    });
  });
});
