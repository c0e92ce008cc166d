/**
 * GET /metrics: the store in Prometheus' text format, behind the dashboard's token. The values are
 * those of a known workload, and the text passes promtool, Prometheus' own checker (CI unpacks it from
 * Debian's prometheus package and names it in PROMTOOL).
 */
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import type { LeasedJob, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const TOKEN = "metrics-test-token";

/** promtool from PROMTOOL or the PATH; in CI it must be there. */
function promtool(): string | undefined {
  const candidates = [process.env.PROMTOOL, "promtool"].filter(Boolean) as string[];
  const found = candidates.find((path) => spawnSync(path, ["--version"], { stdio: "ignore" }).status === 0);
  if (!found && process.env.CI) throw new Error("promtool is missing: .ci/run unpacks it and sets PROMTOOL");
  return found;
}

/** The samples of the text, by name and labels as written: `name{a="b"}` -> value. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

async function seed(store: Store): Promise<void> {
  await store.jobs.enqueue([
    { queue: "mail", name: "a" },
    { queue: "mail", name: "b" },
    { queue: "mail", name: "c" },
    { queue: "mail", name: "later", runAt: new Date(Date.now() + 60_000) },
    { queue: 'odd "queue"\nname', name: "x", maxAttempts: 1 },
  ]);
  await store.jobs.claim({ queue: "mail", workerId: "w" });
  const [failing] = await store.jobs.claim({ queue: 'odd "queue"\nname', workerId: "w" });
  await store.jobs.fail(failing as LeasedJob, new Error("no"));
  for (let i = 0; i < 2; i++) await store.executions.start({ name: "flow", status: "running" });
  const { execution } = await store.executions.start({ name: "flow", status: "running" });
  await store.executions.complete(execution.id, null);
  await store.timers.schedule({ name: "due", fireAt: new Date(Date.now() - 1_000) });
  await store.timers.schedule({ name: "later", fireAt: new Date(Date.now() + 60_000) });
  await store.jobs.pause("mail");
  await store.jobs.enqueue([
    { queue: "work", name: "ok" },
    { queue: "work", name: "bad", maxAttempts: 1 },
  ]);
  const worker = store.jobs.work({
    queue: "work",
    handler: (job) => {
      if (job.name === "bad") throw new Error("bad");
    },
  });
  await until(() => worker.counts.completed + worker.counts.failed === 2);
  await worker.stop();
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

forEachDriver((driver) => {
  describe("GET /metrics", () => {
    it("gives the queue, executions, due timers and the pool, in a format promtool accepts", async () => {
      const store = await driver.open();
      await seed(store);
      const dashboard = await serveDashboard(store, { port: 0, token: TOKEN, logger: silentLogger, env: {} });
      open.push(dashboard);
      const url = new URL("metrics", dashboard.url);
      expect((await fetch(url)).status).toBe(401);
      const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const text = await response.text();
      const values = samples(text);
      expect(values.get('flowstore_jobs_waiting{queue="mail"}')).toBe(3);
      expect(values.get('flowstore_jobs_ready{queue="mail"}')).toBe(2);
      expect(values.get('flowstore_jobs_running{queue="mail"}')).toBe(1);
      expect(values.get('flowstore_jobs_dead{queue="odd \\"queue\\"\\nname"}')).toBe(1);
      expect(values.get('flowstore_jobs_oldest_ready_age_seconds{queue="mail"}')).toBeGreaterThanOrEqual(0);
      expect(values.get('flowstore_jobs_estimated{queue="mail",count="waiting"}')).toBe(0);
      expect(values.get('flowstore_executions{status="running"}')).toBe(2);
      expect(values.get('flowstore_executions{status="completed"}')).toBe(1);
      expect(values.get('flowstore_executions{status="failed"}')).toBe(0);
      expect(values.get("flowstore_timers_due")).toBe(1);
      expect(values.get('flowstore_queue_paused{queue="mail"}')).toBe(1);
      const pool = store.connections();
      expect(values.get('flowstore_pool_connections{state="max"}')).toBe(pool.max);
      expect(values.get('flowstore_pool_connections{state="open"}')).toBeGreaterThanOrEqual(1);
      expect(values.get("flowstore_metrics_scrape_duration_seconds")).toBeGreaterThan(0);
      expect(values.get('flowstore_jobs_enqueued_total{queue="mail"}')).toBe(4);
      const work = '{queue="work"}';
      expect(values.get(`flowstore_jobs_enqueued_total${work}`)).toBe(2);
      expect(values.get(`flowstore_jobs_started_total${work}`)).toBe(2);
      expect(values.get(`flowstore_jobs_completed_total${work}`)).toBe(1);
      expect(values.get(`flowstore_jobs_failed_total${work}`)).toBe(1);
      expect(values.get(`flowstore_jobs_dead_total${work}`)).toBe(1);
      expect(values.get(`flowstore_jobs_lease_expired_total${work}`)).toBe(0);
      expect(values.get(`flowstore_jobs_schedule_to_start_seconds_count${work}`)).toBe(2);
      expect(values.get('flowstore_jobs_schedule_to_start_seconds_bucket{queue="work",le="+Inf"}')).toBe(2);
      expect(values.get(`flowstore_jobs_schedule_to_start_seconds_sum${work}`)).toBeGreaterThanOrEqual(0);
      const checker = promtool();
      if (checker) {
        const check = spawnSync(checker, ["check", "metrics"], { input: text, encoding: "utf8" });
        expect(`${check.status} ${check.stdout}${check.stderr}`).toBe("0 ");
      }
    });
  });
});
