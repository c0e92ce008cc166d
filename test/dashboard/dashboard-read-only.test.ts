/**
 * The dashboard on a read-only store (`readOnly: true`, as `flowstore serve --read-only` opens it): it
 * shows everything, says it is read-only, offers no action, and answers every action with 403 (JSON)
 * without touching the store. On the embedded database; the standby case is in cli-read-only.test.ts.
 */
import { existsSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { type Dashboard, serveDashboard } from "../../src/dashboard/index.js";
import { openStore, type Store } from "../../src/index.js";
import { uniqueSchema } from "../support/harness.js";

const CHROMIUM = "/usr/bin/chromium";

let db: PGlite;
let writer: Store;
let reader: Store;
let dashboard: Dashboard;
let deadJob: string;
const schema = uniqueSchema("dashboard_read_only");

beforeAll(async () => {
  db = await PGlite.create();
  writer = await openStore({ connection: db, schema, logger: silentLogger });
  const [id] = await writer.jobs.enqueue([{ queue: "mail", name: "send", maxAttempts: 1 }]);
  const [leased] = await writer.jobs.claim({ queue: "mail", workerId: "test" });
  await writer.jobs.fail(leased as { id: string; leaseToken: string }, new Error("no"));
  deadJob = id as string;
  reader = await openStore({ connection: db, schema, readOnly: true, logger: silentLogger });
  dashboard = await serveDashboard(reader, { port: 0, logger: silentLogger, env: {} });
});

afterAll(async () => {
  await dashboard?.close();
  await reader?.close();
  await writer?.close();
  await db?.close();
});

async function csrfFrom(base: string): Promise<{ html: string; csrf: string }> {
  const html = await (await fetch(base)).text();
  return { html, csrf: /<meta name="flowstore-csrf" content="([^"]+)">/.exec(html)?.[1] ?? "" };
}

describe("a read-only dashboard", () => {
  it("shows the data and says it is read-only", async () => {
    const { html } = await csrfFrom(dashboard.url);
    expect(html).toContain('data-read-only="true"');
    expect(html).toMatch(/<span class="read-only"[^>]*>read-only<\/span>/);
    const queues = await fetch(new URL("/api/queues?status=dead", dashboard.url));
    expect(queues.status).toBe(200);
    const listed = (await queues.json()) as { jobs: Array<{ id: string }> };
    expect(listed.jobs.map((j) => j.id)).toEqual([deadJob]);
    const overview = (await (await fetch(new URL("/api/overview", dashboard.url))).json()) as {
      readOnly: boolean;
    };
    expect(overview.readOnly).toBe(true);
  });

  it("answers an action with 403 and a JSON message, and changes nothing", async () => {
    const { csrf } = await csrfFrom(dashboard.url);
    const res = await fetch(new URL(`/api/jobs/${deadJob}/retry`, dashboard.url), {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, Origin: new URL(dashboard.url).origin, Accept: "application/json" },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /read-only.*readOnly: true.*nothing was changed/,
    );
    expect((await writer.jobs.get(deadJob)).status).toBe("dead");
    const pause = await fetch(new URL("/api/queues/mail/pause", dashboard.url), {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, Origin: new URL(dashboard.url).origin, Accept: "application/json" },
    });
    expect(pause.status).toBe(403);
    const { execution } = await writer.executions.start({ name: "flow", status: "running" });
    const cancel = await fetch(new URL(`/api/executions/${execution.id}/cancel`, dashboard.url), {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, Origin: new URL(dashboard.url).origin, Accept: "application/json" },
    });
    expect(cancel.status).toBe(403);
    expect((await writer.executions.get(execution.id)).status).toBe("running");
    expect(await writer.jobs.paused()).toEqual([]);
  });

  it("is not read-only on a store that writes", async () => {
    const writable = await serveDashboard(writer, { port: 0, logger: silentLogger, env: {} });
    try {
      const { html } = await csrfFrom(writable.url);
      expect(html).not.toContain("data-read-only");
      expect(html).not.toContain('class="read-only"');
    } finally {
      await writable.close();
    }
  });

  it.skipIf(!existsSync(CHROMIUM))("offers no retry or pause button in a browser", async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(new URL("/queues?status=dead", dashboard.url).toString());
      await page.waitForSelector("table td");
      expect(await page.locator("main").textContent()).toContain(deadJob.slice(0, 8));
      expect(await page.locator("button.retry").count()).toBe(0);
      expect(await page.locator("button.pause, button.resume").count()).toBe(0);
      expect(await page.locator("header .read-only").textContent()).toBe("read-only");
    } finally {
      await browser.close();
    }
  });
});
