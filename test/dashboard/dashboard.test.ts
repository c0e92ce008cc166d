import { existsSync, mkdirSync } from "node:fs";
import { request } from "node:http";
import { Script } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { CLIENT_JS } from "../../src/dashboard/assets/client.js";
import { escapeHtml, loginPage, shellPage } from "../../src/dashboard/assets/page.js";
import { type DashboardOptions, serveDashboard } from "../../src/dashboard/index.js";
import { isLoopback } from "../../src/dashboard/security.js";
import { type Store, ValidationError } from "../../src/index.js";
import { DRIVERS, forEachDriver, type TestDriver } from "../support/harness.js";
import {
  browserRequired,
  CHROMIUM,
  haveChromium,
  launchChromium,
  runBrowserTests,
  SCREENSHOTS,
} from "./browser.js";

const XSS = "<script>alert(1)</script>";

interface Seeded {
  runningId: string;
  completedId: string;
  rootTask: string;
  deadJob: string;
}

/** A small world through the public API: two workflows (one named XSS), a task tree, state, jobs. */
async function seed(store: Store): Promise<Seeded> {
  const evil = await store.definitions.create({ name: XSS, definition: { steps: [XSS] }, status: "active" });
  const orders = await store.definitions.create({ name: "orders", definition: {}, status: "active" });
  const { execution: running } = await store.executions.start({
    definitionId: evil.id,
    input: { note: XSS },
    status: "running",
  });
  const { execution: done } = await store.executions.start({ definitionId: orders.id, status: "running" });
  await store.executions.complete(done.id, { shipped: true });
  const root = await store.tasks.upsert({ executionId: running.id, taskId: "fulfil", status: "running" });
  const [validate] = await store.tasks.createChildren(root.taskExecId, [
    { taskId: "validate", status: "completed", output: { ok: true } },
    { taskId: XSS, status: "failed", error: { message: XSS } },
  ]);
  await store.tasks.createChildren(validate?.taskExecId as string, [{ taskId: "grandchild" }]);
  await store.componentState.put(running.id, "cart", { items: 2 });
  await store.correlations.add("payment-42", running.id);
  await store.timers.schedule({
    executionId: running.id,
    name: "reminder",
    fireAt: new Date(Date.now() + 60_000),
  });
  await store.jobs.enqueue({ queue: "steps", name: "ship", executionId: running.id });
  const [deadJob] = await store.jobs.enqueue([{ queue: "mail", name: XSS, maxAttempts: 1 }]);
  const [leased] = await store.jobs.claim({ queue: "mail", workerId: "test" });
  await store.jobs.fail(leased as { id: string; leaseToken: string }, new Error(XSS));
  return {
    runningId: running.id,
    completedId: done.id,
    rootTask: root.taskExecId,
    deadJob: deadJob as string,
  };
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

async function serve(store: Store, options: DashboardOptions = {}) {
  const dashboard = await serveDashboard(store, { port: 0, logger: silentLogger, env: {}, ...options });
  open.push(dashboard);
  return dashboard;
}

/** The response's status and JSON body, loosely typed: the assertions check its shape. */
async function getJson(base: string, path: string, init: RequestInit = {}) {
  const res = await fetch(new URL(path, base), init);
  // biome-ignore lint/suspicious/noExplicitAny: any JSON the API returns; the assertions check its shape
  return { status: res.status, body: (await res.json()) as any };
}

/** The CSRF token the page embeds for its script. */
async function csrfFrom(base: string, init: RequestInit = {}): Promise<string> {
  const html = await (await fetch(base, init)).text();
  const token = /<meta name="flowstore-csrf" content="([^"]+)">/.exec(html)?.[1];
  expect(token).toBeTruthy();
  return token as string;
}

