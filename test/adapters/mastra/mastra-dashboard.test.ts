/**
 * Mastra's workflow runs on the dashboard (src/dashboard/mastra-runs.ts): listed newest first, of every
 * workflow or of one, a page at a time; a run with its steps' statuses (a big entry's from its row) and
 * its snapshot; a cursor or a run the dashboard did not give is refused or not found. Through the API
 * on both drivers, and in Chromium with screenshots.
 */
import type { WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import type { Store } from "../../../src/index.js";
import { inChromium, runBrowserTests, SCREENSHOTS } from "../../dashboard/browser.js";
import { getJson, serve } from "../../dashboard/served.js";
import { runSnapshot } from "../../fixtures/mastra-snapshot.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

/** Three runs of two workflows, made a second apart; the last has a big entry (a row of its own). */
async function mastraRuns(store: Store): Promise<WorkflowsStorage> {
  const ws = (await new FlowstoreMastraStorage({ id: "d", store }).getStore("workflows")) as WorkflowsStorage;
  const runs = [
    ["orders", "run-1", "success", {}],
    ["refunds", "run-2", "suspended", {}],
    ["orders", "run-3", "running", { report: { status: "success", output: "x".repeat(4096) } }],
  ] as const;
  for (const [i, [workflowName, runId, status, more]] of runs.entries()) {
    await ws.persistWorkflowSnapshot({
      workflowName,
      runId,
      resourceId: "customer-7",
      snapshot: runSnapshot(
        runId,
        { input: { n: i }, check: { status: "success", output: i }, ...more },
        status,
      ),
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
    });
  }
  return ws;
}

describeMastra("flowstore/mastra on the dashboard", () => {
  forEachDriver((d) => {
    it("lists Mastra's runs newest first, of a workflow too, and shows a run's steps", async () => {
      const store = await d.open();
      const { url } = await serve(store);
      expect(await getJson(url, "/api/mastra/runs")).toEqual({ items: [], nextAfter: null });
      await mastraRuns(store);
      const all = await getJson(url, "/api/mastra/runs");
      expect(
        all.items.map((r: { runId: string; workflowName: string; status: string }) => [
          r.runId,
          r.workflowName,
          r.status,
        ]),
      ).toEqual([
        ["run-3", "orders", "running"],
        ["run-2", "refunds", "suspended"],
        ["run-1", "orders", "success"],
      ]);
      expect(all.items[0]).toMatchObject({ resourceId: "customer-7", createdAt: "2026-01-01T00:00:02.000Z" });
      const orders = await getJson(url, "/api/mastra/runs?workflow=orders");
      expect(orders.items.map((r: { runId: string }) => r.runId)).toEqual(["run-3", "run-1"]);

      const run = await getJson(url, "/api/mastra/run?workflow=orders&run=run-3");
      expect(run).toMatchObject({ workflowName: "orders", runId: "run-3", status: "running" });
      expect(run.steps).toEqual([
        { id: "input", status: null, inRow: false },
        { id: "check", status: "success", inRow: false },
        { id: "report", status: "success", inRow: true },
      ]);
      expect(run.snapshot).toMatchObject({ runId: "run-3", status: "running" });
      expect(run.snapshot.context).toBeUndefined();
      expect(await getJson(url, "/api/mastra/run?workflow=orders&run=none")).toBeNull();
      // Past a page (50), the next page goes on from the last run of the one before, none twice.
      const ws = (await new FlowstoreMastraStorage({ id: "p", store }).getStore(
        "workflows",
      )) as WorkflowsStorage;
      for (let i = 0; i < 50; i++) {
        await ws.persistWorkflowSnapshot({
          workflowName: "bulk",
          runId: `bulk-${i}`,
          snapshot: runSnapshot(`bulk-${i}`, {}),
          createdAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i % 10)),
        });
      }
      const first = await getJson(url, "/api/mastra/runs");
      const second = await getJson(url, `/api/mastra/runs?after=${first.nextAfter}`);
      const paged = [...first.items, ...second.items].map((r: { runId: string }) => r.runId);
      expect([first.items.length, second.items.length, second.nextAfter]).toEqual([50, 3, null]);
      expect(new Set(paged).size).toBe(53);
      expect(paged.slice(0, 3)).toEqual(["run-3", "run-2", "run-1"]);
      for (const bad of [
        "/api/mastra/runs?after=nope",
        "/api/mastra/run?workflow=orders",
        "/api/mastra/run?run=run-1",
      ]) {
        expect((await fetch(new URL(bad, url))).status, bad).toBe(400);
      }
    });
  });
});

describeMastra("flowstore/mastra on the dashboard, in Chromium", () => {
  it.skipIf(!runBrowserTests)("lists the runs and opens one with its steps", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    await mastraRuns(store);
    const { url } = await serve(store);
    const problems = await inChromium(async (page) => {
      await page.goto(new URL("/mastra", url).toString());
      await page.waitForSelector("main table td a");
      expect(await page.locator("main").textContent()).toContain("suspended");
      await page.screenshot({ path: `${SCREENSHOTS}/mastra-runs.png`, fullPage: true });
      await page.click("text=run-3");
      await page.waitForSelector("main details");
      expect(await page.locator("h1").textContent()).toContain("run-3");
      expect(await page.locator("main").textContent()).toContain("a row of its own");
      await page.screenshot({ path: `${SCREENSHOTS}/mastra-run.png`, fullPage: true });
    });
    expect(problems).toEqual([]);
  });
});
