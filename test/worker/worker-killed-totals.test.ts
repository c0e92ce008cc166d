/**
 * A worker killed outright (SIGKILL) right after its jobs completed or failed leaves the queue's totals
 * counting every one of them: each count commits with what it counts, not from the worker's memory
 * later. On the server, and on the embedded store held by the killed process, which another process
 * then takes over.
 */
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { embeddedEnv, killAfterFile, tempDir } from "../support/embedded-env.js";
import { type FixtureProcess, startFixture } from "../support/fixture-process.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { until } from "../support/waiting.js";

const started: FixtureProcess[] = [];
afterAll(() => {
  for (const { child } of started) if (child.exitCode === null) child.kill("SIGKILL");
});

const COMPLETING = 12;
const FAILING = 3;

async function jobsLeft(store: Store): Promise<{ live: number; dead: number }> {
  const { rows } = await store.query<{ live: number; dead: number }>(
    `select count(*) filter (where status <> 'dead')::int as live,
            count(*) filter (where status = 'dead')::int as dead
       from ${store.schema}.jobs where queue = 'media'`,
  );
  return rows[0] ?? { live: -1, dead: -1 };
}

/**
 * Enqueues the jobs through `store`, lets `worker` run them, kills it the moment none is left to run,
 * and returns the totals then read through `afterKill` (the same store, or one opened after).
 */
async function killAfterWork(store: Store, worker: FixtureProcess, afterKill: () => Promise<Store>) {
  await until(() => worker.lines.includes("ready") || worker.child.exitCode !== null, 60_000);
  expect(worker.child.exitCode).toBeNull();
  await store.jobs.enqueue([
    ...Array.from({ length: COMPLETING }, (_, i) => ({ queue: "media", name: "transcode", payload: { i } })),
    ...Array.from({ length: FAILING }, () => ({ queue: "media", name: "fails", maxAttempts: 1 })),
  ]);
  await until(async () => {
    const left = await jobsLeft(store);
    return left.live === 0 && left.dead === FAILING;
  }, 60_000);
  const exited = worker.exited;
  worker.child.kill("SIGKILL");
  expect(await exited).toBeNull();
  const after = await afterKill();
  const [totals] = await after.jobs.totals("media");
  expect(totals).toMatchObject({
    enqueued: COMPLETING + FAILING,
    completed: COMPLETING,
    failed: FAILING,
    dead: FAILING,
  });
  // A start counts with the start mark that makes it an attempt, which may still have been on its way.
  expect(totals?.started).toBeLessThanOrEqual(COMPLETING + FAILING);
  expect((await after.jobs.stats("media"))[0]).toMatchObject({ queue: "media", waiting: 0, dead: FAILING });
}

describe("postgres", () => {
  it("a SIGKILLed worker's completions, failures and dead jobs stay counted", {
    timeout: 120_000,
  }, async () => {
    const url = await fileDatabaseUrl();
    const schema = uniqueSchema("killed_totals");
    const store = await openStore({ connection: url, schema });
    try {
      const worker = startFixture("totals-worker.ts", [url, schema]);
      started.push(worker);
      await killAfterWork(store, worker, async () => store);
    } finally {
      await store.close();
    }
  });
});

describe("pglite", () => {
  it("a SIGKILLed worker holding the embedded store leaves its completions, failures and dead jobs counted", {
    timeout: 180_000,
  }, async () => {
    const dataDir = tempDir("killed-totals");
    const worker = startFixture("totals-worker.ts", [dataDir], { env: embeddedEnv() });
    started.push(worker);
    killAfterFile(worker.child);
    await until(() => worker.lines.includes("ready") || worker.child.exitCode !== null, 60_000);
    // Through the worker's process while it holds the store; this process takes it over once it is killed.
    const store = await openStore({ dataDir, env: embeddedEnv() });
    try {
      await killAfterWork(store, worker, async () => store);
    } finally {
      await store.close();
    }
  });
});
