/**
 * Replay, where the engine allows it: a dashboard given the engine's `replay` runs a failed run again
 * as a new run (once: asking twice gives the same new run), refuses a run that is still going, and a
 * dashboard without one offers nothing and answers 404. The example engine replays its orders; in
 * Chromium the failed run's page offers Replay and opens the new run.
 */
import { mkdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import { type OrderEngine, startOrderEngine } from "../../src/demo/index.js";
import type { Store } from "../../src/index.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";
import { launchChromium, runBrowserTests, SCREENSHOTS } from "./browser.js";

const open: Array<{ close(): Promise<void> }> = [];
const engines: OrderEngine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});

/** An engine whose stock reservations always fail, and one of its orders, failed. */
async function failedOrder(store: Store): Promise<{ engine: OrderEngine; failed: string }> {
  const engine = await startOrderEngine(store, {
    ratePerSecond: 0,
    failureRate: 1,
    pollIntervalMs: 50,
    onError: () => {},
  });
  engines.push(engine);
  const failed = await engine.startOrder();
  await until(async () => (await store.executions.get(failed)).status === "failed");
  return { engine, failed };
}

/** A dashboard whose engine replays runs. */
async function replayingDashboard(store: Store, engine: OrderEngine) {
  const dashboard = await serveDashboard(store, {
    port: 0,
    logger: silentLogger,
    env: {},
    replay: (id) => engine.replay(id),
  });
  open.push(dashboard);
  return dashboard;
}

async function post(url: string, path: string) {
  const html = await (await fetch(url)).text();
  const csrf = /<meta name="flowstore-csrf" content="([^"]+)">/.exec(html)?.[1] ?? "";
  const res = await fetch(new URL(path, url), {
    method: "POST",
    headers: { "x-csrf-token": csrf, origin: new URL(url).origin },
  });
  // biome-ignore lint/suspicious/noExplicitAny: the JSON the API returns; the assertions check its shape
  return { status: res.status, body: (await res.json()) as any };
}

forEachDriver((driver) => {
  describe("replaying a run", () => {
    it("runs a failed run again through the engine, once, and refuses a run still going", async () => {
      const store = await driver.open();
      const { engine, failed } = await failedOrder(store);
      const dashboard = await replayingDashboard(store, engine);
      expect(await (await fetch(dashboard.url)).text()).toContain('data-replays="true"');
      const first = await post(dashboard.url, `/api/executions/${failed}/replay`);
      expect(first).toEqual({ status: 200, body: { id: expect.any(String), replayOf: failed } });
      const replayed = await store.executions.get(first.body.id);
      const old = await store.executions.get(failed);
      expect(replayed.input).toEqual(old.input);
      expect(replayed.metadata).toMatchObject({ replayOf: failed });
      expect((await post(dashboard.url, `/api/executions/${failed}/replay`)).body.id).toBe(first.body.id);
      const { execution: running } = await store.executions.start({ name: "other", status: "running" });
      expect((await post(dashboard.url, `/api/executions/${running.id}/replay`)).status).toBe(409);
    });

    it("is not offered by a dashboard whose engine does not replay", async () => {
      const store = await driver.open();
      const dashboard = await serveDashboard(store, { port: 0, logger: silentLogger, env: {} });
      open.push(dashboard);
      const { execution } = await store.executions.start({ name: "x", status: "running" });
      await store.executions.fail(execution.id, { message: "no" });
      expect(await (await fetch(dashboard.url)).text()).not.toContain("data-replays");
      const refused = await post(dashboard.url, `/api/executions/${execution.id}/replay`);
      expect(refused.status).toBe(404);
      expect((await store.executions.list({ definitionName: "x" })).items).toHaveLength(1);
    });
  });
});

describe.skipIf(!runBrowserTests)("replaying a run in Chromium", () => {
  it("offers Replay on a failed run's page and opens the new run", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const { engine, failed } = await failedOrder(store);
    const dashboard = await replayingDashboard(store, engine);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on("dialog", (d: { accept(): Promise<void> }) => void d.accept());
      await page.goto(new URL(`/executions/${failed}`, dashboard.url).toString());
      await page.waitForSelector("button.replay");
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: `${SCREENSHOTS}/replay-failed-run.png`, fullPage: true });
      await page.click("button.replay");
      await expect.poll(() => page.url(), { timeout: 10_000 }).not.toContain(failed);
      const replayedId = new URL(page.url()).pathname.split("/")[2] as string;
      expect((await store.executions.get(replayedId)).metadata).toMatchObject({ replayOf: failed });
      await page.waitForSelector(".timeline");
      await page.screenshot({ path: `${SCREENSHOTS}/replay-new-run.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
