/**
 * Cron schedules on the dashboard's queues page: listed with their cron, zone, queue, next and last
 * run, paused and resumed only by POST with the CSRF token. Through the API on both drivers, and in
 * Chromium with a screenshot.
 */
import { mkdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../support/harness.js";
import { launchChromium, pageProblems, runBrowserTests, SCREENSHOTS } from "./browser.js";
import { getJson, serve } from "./served.js";

const XSS = "<script>alert(1)</script>";

/** Two schedules, one with a name that is markup, one that has enqueued a tick. */
async function seed(store: Store): Promise<Date> {
  await store.schedules.set({ name: XSS, cron: "*/5 * * * *", queue: "mail", timeZone: "Europe/Berlin" });
  await store.schedules.set({ name: "nightly", cron: "@daily", queue: "reports" });
  const { rows } = await store.query<{ at: Date }>(
    `update ${store.schema}.schedules set next_run_at = date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'
      where name = 'nightly'
     returning next_run_at as at`,
  );
  await store.schedules.dispatchDue();
  return (rows[0] as { at: Date }).at;
}

forEachDriver((driver) => {
  describe("dashboard: schedules", () => {
    it("lists schedules with the queues, and pauses and resumes one only by POST with the CSRF token", async () => {
      const store = await driver.open();
      const ran = await seed(store);
      const { url } = await serve(store);
      const queues = await getJson(url, "/api/queues");
      expect(queues.schedules).toEqual([
        expect.objectContaining({
          name: XSS,
          cron: "*/5 * * * *",
          timeZone: "Europe/Berlin",
          lastRunAt: null,
        }),
        expect.objectContaining({ name: "nightly", queue: "reports", lastRunAt: ran.toISOString() }),
      ]);
      const one = await getJson(url, "/api/queues?queue=reports");
      expect(one.schedules.map((s: { name: string }) => s.name)).toEqual(["nightly"]);

      const html = await (await fetch(url)).text();
      const csrf = /<meta name="flowstore-csrf" content="([^"]+)">/.exec(html)?.[1] as string;
      const origin = new URL(url).origin;
      const at = (action: string) => new URL(`/api/schedules/${encodeURIComponent(XSS)}/${action}`, url);
      expect((await fetch(at("pause"), { method: "POST", headers: { Origin: origin } })).status).toBe(403);
      expect((await store.schedules.get(XSS)).pausedAt).toBeNull();
      const post = (action: string) =>
        fetch(at(action), { method: "POST", headers: { Origin: origin, "X-CSRF-Token": csrf } });
      expect(await (await post("pause")).json()).toEqual({ name: XSS, paused: true, changed: true });
      expect((await store.schedules.get(XSS)).pausedAt).not.toBeNull();
      expect(await (await post("pause")).json()).toMatchObject({ changed: false });
      expect(await (await post("resume")).json()).toEqual({ name: XSS, paused: false, changed: true });
      expect((await store.schedules.get(XSS)).pausedAt).toBeNull();
    });
  });
});

describe.skipIf(!runBrowserTests)("dashboard schedules in Chromium", () => {
  it("shows the schedules on the queues page as text, and pauses and resumes one", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    await seed(store);
    const { url } = await serve(store);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems = pageProblems(page);
      await page.goto(new URL("/queues", url).toString());
      await page.waitForSelector("button[data-schedule]");
      const main = (await page.locator("main").textContent()) ?? "";
      expect(main).toContain("Schedules");
      expect(main).toContain(XSS);
      expect(main).toContain("Europe/Berlin");
      expect(main).toContain("*/5 * * * *");
      expect(await page.locator("main script").count()).toBe(0);
      await page.click('button.pause[data-schedule="nightly"]');
      await expect.poll(async () => (await store.schedules.get("nightly")).pausedAt !== null).toBe(true);
      await page.waitForSelector('button.resume[data-schedule="nightly"]');
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: `${SCREENSHOTS}/queues-schedules.png`, fullPage: true });
      await page.click('button.resume[data-schedule="nightly"]');
      await expect.poll(async () => (await store.schedules.get("nightly")).pausedAt).toBeNull();
      // A debounced job shows the enqueues it took in.
      for (let n = 0; n < 3; n++) {
        await store.jobs.enqueue({ queue: "digest", name: "send", debounce: { key: "user-1", ms: 60_000 } });
      }
      await page.goto(new URL("/queues?queue=digest&status=waiting", url).toString());
      await page.waitForSelector("main table");
      const table = page.locator("main table").last();
      const header = await table.locator("th").allTextContents();
      const cells = await table.locator("tr", { hasText: "send" }).locator("td").allTextContents();
      expect(cells[header.indexOf("absorbed")]).toBe("2");
      // A job that runs after another says so beside its status.
      const first = await store.jobs.enqueue({ queue: "flow", name: "first" });
      await store.jobs.enqueue({ queue: "flow", name: "then", after: [first] });
      await page.goto(new URL("/queues?queue=flow&status=waiting", url).toString());
      await page.waitForSelector("main table");
      const flow = page.locator("main table").last();
      const thenCells = await flow.locator("tr", { hasText: "then" }).locator("td").allTextContents();
      expect(thenCells[header.indexOf("status")]).toBe("waiting after 1");
      const firstCells = await flow.locator("tr", { hasText: "first" }).locator("td").allTextContents();
      expect(firstCells[header.indexOf("status")]).toBe("waiting");
      // A queue in strict order per group says so among its limits.
      await store.jobs.setLimits("flow", { strictOrder: true, groupConcurrency: 4 });
      await page.goto(new URL("/queues", url).toString());
      await page.waitForSelector("button[data-queue='flow']");
      const queues = page.locator("main table").first();
      const queueHeader = await queues.locator("th").allTextContents();
      const flowRow = await queues.locator("tr", { hasText: "flow" }).locator("td").allTextContents();
      expect(flowRow[queueHeader.indexOf("limits")]).toBe("strict order per group");
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
