/**
 * The Queues page after every queue drained: each queue that exists is still listed, with what it
 * completed, its limits and its strict order, rather than "no queues". In Chromium, with a screenshot.
 */
import { mkdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { DRIVERS, type TestDriver } from "../support/harness.js";
import { launchChromium, pageProblems, runBrowserTests, SCREENSHOTS } from "./browser.js";
import { serve } from "./served.js";

/** How many jobs each queue gets; "reports" runs its groups in strict order. */
const QUEUES: Record<string, number> = { orders: 4, media: 2, mail: 1, reports: 3, digest: 1 };

/** Claims and completes every job of every queue, as workers would, until none is left. */
async function drain(store: Store): Promise<void> {
  for (const queue of Object.keys(QUEUES)) {
    for (;;) {
      const jobs = await store.jobs.claim({ queue, workerId: "drainer", limit: 10 });
      if (jobs.length === 0) break;
      for (const job of jobs) await store.jobs.complete(job);
    }
  }
}

describe.skipIf(!runBrowserTests)("the Queues page in Chromium", () => {
  it("lists every queue after all of them drained, with its completed count, limits and strict order", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    await store.jobs.setLimits("reports", { strictOrder: true });
    for (const [queue, n] of Object.entries(QUEUES)) {
      await store.jobs.enqueue(
        Array.from({ length: n }, (_, i) => ({
          queue,
          name: "work",
          group: queue === "reports" ? "acme" : undefined,
          payload: i,
        })),
      );
    }
    await drain(store);
    expect((await store.jobs.stats()).every((q) => q.waiting + q.running === 0)).toBe(true);
    const { url } = await serve(store);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems = pageProblems(page);
      await page.goto(new URL("/queues", url).toString());
      await page.waitForSelector("main table td");
      const table = page.locator("main table").first();
      const header = await table.locator("th").allTextContents();
      const rows = new Map<string, string[]>();
      for (const row of await table.locator("tbody tr").all()) {
        const cells = await row.locator("td").allTextContents();
        rows.set(cells[0] as string, cells);
      }
      expect([...rows.keys()].sort()).toEqual(Object.keys(QUEUES).sort());
      for (const [queue, n] of Object.entries(QUEUES)) {
        const cells = rows.get(queue) as string[];
        expect(cells[header.indexOf("waiting")], queue).toBe("0");
        expect(cells[header.indexOf("completed")], queue).toBe(String(n));
      }
      expect(rows.get("reports")?.[header.indexOf("limits")]).toBe("strict order per group");
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: `${SCREENSHOTS}/queues-drained.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
