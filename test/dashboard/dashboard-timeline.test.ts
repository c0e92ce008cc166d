/**
 * A run's timeline on its page: the run, its tasks (in tree order), its jobs and its child runs with
 * their tasks as bars; steps, timers and the history's events (one lane per type) as ticks. Through
 * the API on both drivers, and in Chromium for a run with 1,000 events, redrawn live as the run goes on.
 */
import { mkdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import type { Store } from "../../src/index.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../support/harness.js";
import { launchChromium, runBrowserTests, SCREENSHOTS } from "./browser.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

/** A run with a task tree, steps, a timer, a job, a child with a task, and `events` history events. */
async function seedRun(store: Store, events: number): Promise<string> {
  const { execution: run } = await store.executions.start({ name: "order", status: "running" });
  const root = await store.tasks.upsert({ executionId: run.id, taskId: "fulfil", status: "running" });
  await store.tasks.createChildren(root.taskExecId, [
    { taskId: "charge", status: "completed" },
    { taskId: "ship", status: "failed", error: { message: "no stock" } },
  ]);
  for (let number = 0; number < 3; number++) {
    await store.steps.record({ executionId: run.id, number, name: `step${number}`, output: number });
  }
  await store.timers.schedule({
    executionId: run.id,
    name: "reminder",
    fireAt: new Date(Date.now() + 1_000),
  });
  await store.jobs.enqueue({ queue: "steps", name: "ship", executionId: run.id });
  const { execution: child } = await store.executions.start({
    name: "payment",
    status: "running",
    parentExecutionId: run.id,
  });
  await store.tasks.upsert({ executionId: child.id, taskId: "authorize", status: "completed" });
  for (let from = 0; from < events; from += 1_000) {
    const count = Math.min(1_000, events - from);
    await store.events.append(
      run.id,
      Array.from({ length: count }, (_, i) => ({
        type: (from + i) % 10 === 0 ? "checkpoint" : "progress",
        payload: { i: from + i },
      })),
    );
  }
  return run.id;
}

/** An element as the test reads it in the page (the tests compile without the DOM's types). */
interface Boxed {
  getBoundingClientRect(): { left: number; right: number };
  parentElement: Boxed | null;
}

async function timelineOf(url: string, id: string) {
  const res = await fetch(new URL(`/api/executions/${id}`, url));
  expect(res.status).toBe(200);
  // biome-ignore lint/suspicious/noExplicitAny: the JSON the API returns; the assertions check its shape
  return ((await res.json()) as any).timeline;
}

forEachDriver((driver) => {
  describe("a run's timeline", () => {
    it("has the run, its tasks, jobs and children as bars, and steps, timers and events as ticks", async () => {
      const store = await driver.open();
      const id = await seedRun(store, 30);
      const dashboard = await serveDashboard(store, { port: 0, logger: silentLogger, env: {} });
      open.push(dashboard);
      const t = await timelineOf(dashboard.url, id);
      const bars = t.bars.map((b: { kind: string; label: string; depth: number; end: number | null }) => [
        b.kind,
        b.label,
        b.depth,
        b.end === null,
      ]);
      expect(bars).toEqual([
        ["run", "order", 0, true],
        ["task", "fulfil", 1, true],
        ["task", "charge", 2, false],
        ["task", "ship", 2, false],
        ["job", "job ship (steps)", 1, false],
        ["child", "payment", 1, true],
        ["task", "authorize", 2, false],
      ]);
      const lanes = Object.fromEntries(
        t.lanes.map((l: { label: string; marks: unknown[] }) => [l.label, l.marks.length]),
      );
      expect(lanes).toEqual({ steps: 3, timers: 1, "checkpoint (3)": 3, "progress (27)": 27 });
      expect(t.eventsTruncated).toBe(false);
      expect(t.from).toBeLessThanOrEqual(t.bars[0].start);
      // The timer fires a second from now: the timeline reaches it.
      expect(t.to).toBeGreaterThanOrEqual(t.lanes[1].marks[0][0]);
    });
  });
});

describe.skipIf(!runBrowserTests)("a run's timeline in Chromium", () => {
  it("draws a run with 1,000 events, and draws what happens next without a reload", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const id = await seedRun(store, 1_000);
    const dashboard = await serveDashboard(store, { port: 0, logger: silentLogger, env: {} });
    open.push(dashboard);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on("pageerror", (e: Error) => problems.push(e.message));
      page.on("console", (m: { type(): string; text(): string }) => {
        if (m.type() === "error") problems.push(m.text());
      });
      await page.goto(new URL(`/executions/${id}`, dashboard.url).toString());
      await page.waitForSelector(".timeline .tl-bar");
      expect(await page.locator(".tl-mark.tl-events").count()).toBe(1_000);
      expect(await page.locator(".tl-mark.tl-step").count()).toBe(3);
      expect(await page.locator(".timeline .tl-bar").count()).toBe(7);
      const labels = await page.locator(".timeline .tl-label").allTextContents();
      expect(labels).toContain("child: payment");
      expect(labels).toContain("progress (900)");
      // Every bar lies within the track.
      const outside = await page.$$eval(
        ".tl-bar",
        (nodes: Boxed[]) =>
          nodes.filter((n) => {
            const bar = n.getBoundingClientRect();
            const track = (n.parentElement as Boxed).getBoundingClientRect();
            return bar.left < track.left - 1 || bar.right > track.right + 1;
          }).length,
      );
      expect(outside).toBe(0);
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: `${SCREENSHOTS}/timeline-1000-events.png`, fullPage: true });

      // The run goes on: the page redraws with the new task and event.
      await store.tasks.upsert({ executionId: id, taskId: "notify", status: "running" });
      await store.events.append(id, { type: "progress", payload: { late: true } });
      await expect
        .poll(async () => page.locator(".tl-mark.tl-events").count(), { timeout: 15_000 })
        .toBe(1_001);
      expect(await page.locator(".timeline .tl-label").allTextContents()).toContain("notify");
      await page.screenshot({ path: `${SCREENSHOTS}/timeline-live.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
