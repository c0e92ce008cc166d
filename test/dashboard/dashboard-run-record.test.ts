/**
 * What a run recorded, on its page: its steps (durations, outputs and errors, a value offloaded to the
 * blob store or bytes as a link that opens it whole), its latest events, where it came from (a fork's
 * source and step, its last rewind) and its forks; the runs list marks forks. A fork's timeline starts
 * when the fork was made. Through the API on both drivers, and in Chromium.
 */
import { mkdirSync } from "node:fs";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../support/harness.js";
import { recordedRun } from "../support/run-records.js";
import { launchChromium, runBrowserTests, SCREENSHOTS } from "./browser.js";
import { getJson, serve } from "./served.js";

const BIG = { blob: "x".repeat(5_000) };

/**
 * A run of four steps: inline JSON, JSON offloaded to the blob store, bytes, and a failure after four
 * attempts; two events.
 */
async function durableRun(store: Store): Promise<string> {
  const { execution } = await store.executions.start({ name: "import", status: "running" });
  const id = execution.id;
  await store.steps.record({ executionId: id, number: 0, name: "fetch", output: { rows: 3 } });
  await store.events.append(id, { type: "fetched", payload: { rows: 3 } });
  await store.steps.record({ executionId: id, number: 1, name: "parse", output: BIG });
  await store.steps.record({ executionId: id, number: 2, name: "pack", output: new Uint8Array([1, 2, 3]) });
  await store.events.append(id, { type: "packed", payload: BIG });
  await store.steps.record({
    executionId: id,
    number: 3,
    name: "upload",
    error: new Error("refused"),
    attempts: 4,
  });
  await store.executions.update(id, { status: "failed" });
  return id;
}

forEachDriver((driver) => {
  describe("a run's record on its page", () => {
    it("lists its steps and latest events, big values left out and opened on demand", async () => {
      const store = await driver.open({ limits: { offloadAbove: 1024 } });
      const id = await durableRun(store);
      const dashboard = await serve(store);
      const d = await getJson(dashboard.url, `/api/executions/${id}`);
      expect(d.steps.map((s: { number: number; name: string }) => `${s.number} ${s.name}`)).toEqual([
        "0 fetch",
        "1 parse",
        "2 pack",
        "3 upload",
      ]);
      const [fetched, parsed, packed, uploaded] = d.steps;
      expect(fetched).toMatchObject({ output: { rows: 3 }, outputRef: null, error: null, copied: false });
      expect(parsed.output).toBeUndefined();
      expect(parsed.outputRef).toEqual({
        bytes: JSON.stringify(BIG).length,
        kind: "json",
        offloaded: expect.any(String),
      });
      expect(packed.outputRef).toEqual({ bytes: 3, kind: "bytes", offloaded: null });
      expect(uploaded.error).toMatchObject({ name: "Error", message: "refused" });
      for (const step of d.steps) expect(step.durationMs).toBeGreaterThanOrEqual(0);
      // As many attempts as the engine recorded; none where it did not say.
      expect(d.steps.map((s: { attempts: number | null }) => s.attempts)).toEqual([null, null, null, 4]);
      expect(JSON.stringify(d)).not.toContain(BIG.blob);

      expect(d.events.map((e: { sequence: number; type: string }) => `${e.sequence} ${e.type}`)).toEqual([
        "1 fetched",
        "2 packed",
      ]);
      expect(d.events[0].payload).toEqual({ rows: 3 });
      expect(d.events[1].payloadRef).toMatchObject({ kind: "json", offloaded: expect.any(String) });
      expect(d.earlierEvents).toBe(false);

      // Opened on demand, whole: JSON as JSON, bytes as a download.
      expect(await getJson(dashboard.url, `/api/executions/${id}/steps/1/output`)).toEqual(BIG);
      expect(await getJson(dashboard.url, `/api/executions/${id}/events/2/payload`)).toEqual(BIG);
      const bytes = await fetch(new URL(`/api/executions/${id}/steps/2/output`, dashboard.url));
      expect(bytes.headers.get("content-type")).toBe("application/octet-stream");
      expect(bytes.headers.get("content-disposition")).toBe("attachment");
      expect([...new Uint8Array(await bytes.arrayBuffer())]).toEqual([1, 2, 3]);
      for (const missing of ["steps/9/output", "steps/3/output", "events/9/payload"]) {
        const res = await fetch(new URL(`/api/executions/${id}/${missing}`, dashboard.url));
        expect(res.status, missing).toBe(404);
      }
    });

    it("says a fork's source and step, lists the source's forks, and starts the fork's timeline at the fork", async () => {
      const store = await driver.open();
      const source = await recordedRun(store);
      const fork = await store.executions.fork(source, { fromStep: 2 });
      const dashboard = await serve(store);
      const d = await getJson(dashboard.url, `/api/executions/${fork.id}`);
      expect(d.origin).toEqual({
        fork: {
          of: source,
          step: 2,
          at: fork.createdAt.toISOString(),
          source: { name: "order", status: "completed" },
        },
        rewind: null,
      });
      // The copied steps are shown as such, and stay off the fork's timeline with the copied events.
      expect(d.steps.map((s: { number: number; copied: boolean }) => [s.number, s.copied])).toEqual([
        [0, true],
        [1, true],
      ]);
      expect(d.events.map((e: { type: string; copied: boolean }) => [e.type, e.copied])).toEqual([
        ["started", true],
        ["e1", true],
        ["signal", true],
      ]);
      expect(d.timeline.from).toBeGreaterThanOrEqual(fork.createdAt.getTime());
      expect(d.timeline.lanes.map((l: { kind: string }) => l.kind)).not.toContain("step");
      for (const bar of d.timeline.bars) expect(bar.start).toBeGreaterThanOrEqual(fork.createdAt.getTime());

      const s = await getJson(dashboard.url, `/api/executions/${source}`);
      expect(s.origin).toEqual({ fork: null, rewind: null });
      expect(s.forks.map((f: { id: string; forkStep: number }) => [f.id, f.forkStep])).toEqual([
        [fork.id, 2],
      ]);
      const list = await getJson(dashboard.url, "/api/executions");
      const listed = list.items.find((e: { id: string }) => e.id === fork.id);
      expect(listed).toMatchObject({ forkOf: source, forkStep: 2, rewoundToStep: null });
    });

    it("says when a rewound run was rewound, to which step and version, and marks it on the timeline", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      const rewound = await store.executions.rewind(id, { toStep: 1 });
      const dashboard = await serve(store);
      const d = await getJson(dashboard.url, `/api/executions/${id}`);
      expect(d.origin).toEqual({
        fork: null,
        rewind: { toStep: 1, version: rewound.version, at: rewound.updatedAt.toISOString() },
      });
      expect(d.steps.map((s: { number: number }) => s.number)).toEqual([0]);
      const lane = d.timeline.lanes.find((l: { kind: string }) => l.kind === "rewind");
      expect(lane.marks).toEqual([
        [rewound.updatedAt.getTime(), `rewound to step 1 (version ${rewound.version})`],
      ]);
      const list = await getJson(dashboard.url, "/api/executions");
      expect(list.items.find((e: { id: string }) => e.id === id)).toMatchObject({
        rewoundToStep: 1,
        forkOf: null,
      });
    });
  });
});