/** A raw request, for headers fetch will not let us set (Host). */
function raw(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("dashboard pages without a store", () => {
  it("escapes every value the server puts into HTML", () => {
    expect(escapeHtml(`${XSS}"'&\``)).toBe("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;&#96;");
    const page = shellPage("overview", "csrf", XSS);
    expect(page).not.toContain(XSS);
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(loginPage(XSS)).not.toContain(XSS);
  });

  it("fills pages with text nodes only: the client script never parses data as HTML", () => {
    expect(() => new Script(CLIENT_JS)).not.toThrow();
    for (const sink of [
      "innerHTML",
      "outerHTML",
      "insertAdjacentHTML",
      "document.write",
      "eval(",
      "new Function",
    ]) {
      expect(CLIENT_JS).not.toContain(sink);
    }
    expect(CLIENT_JS).toContain("createTextNode");
    expect(CLIENT_JS).toContain("textContent");
  });

  it("knows loopback addresses", () => {
    for (const host of ["127.0.0.1", "127.5.0.1", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) {
      expect(isLoopback(host)).toBe(true);
    }
    for (const host of ["0.0.0.0", "::", "192.168.1.4", "example.com", "127.example.com"]) {
      expect(isLoopback(host)).toBe(false);
    }
  });
});

forEachDriver((driver) => {
  describe("dashboard", () => {
    it("serves the data as JSON: overview, executions (filtered, paged), an execution, queues", async () => {
      const store = await driver.open();
      const s = await seed(store);
      const { url } = await serve(store);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

      const overview = await getJson(url, "/api/overview");
      expect(overview.status).toBe(200);
      expect(overview.body.executions).toMatchObject({ running: 1, completed: 1 });
      expect(overview.body.queues).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ queue: "mail", dead: 1 }),
          expect.objectContaining({ queue: "steps", waiting: 1 }),
        ]),
      );
      // The overview's queues carry what the queues page shows of them: completed and failed runs, limits.
      expect(overview.body.queues).toContainEqual(
        expect.objectContaining({
          queue: "mail",
          completed: 0,
          failed: 1,
          limits: { groupConcurrency: null, rate: null, strictOrder: false },
        }),
      );
      expect(overview.body.depth).toBe(1);
      expect(overview.body.timersDueSoon.map((t: { name: string }) => t.name)).toEqual(["reminder"]);
      expect(overview.body.series.length).toBeGreaterThanOrEqual(1);

      const all = await getJson(url, "/api/executions");
      expect(all.body.items.map((e: { id: string }) => e.id)).toEqual([s.completedId, s.runningId]);
      expect(all.body.items[1].definition.name).toBe(XSS);
      const failedOnly = await getJson(url, "/api/executions?status=completed");
      expect(failedOnly.body.items.map((e: { id: string }) => e.id)).toEqual([s.completedId]);
      const byName = await getJson(url, `/api/executions?definition=${encodeURIComponent(XSS)}`);
      expect(byName.body.items.map((e: { id: string }) => e.id)).toEqual([s.runningId]);
      const first = await getJson(url, "/api/executions?limit=1");
      expect(first.body.items).toHaveLength(1);
      const second = await getJson(url, `/api/executions?limit=1&cursor=${first.body.nextCursor}`);
      expect(second.body.items[0].id).toBe(s.runningId);
      expect(second.body.nextCursor).toBeNull();
      expect((await getJson(url, "/api/executions?status=bogus")).status).toBe(400);
      // By creation time and by metadata (key=value, or a JSON object it contains).
      const { execution: tagged } = await store.executions.start({
        name: "tagged",
        metadata: { tenant: "acme", tier: 2 },
      });
      const ids = async (query: string) =>
        (await getJson(url, `/api/executions?${query}`)).body.items.map((e: { id: string }) => e.id);
      expect(await ids("meta=tenant%3Dacme")).toEqual([tagged.id]);
      expect(await ids(`meta=${encodeURIComponent('{"tier":2}')}`)).toEqual([tagged.id]);
      expect(await ids("meta=tenant%3Dother")).toEqual([]);
      const created = tagged.createdAt.getTime();
      expect(await ids(`from=${new Date(created - 1).toISOString()}`)).toEqual([tagged.id]);
      expect(await ids(`to=${new Date(created - 1).toISOString()}`)).not.toContain(tagged.id);
      for (const bad of ["from=soon", "meta=novalue", "meta=%7Bnot%20json", "meta=%5B1%5D"]) {
        expect((await getJson(url, `/api/executions?${bad}`)).status, bad).toBe(400);
      }
      expect((await getJson(url, "/api/definitions")).body.names.sort()).toEqual([XSS, "orders"].sort());

      const one = await getJson(url, `/api/executions/${s.runningId}`);
      expect(one.status).toBe(200);
      expect(one.body.execution).toMatchObject({ id: s.runningId, status: "running", input: { note: XSS } });
      expect(one.body.tasks.map((t: { taskId: string; depth: number }) => [t.taskId, t.depth])).toEqual([
        ["fulfil", 0],
        ["validate", 1],
        ["grandchild", 2],
        [XSS, 1],
      ]);
      expect(one.body.tasks[0].durationMs).toBeGreaterThanOrEqual(0);
      expect(one.body.componentState).toEqual([
        expect.objectContaining({ componentId: "cart", state: { items: 2 } }),
      ]);
      expect(one.body.correlations).toEqual([expect.objectContaining({ key: "payment-42" })]);
      expect(one.body.timers).toEqual([expect.objectContaining({ name: "reminder" })]);
      expect(one.body.jobs).toEqual([expect.objectContaining({ queue: "steps", name: "ship" })]);
      expect(one.body.jobs[0]).not.toHaveProperty("leaseToken");
      expect((await getJson(url, "/api/executions/0190b2a4-0000-7000-8000-000000000000")).status).toBe(404);
      expect((await getJson(url, "/api/executions/not-a-uuid")).status).toBe(404);

      const dead = await getJson(url, "/api/queues?status=dead");
      expect(dead.body.jobs).toEqual([expect.objectContaining({ id: s.deadJob, name: XSS, status: "dead" })]);
      expect(dead.body.jobs[0].lastError.message).toBe(XSS);
      // Each queue with what it has done since the store began: the seed enqueued one "mail" job, whose run failed
      // to dead (by a lease taken with claim() and jobs.fail called by hand, which count as a worker's do).
      const mail = dead.body.stats.find((q: { queue: string }) => q.queue === "mail");
      expect(mail).toMatchObject({
        dead: 1,
        completed: 0,
        failed: 1,
        limits: { groupConcurrency: null, rate: null, strictOrder: false },
      });
      await store.jobs.setLimits("mail", { groupConcurrency: 3, rate: { limit: 10, periodMs: 1000 } });
      const limited = (await getJson(url, "/api/queues")).body.stats.find(
        (q: { queue: string }) => q.queue === "mail",
      );
      expect(limited.limits).toEqual({
        groupConcurrency: 3,
        rate: { limit: 10, periodMs: 1000 },
        strictOrder: false,
      });
      await store.jobs.setLimits("mail", { groupConcurrency: null, rate: null });
    });

    it("serves pages with strict security headers and no stored value in the HTML", async () => {
      const store = await driver.open();
      const s = await seed(store);
      const { url } = await serve(store);
      for (const path of ["/", "/executions", `/executions/${s.runningId}`, "/queues"]) {
        const res = await fetch(new URL(path, url));
        expect(res.status).toBe(200);
        const csp = res.headers.get("content-security-policy") ?? "";
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).toContain("script-src 'self'");
        expect(csp).not.toContain("unsafe-inline");
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        const html = await res.text();
        expect(html).not.toContain("<script>alert");
        expect(html).not.toMatch(/<script>[^<]/); // no inline script at all
        expect(html).toContain('<script src="/assets/app.js" defer></script>');
      }
      const js = await fetch(new URL("/assets/app.js", url));
      expect(js.headers.get("content-type")).toContain("text/javascript");
      expect(await js.text()).toBe(CLIENT_JS);
      // The JSON carries the name as data, served as JSON (never sniffed as HTML).
      const api = await fetch(new URL(`/api/executions/${s.runningId}`, url));
      expect(api.headers.get("content-type")).toContain("application/json");
      expect(await api.json()).toMatchObject({ execution: { definition: { name: XSS } } });
      expect((await fetch(new URL("/executions/<script>", url))).status).toBe(404);
      expect((await fetch(new URL("/nowhere", url))).status).toBe(404);
      // DNS rebinding: a page whose own name resolves to 127.0.0.1 sends that name as Host.
      expect(await raw(new URL("/api/overview", url).toString(), { Host: "evil.example:80" })).toBe(403);
      expect(await raw(new URL("/api/overview", url).toString(), { Host: new URL(url).host })).toBe(200);
    });

    it("retries a dead job only by POST with the CSRF token from this origin", async () => {
      const store = await driver.open();
      const s = await seed(store);
      const { url } = await serve(store);
      const csrf = await csrfFrom(url);
      const retryUrl = new URL(`/api/jobs/${s.deadJob}/retry`, url);
      const origin = new URL(url).origin;
      const status = async () => (await store.jobs.get(s.deadJob)).status;

      expect((await fetch(retryUrl)).status).toBe(405);
      expect((await fetch(retryUrl, { method: "POST", headers: { Origin: origin } })).status).toBe(403);
      const wrongToken = { Origin: origin, "X-CSRF-Token": "nope" };
      expect((await fetch(retryUrl, { method: "POST", headers: wrongToken })).status).toBe(403);
      const evil = { Origin: "http://evil.example", "X-CSRF-Token": csrf };
      expect((await fetch(retryUrl, { method: "POST", headers: evil })).status).toBe(403);
      const crossSite = { "Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf };
      expect((await fetch(retryUrl, { method: "POST", headers: crossSite })).status).toBe(403);
      expect(await status()).toBe("dead");

      const ok = await fetch(retryUrl, { method: "POST", headers: { Origin: origin, "X-CSRF-Token": csrf } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ retried: [s.deadJob] });
      expect(await status()).toBe("waiting");
      // Not dead any more: nothing to retry.
      const again = await fetch(retryUrl, {
        method: "POST",
        headers: { Origin: origin, "X-CSRF-Token": csrf },
      });
      expect(again.status).toBe(409);
    });

    it("pauses and resumes a queue only by POST with the CSRF token, its name percent-encoded", async () => {
      const store = await driver.open();
      await seed(store);
      const { url } = await serve(store);
      const csrf = await csrfFrom(url);
      const origin = new URL(url).origin;
      const queue = "mail/eu \u00e9";
      const at = (action: string) => new URL(`/api/queues/${encodeURIComponent(queue)}/${action}`, url);
      expect((await fetch(at("pause"), { method: "POST", headers: { Origin: origin } })).status).toBe(403);
      expect(await store.jobs.paused()).toEqual([]);
      const post = (action: string) =>
        fetch(at(action), { method: "POST", headers: { Origin: origin, "X-CSRF-Token": csrf } });
      const paused = await post("pause");
      expect(paused.status).toBe(200);
      expect(await paused.json()).toEqual({ queue, paused: true, changed: true });
      expect(await store.jobs.paused()).toMatchObject([{ queue, pausedBy: "dashboard" }]);
      expect(await (await post("pause")).json()).toMatchObject({ changed: false });
      expect(await (await post("resume")).json()).toEqual({ queue, paused: false, changed: true });
      expect(await store.jobs.paused()).toEqual([]);
      const bad = await fetch(new URL("/api/queues/%E0%A4%A/pause", url), {
        method: "POST",
        headers: { Origin: origin, "X-CSRF-Token": csrf },
      });
      expect(bad.status).toBe(400);
    });

    it("deletes a dead job, not a live one, and retries or deletes every dead job of a queue", async () => {
      const store = await driver.open();
      const s = await seed(store);
      const { url } = await serve(store);
      const csrf = await csrfFrom(url);
      const headers = { Origin: new URL(url).origin, "X-CSRF-Token": csrf };
      const post = (path: string) => fetch(new URL(path, url), { method: "POST", headers });
      const [live] = await store.jobs.enqueue([{ queue: "mail", name: "live" }]);
      expect((await post(`/api/jobs/${live}/delete`)).status).toBe(409);
      expect((await store.jobs.get(live as string)).status).toBe("waiting");
      const deleted = await post(`/api/jobs/${s.deadJob}/delete`);
      expect(await deleted.json()).toEqual({ deleted: [s.deadJob] });
      // Three dead jobs in a queue: all retried at once, then (dead again) all deleted.
      const kill = async () => {
        await store.jobs.enqueue(
          Array.from({ length: 3 }, (_, i) => ({ queue: "bulk", name: `b${i}`, maxAttempts: 1 })),
        );
        for (const job of await store.jobs.claim({ queue: "bulk", workerId: "w", limit: 3 })) {
          await store.jobs.fail(job, new Error("no"));
        }
      };
      await kill();
      const retried = (await (await post("/api/queues/bulk/dead/retry")).json()) as { retried: string[] };
      expect(retried.retried).toHaveLength(3);
      await store.jobs.cancel(retried.retried);
      await kill();
      const gone = (await (await post("/api/queues/bulk/dead/delete")).json()) as { deleted: string[] };
      expect(gone.deleted).toHaveLength(3);
      expect(await store.jobs.list({ queue: "bulk" })).toEqual([]);
      expect((await store.jobs.get(live as string)).status).toBe("waiting");
    });

    it("cancels a run (and its children) only by POST with the CSRF token, and not a finished one", async () => {
      const store = await driver.open();
      const s = await seed(store);
      const { url } = await serve(store);
      const csrf = await csrfFrom(url);
      const origin = new URL(url).origin;
      const cancel = (id: string, headers: Record<string, string>) =>
        fetch(new URL(`/api/executions/${id}/cancel`, url), { method: "POST", headers });
      expect((await cancel(s.runningId, { Origin: origin })).status).toBe(403);
      expect((await store.executions.get(s.runningId)).status).toBe("running");
      const ok = await cancel(s.runningId, { Origin: origin, "X-CSRF-Token": csrf });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ id: s.runningId, status: "cancelled" });
      const finished = await cancel(s.completedId, { Origin: origin, "X-CSRF-Token": csrf });
      expect(finished.status).toBe(409);
      expect((await store.executions.get(s.completedId)).status).toBe("completed");
    });

    it("refuses to bind off loopback without a token, and then asks every request for it", async () => {
      const store = await driver.open();
      const s = await seed(store);
      await expect(serveDashboard(store, { host: "0.0.0.0", port: 0, env: {} })).rejects.toThrow(
        ValidationError,
      );
      await expect(serveDashboard(store, { host: "0.0.0.0", port: 0, env: {} })).rejects.toThrow(/token/);

      const token = "s3cret-dashboard-token";
      const { url } = await serve(store, { host: "0.0.0.0", env: { FLOWSTORE_DASHBOARD_TOKEN: token } });
      const base = url.replace("0.0.0.0", "127.0.0.1");
      expect((await getJson(base, "/api/overview")).status).toBe(401);
      expect((await fetch(base)).status).toBe(401);
      const wrong = { Authorization: "Bearer wrong" };
      expect((await getJson(base, "/api/overview", { headers: wrong })).status).toBe(401);
      const bearer = { Authorization: `Bearer ${token}` };
      expect((await getJson(base, "/api/overview", { headers: bearer })).status).toBe(200);
      expect((await fetch(new URL("/assets/app.css", base))).status).toBe(200);

      // POST needs the token too, and the CSRF header even with it.
      const retryUrl = new URL(`/api/jobs/${s.deadJob}/retry`, base);
      const csrf = await csrfFrom(base, { headers: bearer });
      expect((await fetch(retryUrl, { method: "POST", headers: { "X-CSRF-Token": csrf } })).status).toBe(401);
      expect((await fetch(retryUrl, { method: "POST", headers: bearer })).status).toBe(403);
      expect((await store.jobs.get(s.deadJob)).status).toBe("dead");

      // The login form and a ?token= link both leave an HttpOnly, SameSite=Strict cookie.
      const form = await fetch(new URL("/login", base), {
        method: "POST",
        body: new URLSearchParams({ token }),
        redirect: "manual",
      });
      expect(form.status).toBe(303);
      const cookie = (form.headers.get("set-cookie") ?? "").split(";")[0] as string;
      expect(form.headers.get("set-cookie")).toMatch(/HttpOnly; SameSite=Strict/);
      expect((await getJson(base, "/api/overview", { headers: { Cookie: cookie } })).status).toBe(200);
      const badForm = await fetch(new URL("/login", base), {
        method: "POST",
        body: new URLSearchParams({ token: "x" }),
      });
      expect(badForm.status).toBe(401);
      const link = await fetch(new URL(`/queues?token=${token}`, base), { redirect: "manual" });
      expect(link.status).toBe(303);
      expect(link.headers.get("location")).toBe("/queues");

      const retried = await fetch(retryUrl, {
        method: "POST",
        headers: { Cookie: cookie, "X-CSRF-Token": csrf },
      });
      expect(retried.status).toBe(200);
      expect((await store.jobs.get(s.deadJob)).status).toBe("waiting");
    });

    it("samples throughput into a ring buffer and closes cleanly", async () => {
      const store = await driver.open();
      await seed(store);
      const dashboard = await serve(store, { sampleIntervalMs: 50, historyMs: 200 });
      await new Promise((resolve) => setTimeout(resolve, 400));
      const { body } = await getJson(dashboard.url, "/api/overview");
      expect(body.series.length).toBeGreaterThan(1);
      expect(body.series.length).toBeLessThanOrEqual(4);
      expect(body.series.at(-1)).toMatchObject({ depth: 1, dead: 1 });
      await dashboard.close();
      await dashboard.close();
      await expect(fetch(dashboard.url)).rejects.toThrow();
    });
  });
});

