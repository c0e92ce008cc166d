/**
 * Fork and Rewind on the dashboard: store operations (no engine), each a POST behind the token and the
 * CSRF header as every action is, refused on a read-only store, for a run still going (409) and for a
 * bad step (400), writing nothing then. In Chromium a finished run's page offers both: Fork opens the
 * new run, Rewind shows the run pending again.
 */
import { mkdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import { openStore, type Store } from "../../src/index.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../support/harness.js";
import { recordCounts, recordedRun } from "../support/run-records.js";
import { launchChromium, runBrowserTests, SCREENSHOTS } from "./browser.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

async function dashboardOf(store: Store, token?: string) {
  const dashboard = await serveDashboard(store, { port: 0, logger: silentLogger, env: {}, token });
  open.push(dashboard);
  return dashboard;
}

/** POSTs with the page's CSRF token (or `csrf` as given), and the token's cookie when there is one. */
async function post(url: string, path: string, options: { csrf?: string; token?: string } = {}) {
  const cookie: Record<string, string> = options.token
    ? { cookie: `flowstore_dashboard_token=${options.token}` }
    : {};
  const html = await (await fetch(url, { headers: cookie })).text();
  const csrf = options.csrf ?? /<meta name="flowstore-csrf" content="([^"]+)">/.exec(html)?.[1] ?? "";
  const res = await fetch(new URL(path, url), {
    method: "POST",
    headers: { "x-csrf-token": csrf, origin: new URL(url).origin, ...cookie },
  });
  // biome-ignore lint/suspicious/noExplicitAny: the JSON the API returns; the assertions check its shape
  return { status: res.status, body: (await res.json()) as any };
}

forEachDriver((driver) => {
  describe("fork and rewind on the dashboard", () => {
    it("forks and rewinds a finished run", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      const dashboard = await dashboardOf(store);
      const forked = await post(dashboard.url, `/api/executions/${id}/fork?fromStep=2`);
      expect(forked).toEqual({ status: 200, body: { id: expect.any(String), forkOf: id, fromStep: 2 } });
      expect(await store.executions.get(forked.body.id)).toMatchObject({ forkOf: id, forkStep: 2 });
      expect((await store.steps.list(forked.body.id)).map((s) => s.number)).toEqual([0, 1]);

      const version = (await store.executions.get(id)).version;
      const rewound = await post(dashboard.url, `/api/executions/${id}/rewind?toStep=1`);
      expect(rewound).toEqual({ status: 200, body: { id, status: "pending", version: version + 1 } });
      expect((await store.steps.list(id)).map((s) => s.number)).toEqual([0]);
    });

    it("refuses a run still going unless forced, a bad step, and a missing CSRF header, writing nothing", async () => {
      const store = await driver.open();
      const id = await recordedRun(store, "running");
      const dashboard = await dashboardOf(store);
      const counts = await recordCounts(store);
      const refused = await post(dashboard.url, `/api/executions/${id}/rewind?toStep=1`);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatch(/is running.*force/);
      for (const query of ["fromStep=-1", "fromStep=x", "fromStep=9", ""]) {
        const bad = await post(dashboard.url, `/api/executions/${id}/fork?${query}&force=true`);
        expect(bad.status, query).toBe(400);
        expect(bad.body.error, query).toMatch(/fromStep/);
      }
      const noCsrf = await post(dashboard.url, `/api/executions/${id}/fork?fromStep=1&force=true`, {
        csrf: "",
      });
      expect(noCsrf.status).toBe(403);
      expect(await recordCounts(store)).toEqual(counts);

      const forced = await post(dashboard.url, `/api/executions/${id}/rewind?toStep=1&force=true`);
      expect(forced).toMatchObject({ status: 200, body: { id, status: "pending" } });
    });
  });
});

describe("fork and rewind on a dashboard with a token, and on a read-only one", () => {
  it("needs the token, and refuses both on a read-only store", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const id = await recordedRun(store);
    const guarded = await dashboardOf(store, "s3cret-token-of-the-test");
    const counts = await recordCounts(store);
    expect((await post(guarded.url, `/api/executions/${id}/fork?fromStep=1`)).status).toBe(401);
    expect(await recordCounts(store)).toEqual(counts);
    const signedIn = await post(guarded.url, `/api/executions/${id}/fork?fromStep=1`, {
      token: "s3cret-token-of-the-test",
    });
    expect(signedIn.status).toBe(200);

    const reader = await openStore({
      connection: await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).connection(),
      schema: store.schema,
      readOnly: true,
      logger: silentLogger,
    });
    open.push(reader);
    const readOnly = await dashboardOf(reader);
    const before = await recordCounts(store);
    for (const action of ["fork?fromStep=1", "rewind?toStep=1"]) {
      const refused = await post(readOnly.url, `/api/executions/${id}/${action}`);
      expect(refused.status, action).toBe(403);
    }
    expect(await recordCounts(store)).toEqual(before);
  });
});

describe.skipIf(!runBrowserTests)("fork and rewind in Chromium", () => {
  it("offers Fork and Rewind on a finished run's page: Fork opens the new run, Rewind shows it pending", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const id = await recordedRun(store);
    const dashboard = await dashboardOf(store);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      // The step asked for by prompt(), then the confirmation.
      page.on(
        "dialog",
        (d: { type(): string; accept(text?: string): Promise<void> }) =>
          void d.accept(d.type() === "prompt" ? "2" : undefined),
      );
      await page.goto(new URL(`/executions/${id}`, dashboard.url).toString());
      await page.waitForSelector("button.fork");
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: `${SCREENSHOTS}/fork-rewind-run.png`, fullPage: true });
      await page.click("button.fork");
      await expect.poll(() => page.url(), { timeout: 10_000 }).not.toContain(id);
      const forkId = new URL(page.url()).pathname.split("/")[2] as string;
      expect(await store.executions.get(forkId)).toMatchObject({
        forkOf: id,
        forkStep: 2,
        status: "pending",
      });
      // A pending fork offers neither: it has not finished.
      await page.waitForSelector(".timeline");
      expect(await page.$("button.fork")).toBeNull();

      await page.goto(new URL(`/executions/${id}`, dashboard.url).toString());
      await page.click("button.rewind");
      await expect
        .poll(async () => (await store.executions.get(id)).status, { timeout: 10_000 })
        .toBe("pending");
      expect((await store.steps.list(id)).map((s) => s.number)).toEqual([0, 1]);
      // The page shows the run again, pending: its buttons gone with its finished status.
      await page.waitForFunction('document.querySelector("h1")?.textContent?.includes("pending")');
      expect(await page.$("button.rewind")).toBeNull();
      await page.screenshot({ path: `${SCREENSHOTS}/fork-rewind-rewound.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