/** A page in Chromium on a dashboard of `store`; the browser is closed after `fn`. */
async function inChromium(store: Store, fn: (page: Page, dashboardUrl: string) => Promise<void>) {
  const dashboard = await serve(store);
  const browser = await launchChromium();
  try {
    await fn(await browser.newPage({ viewport: { width: 1280, height: 900 } }), dashboard.url);
  } finally {
    await browser.close();
  }
}

const text = (page: Page, selector: string) => page.textContent(selector) as Promise<string>;

describe.skipIf(!runBrowserTests)("a run's record in Chromium", () => {
  it("shows the steps, an offloaded value behind a link that opens it in a tab of its own", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open({
      limits: { offloadAbove: 1024 },
    });
    const id = await durableRun(store);
    await inChromium(store, async (page, url) => {
      await page.goto(new URL(`/executions/${id}`, url).toString());
      await page.waitForSelector("table.steps");
      expect(await text(page, "table.steps")).toMatch(
        /0fetch-.*1parse-.*open \(offloaded, JSON, 4\.9 KiB\).*2pack-.*open \(bytes, 3 B\).*3upload4/s,
      );
      expect(await text(page, "main")).not.toContain(BIG.blob);
      expect(await text(page, "table.steps tbody tr:last-child summary")).toBe("Error: refused");
      const [opened] = await Promise.all([page.context().waitForEvent("page"), page.click("a.open-value")]);
      await opened.waitForLoadState();
      expect(JSON.parse((await opened.textContent("body")) as string)).toEqual(BIG);
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: `${SCREENSHOTS}/run-steps.png`, fullPage: true });
    });
  });

  it("says where a fork came from with a link to its source, which lists it; a rewind; the list's marks", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const source = await recordedRun(store);
    const fork = await store.executions.fork(source, { fromStep: 2 });
    const rewound = await store.executions.rewind(source, { toStep: 3 });
    await inChromium(store, async (page, url) => {
      await page.goto(new URL(`/executions/${fork.id}`, url).toString());
      await page.waitForSelector("p.origin.fork");
      expect(await text(page, "p.origin.fork")).toMatch(/^fork of order .* pending at step 2, /);
      expect(await text(page, "table.steps")).toContain("(forked from the source)");
      await page.click("p.origin.fork a");
      await page.waitForURL(`**/executions/${source}`);
      await page.waitForSelector("p.origin.rewind");
      expect(await text(page, "p.origin.rewind")).toMatch(
        new RegExp(`^rewound to step 3 at version ${rewound.version}, `),
      );
      await page.waitForSelector(`main a[href="/executions/${fork.id}"]`);

      await page.goto(new URL("/executions", url).toString());
      await page.waitForSelector(".fork-mark");
      expect(await text(page, ".fork-mark")).toMatch(/^fork of .* at step 2$/);
      expect(await text(page, "main table")).toContain("rewound to step 3");
    });
  });
});