it.runIf(browserRequired && !haveChromium)("Chromium is installed where browser tests are required", () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true);
});

describe.skipIf(!runBrowserTests)("dashboard in Chromium", () => {
  it("renders the overview, the task tree and a stored <script> as text, and retries a dead job", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const s = await seed(store);
    const { url } = await serve(store);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("dialog", (d: { message(): string; dismiss(): Promise<void> }) => {
        problems.push(`dialog ${d.message()}`);
        void d.dismiss();
      });
      page.on("pageerror", (e: Error) => problems.push(e.message));
      page.on("console", (m: { type(): string; text(): string }) => {
        if (m.type() === "error") problems.push(m.text());
      });
      mkdirSync(SCREENSHOTS, { recursive: true });

      await page.goto(url);
      await page.waitForSelector(".card");
      expect(await page.locator(".card").first().textContent()).toContain("2");
      await page.screenshot({ path: `${SCREENSHOTS}/overview.png`, fullPage: true });

      await store.executions.start({ name: "tagged", metadata: { tenant: "acme" } });
      await page.goto(new URL("/executions", url).toString());
      await page.fill('input[name="meta"]', "tenant=acme");
      await page.press('input[name="meta"]', "Enter");
      await expect.poll(async () => page.locator("main tbody tr").count()).toBe(1);
      expect(await page.locator("main tbody").textContent()).toContain("tagged");
      expect(new URL(page.url()).searchParams.get("meta")).toBe("tenant=acme");

      await page.goto(new URL(`/executions/${s.runningId}`, url).toString());
      await page.waitForSelector("table.tree");
      expect(await page.locator("h1").textContent()).toContain(XSS);
      const tasks = (await page.locator("table.tree td.task").allTextContents()).map((t: string) =>
        t.replace("\u2514 ", ""),
      );
      expect(tasks).toEqual(["fulfil", "validate", "grandchild", XSS]);
      expect(await page.locator("main script, main img").count()).toBe(0);
      await page.screenshot({ path: `${SCREENSHOTS}/execution.png`, fullPage: true });

      await store.jobs.claim({ queue: "steps", workerId: "worker-7" });
      await store.jobs.setLimits("steps", { groupConcurrency: 2, rate: { limit: 100, periodMs: 1000 } });
      await page.goto(new URL("/queues", url).toString());
      await page.waitForSelector("table td");
      expect(await page.locator("main").textContent()).toContain("worker-7");
      expect(await page.locator("main").textContent()).toContain("2 per group, 100 per 1000 ms");
      await page.click(`button.retry[data-job="${s.deadJob}"]`);
      await expect.poll(async () => (await store.jobs.get(s.deadJob)).status).toBe("waiting");
      await page.click('button.pause[data-queue="mail"]');
      await expect.poll(async () => (await store.jobs.paused()).map((p) => p.queue)).toEqual(["mail"]);
      await page.waitForSelector('button.resume[data-queue="mail"]');
      await page.screenshot({ path: `${SCREENSHOTS}/queues-paused.png`, fullPage: true });
      await page.click('button.resume[data-queue="mail"]');
      await expect.poll(async () => (await store.jobs.paused()).length).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("cancels a run from its page and deletes a dead job, once the operator confirms", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const s = await seed(store);
    const { execution: child } = await store.executions.start({
      name: "child",
      status: "running",
      parentExecutionId: s.runningId,
    });
    const { url } = await serve(store);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const asked: string[] = [];
      page.on("dialog", (d: { message(): string; accept(): Promise<void> }) => {
        asked.push(d.message());
        void d.accept();
      });
      await page.goto(new URL(`/executions/${s.completedId}`, url).toString());
      await page.waitForSelector("h1 .badge");
      expect(await page.locator("button.cancel").count()).toBe(0);
      await page.goto(new URL(`/executions/${s.runningId}`, url).toString());
      await page.click("button.cancel");
      await expect.poll(async () => (await store.executions.get(s.runningId)).status).toBe("cancelled");
      expect((await store.executions.get(child.id)).status).toBe("cancelled");
      expect(asked).toHaveLength(1);
      await page.waitForSelector("h1 .badge");
      await expect.poll(async () => page.locator("button.cancel").count()).toBe(0);
      // A dead job deleted from the queues page, after its confirmation too.
      await page.goto(new URL("/queues?queue=mail&status=dead", url).toString());
      await page.click(`button.delete[data-job="${s.deadJob}"]`);
      await expect
        .poll(async () => (await store.jobs.list({ queue: "mail", status: "dead" })).length)
        .toBe(0);
      expect(asked).toHaveLength(2);
    } finally {
      await browser.close();
    }
  });

  it("refuses a browser without the token when bound off loopback, and lets it in with the token", async () => {
    const store = await (DRIVERS.find((d) => d.name === "pglite") as TestDriver).open();
    const token = "browser-test-token";
    const { url } = await serve(store, { host: "0.0.0.0", token });
    const local = new URL(url);
    local.hostname = "127.0.0.1";
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const refused = await page.goto(new URL("/api/overview", local).toString());
      expect(refused?.status()).toBe(401);
      const allowed = await page.goto(new URL(`/?token=${token}`, local).toString());
      expect(allowed?.status()).toBe(200);
      await page.waitForSelector(".card");
    } finally {
      await browser.close();
    }
  });
});
