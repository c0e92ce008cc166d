/**
 * The worker under what ordinary use throws at it: a transaction longer than a lease on one connection,
 * handlers that hold every pooled connection, an onError that throws, odd queue names, and stopping.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConflictError, ValidationError } from "../../src/index.js";
import { fixtureScript } from "../support/fixture-process.js";
import { forEachDriver } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { unhandledDuring, until } from "../support/waiting.js";

forEachDriver((driver) => {
  describe("worker safety", () => {
    it("never starts a job it already holds, even when a transaction outlasts the lease", async () => {
      const store = await driver.open();
      const ids = await store.jobs.enqueue(
        Array.from({ length: 6 }, (_, i) => ({ queue: "q", name: `n${i}` })),
      );
      const runs = new Map<string, number>();
      const errors: unknown[] = [];
      const worker = store.jobs.work({
        queue: "q",
        concurrency: 2,
        leaseMs: 300,
        pollIntervalMs: 20,
        onError: (error) => errors.push(error),
        handler: async (job) => {
          runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
          // On PGlite this holds the one connection for five leases: heartbeats and claims queue behind it.
          if (job.name === "n0") await store.transaction((tx) => tx.query("select pg_sleep(1.5)"));
        },
      });
      await until(async () => (await store.jobs.list({ queue: "q" })).length === 0);
      await worker.stop();
      expect([...runs.keys()].sort()).toEqual([...ids].sort());
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
      expect(errors).toEqual([]);
    });

    it("refuses transactional handlers that would hold every pooled connection", async () => {
      if (!driver.concurrent) return; // one connection: transactional handlers heartbeat through it
      const store = await driver.open({ pool: { max: 4 } });
      expect(() =>
        store.jobs.work({ queue: "q", concurrency: 4, transactional: true, handler: () => {} }),
      ).toThrow(ValidationError);
      expect(await store.jobs.list({ queue: "q" })).toEqual([]);
    });

    it("keeps leases of transactional handlers alive with one connection to spare", async () => {
      if (!driver.concurrent) return;
      // Each handler holds its connection for one and a half leases: without a connection to spare, the
      // heartbeats would wait for one past connectionTimeoutMs (an error) or past the lease (lost). The
      // margins are seconds, not a few hundred milliseconds, so a busy machine's pauses do not count.
      const store = await driver.open({ pool: { max: 4, connectionTimeoutMs: 2_000 } });
      await store.jobs.enqueue(Array.from({ length: 6 }, (_, i) => ({ queue: "q", name: `n${i}` })));
      const errors: unknown[] = [];
      let done = 0;
      const worker = store.jobs.work({
        queue: "q",
        concurrency: 3,
        leaseMs: 2_000,
        transactional: true,
        onError: (error) => errors.push(error),
        handler: async (_job, { tx }) => {
          await tx?.query("select pg_sleep(3)");
          done++;
        },
      });
      await until(async () => (await store.jobs.list({ queue: "q" })).length === 0);
      await worker.stop();
      expect(done).toBe(6);
      expect(errors).toEqual([]);
    });

    it("survives an onError that throws, in every chain that reports to it", async () => {
      const store = await driver.open();
      const reported: unknown[] = [];
      const onError = (error: unknown) => {
        reported.push(error);
        throw new Error("onError threw");
      };
      const unhandled = await unhandledDuring(async () => {
        await store.jobs.enqueue([
          { queue: "q", name: "cancel-then-return" },
          { queue: "q", name: "cancel-then-throw" },
        ]);
        const worker = store.jobs.work({
          queue: "q",
          leaseMs: 300,
          onError,
          handler: async (job) => {
            await store.jobs.cancel([job.id]);
            if (job.name === "cancel-then-throw") {
              // Long enough for a heartbeat to find the lease gone; then the failure cannot be recorded.
              await new Promise((resolve) => setTimeout(resolve, 400));
              throw new Error("handler failed");
            }
          },
        });
        // A worker whose tables are gone: every claim reports an error. (A queue name claims would
        // refuse cannot serve: work() refuses it before starting.)
        const gone = await driver.open();
        const refused = gone.jobs.work({ queue: "q", pollIntervalMs: 50, onError, handler: () => {} });
        // The drop takes the tables in its own order while the worker's claims take them in theirs: a
        // deadlock that loses the drop is tried again (one that loses a claim is one more error reported).
        for (let attempt = 1; ; attempt++) {
          const dropped = await gone.query(`drop schema ${gone.schema} cascade`).then(
            () => true,
            (error: unknown) => {
              if (!(error instanceof ConflictError) || attempt === 5) throw error;
              return false;
            },
          );
          if (dropped) break;
        }
        await until(() => reported.length >= 4);
        await worker.stop();
        await refused.stop();
      });
      expect(unhandled).toEqual([]);
    });

    it("wakes a worker whose queue name holds a comma", async () => {
      const store = await driver.open();
      let handled = 0;
      const worker = store.jobs.work({
        queue: "orders,eu",
        pollIntervalMs: 60_000,
        handler: () => {
          handled++;
        },
      });
      // Past the claims a worker makes as it starts, so only a notification can bring the job.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await store.jobs.enqueue({ queue: "orders,eu", name: "n" });
      await until(() => handled === 1, 10_000);
      await worker.stop();
    });

    it("claims again soon after a claim fails, without waiting for the poll", async () => {
      if (!driver.concurrent) return; // the failure needs a second session to cancel the claim
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "q", name: "n" });
      const errors: unknown[] = [];
      let handled = 0;
      let worker: { stop(): Promise<void> } | undefined;
      // The worker's first claim waits behind a table lock and is cancelled, as a deadlock, a statement
      // timeout or an administrator's cancel would end it. The job was enqueued before the worker
      // listened, so no notification will come, and the poll is an hour away.
      await store.transaction(async (tx) => {
        await tx.query(`lock table "${store.schema}".jobs in access exclusive mode`);
        worker = store.jobs.work({
          queue: "q",
          pollIntervalMs: 3_600_000,
          onError: (error) => errors.push(error),
          handler: () => {
            handled++;
          },
        });
        const waiting = `select pid from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`;
        // A transaction sees the sessions as they were when it first looked, unless told to look again.
        const waiters = async () => {
          await tx.query(`select pg_stat_clear_snapshot()`);
          return tx.query(waiting);
        };
        await until(async () => (await waiters()).rows.length > 0, 10_000);
        await tx.query(`select pg_cancel_backend(pid) from (${waiting}) waiting`);
        await until(() => errors.length > 0, 10_000);
      });
      await until(() => handled === 1, 10_000);
      await worker?.stop();
    });
  });
});

describe("stopping", () => {
  it("leaves nothing scheduled: a process exits once its worker and store are closed", {
    timeout: 120_000,
  }, async () => {
    const child = spawn(process.execPath, [...NODE_FLAGS, fixtureScript("stop-and-exit.ts")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    // Starting PGlite takes the fixture seconds, many more on a busy machine: the wait that matters
    // begins once the worker and the store are closed.
    await new Promise<void>((resolve) => {
      child.stdout.on("data", (chunk) => {
        output += chunk;
        if (output.includes("stopped")) resolve();
      });
      void exited.then(() => resolve());
    });
    // The worker's stop timeout is ten minutes: a timer left behind would keep the process alive that long.
    const code = await new Promise<number | null>((resolve, reject) => {
      const timeout = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`still running 60 s after it closed its store; printed: ${output}`));
      }, 60_000);
      void exited.then((exitCode) => {
        clearTimeout(timeout);
        resolve(exitCode);
      });
    });
    expect(output).toContain("stopped");
    expect(code).toBe(0);
  });
});

describe("heartbeats racing completions", () => {
  it("never deadlock, never report a false lost lease, and run each job once", async () => {
    const { DRIVERS } = await import("../support/harness.js");
    const postgres = DRIVERS.find((d) => d.concurrent);
    if (!postgres) return;
    const store = await postgres.open({ pool: { max: 24 } });
    const deadlocks = async () => {
      const { rows } = await store.query<{ n: number }>(
        "select deadlocks::int as n from pg_stat_database where datname = current_database()",
      );
      return rows[0]?.n ?? 0;
    };
    const before = await deadlocks();
    const total = 30_000;
    await store.jobs.enqueue(
      Array.from({ length: total }, (_, i) => ({ queue: "q", name: "n", payload: i })),
    );
    const runs = new Map<string, number>();
    const errors: unknown[] = [];
    // A heartbeat every third of a second over the held jobs, while completions land all the time.
    const worker = store.jobs.work({
      queue: "q",
      concurrency: 16,
      leaseMs: 1_000,
      onError: (error) => errors.push(error),
      handler: async (job) => {
        runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        if (Number(job.payload) % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });
    // A drained queue stays listed by jobs.stats, with nothing waiting or running.
    await until(async () => {
      const [stats] = await store.jobs.stats("q");
      return stats !== undefined && stats.waiting + stats.running + stats.dead === 0;
    }, 120_000);
    await worker.stop();
    expect(errors.map(String)).toEqual([]);
    expect(runs.size).toBe(total);
    expect([...runs.values()].filter((n) => n > 1)).toEqual([]);
    expect((await deadlocks()) - before).toBe(0);
  }, 180_000);
});
