/**
 * The dashboard's sampler counts executions and jobs (two full-table statements) only while someone looks
 * at the overview: counted here by the statements the store logs, not by timing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { type Dashboard, serveDashboard } from "../../src/dashboard/index.js";
import type { Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { statementLog } from "../support/waiting.js";

const INTERVAL_MS = 20;
const IDLE_MS = 150;

/** executions.statusCounts(): only the sampler sends it. */
const isExecutionCount = (sql: string) => sql.includes("where e.status = $2 limit $1 + 1");
/** jobs.stats(): the sampler's, or the queues page's own. */
const isJobStats = (sql: string) => sql.includes("count(*) filter (where status = 'dead')");
const isStats = (sql: string) => isExecutionCount(sql) || isJobStats(sql);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const open: Dashboard[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

async function serve(store: Store): Promise<Dashboard> {
  const dashboard = await serveDashboard(store, {
    port: 0,
    logger: silentLogger,
    env: {},
    sampleIntervalMs: INTERVAL_MS,
    sampleIdleMs: IDLE_MS,
  });
  open.push(dashboard);
  return dashboard;
}

async function overview(dashboard: Dashboard) {
  const res = await fetch(new URL("/api/overview", dashboard.url));
  expect(res.status).toBe(200);
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON; the assertions check its shape
  return (await res.json()) as any;
}

/** Resolves once the count stays the same over `windowMs` (the sampler went idle), or fails after `timeoutMs`. */
async function settled(count: () => number, windowMs: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = count();
    await sleep(windowMs);
    if (count() === before) return before;
    if (Date.now() > deadline) throw new Error(`still sampling after ${timeoutMs} ms`);
  }
}

forEachDriver((driver) => {
  describe("dashboard sampler", () => {
    it("sends no stats statements while no one asks, and samples at once when someone does", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      await store.jobs.enqueue({ queue: "mail", name: "welcome" });
      const dashboard = await serve(store);
      const stats = () => log.sql.filter(isStats).length;
      const samples = () => log.sql.filter(isExecutionCount).length;

      // Served and idle: over ten sampler intervals, not one counting statement.
      const idle = stats();
      await sleep(10 * INTERVAL_MS);
      expect(stats()).toBe(idle);

      // The first request after idle gets a sample taken for it.
      const asked = Date.now();
      const first = await overview(dashboard);
      expect(new Date(first.sampledAt).getTime()).toBeGreaterThanOrEqual(asked - 5);
      expect(first.queues).toMatchObject([{ queue: "mail", waiting: 1 }]);
      expect(samples()).toBeGreaterThan(0);
      // Later samples see later work, while someone keeps looking.
      await store.jobs.enqueue({ queue: "mail", name: "digest" });
      await expect
        .poll(async () => (await overview(dashboard)).queues[0]?.waiting, {
          interval: INTERVAL_MS,
          timeout: 10_000,
        })
        .toBe(2);
      // Looking on: a sample also reads each queue's totals and limits, and on a loaded machine the
      // sampler could go idle between two looks, which would say nothing of sampling while looked at.
      const whileLooking = samples();
      await expect
        .poll(async () => (await overview(dashboard)) && samples(), {
          interval: INTERVAL_MS,
          timeout: 10_000,
        })
        .toBeGreaterThan(whileLooking);

      // No request for the idle period: sampling stops, and stays stopped.
      const stopped = await settled(stats, 2 * IDLE_MS);
      await sleep(10 * INTERVAL_MS);
      expect(stats()).toBe(stopped);

      // Looked at again: a fresh sample at once.
      await store.jobs.enqueue({ queue: "mail", name: "third" });
      const beforeAgain = samples();
      expect((await overview(dashboard)).queues[0]?.waiting).toBe(3);
      expect(samples()).toBeGreaterThan(beforeAgain);
    });

    it("is not started by requests that show no samples", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      const dashboard = await serve(store);
      const samples = () => log.sql.filter(isExecutionCount).length;
      const before = samples();
      for (const path of [
        "/",
        "/executions",
        "/queues",
        "/api/executions",
        "/api/queues",
        "/api/definitions",
      ]) {
        expect((await fetch(new URL(path, dashboard.url))).status).toBe(200);
      }
      await sleep(10 * INTERVAL_MS);
      expect(samples()).toBe(before);
    });

    it("stops sampling when the dashboard closes, even while someone looks", async () => {
      const log = statementLog();
      const store = await driver.open({ logger: log, logStatements: true });
      const dashboard = await serve(store);
      await overview(dashboard);
      await dashboard.close();
      const closed = log.sql.filter(isStats).length;
      await sleep(10 * INTERVAL_MS);
      expect(log.sql.filter(isStats).length).toBe(closed);
    });
  });
});
