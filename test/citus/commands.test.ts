/**
 * The flowstore command and the dashboard on a distributed schema (a real Citus cluster,
 * test/support/citus.ts): every command that reads or changes the store answers, and so does every
 * page, API route and action of the dashboard, on a store that holds runs, jobs, threads and hooks.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import { consoleLogger, openStore, type Store } from "../../src/index.js";
import { type CitusCluster, citusSkipped, distributeForWorkload, startCitus } from "../support/citus.js";
import { inBatches, runCli } from "../support/cli-run.js";
import { exerciseStore } from "../support/store-workload.js";
import { until } from "../support/waiting.js";

const unavailable = citusSkipped("the command and dashboard on Citus");
const SCHEMA = "flowstore_cli";

describe.skipIf(unavailable !== undefined)("the command and the dashboard on a distributed schema", () => {
  let cluster: CitusCluster;
  let store: Store;
  let dead: string;
  let parent: string;
  let child: string;
  const work = mkdtempSync(path.join(tmpdir(), "flowstore-citus-cli-"));
  beforeAll(async () => {
    cluster = (await startCitus()) as CitusCluster;
    await distributeForWorkload(cluster.url, SCHEMA);
    store = await openStore({ connection: cluster.url, schema: SCHEMA, logger: consoleLogger("error") });
  }, 180_000);
  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  // In a test rather than beforeAll: the workload waits with expect.poll, which only a test may call.
  it("takes a workload: runs, steps, history, streams, signals, tasks, jobs and both engines' rows", {
    timeout: 120_000,
  }, async () => {
    await exerciseStore(store);
    await store.schedules.set({ name: "nightly", cron: "@daily", queue: "mail" });
    const failing = store.jobs.work({
      queue: "dead",
      handler: () => {
        throw new Error("declined");
      },
      onError: () => {},
    });
    [dead] = (await store.jobs.enqueue([{ queue: "dead", name: "charge", maxAttempts: 1 }])) as [string];
    await until(async () => (await store.jobs.stats("dead")).some((queue) => queue.dead === 1), 20_000);
    await failing.stop();
    parent = (await store.executions.start({ name: "order" })).execution.id;
    child = (await store.executions.start({ name: "order", parentExecutionId: parent })).execution.id;
    await store.tasks.create({ executionId: child, taskId: "ship" });
    writeFileSync(path.join(work, "invoice.txt"), "paid");
  });

  it("answers every command", { timeout: 180_000 }, async () => {
    const commands = [
      ["status"],
      ["migrate"],
      ["executions", "list"],
      ["executions", "show", parent],
      ["jobs", "stats"],
      ["jobs", "list"],
      ["jobs", "list", "--status", "dead"],
      ["jobs", "pause", "mail"],
      ["jobs", "paused"],
      ["jobs", "resume", "mail"],
      ["jobs", "groups", "g"],
      ["jobs", "limits", "g", "--group-concurrency", "3"],
      ["timers", "list"],
      ["schedules", "list"],
      ["schedules", "get", "nightly"],
      ["schedules", "pause", "nightly"],
      ["schedules", "resume", "nightly"],
      ["schedules", "next", "@daily"],
      ["kv", "set", "settings", "theme", "dark"],
      ["kv", "list", "settings"],
      ["blobs", "put", "invoices/1", path.join(work, "invoice.txt")],
      ["blobs", "ls"],
      ["prune", "--older-than", "30d", "--dry-run"],
      ["partitions"],
    ];
    // Then what reads or undoes what those wrote.
    const after = [
      ["jobs", "retry", dead],
      ["kv", "get", "settings", "theme"],
      ["blobs", "get", "invoices/1", "-o", path.join(work, "copy.txt")],
      ["schedules", "delete", "nightly"],
      ["prune", "--older-than", "30d"],
    ];
    const cli = (command: string[]) =>
      runCli(["--url", cluster.url, "--schema", SCHEMA, ...command, "--json"], { cwd: work });
    const runs = [...(await inBatches(commands, 4, cli)), ...(await inBatches(after, 4, cli))];
    const failed = [...commands, ...after]
      .map((command, i) => ({ command: command.join(" "), ...runs[i] }))
      .filter((run) => run.code !== 0 || run.stderr !== "");
    expect(failed).toEqual([]);
    expect((await store.kv.get("settings", "theme"))?.value.toString()).toBe("dark");
    expect((await store.jobs.stats("dead")).find((queue) => queue.queue === "dead")?.dead ?? 0).toBe(0);
  });

  it("serves every page, API route and action of the dashboard", { timeout: 60_000 }, async () => {
    const dashboard = await serveDashboard(store, { port: 0, logger: silentLogger, env: {} });
    try {
      const reads = [
        "/",
        "/executions",
        `/executions/${parent}`,
        "/queues",
        "/threads",
        "/api/overview",
        "/api/definitions",
        "/api/executions",
        "/api/executions?status=completed",
        `/api/executions/${parent}`,
        "/api/queues",
        "/api/queues?queue=dead&status=dead",
        "/api/threads",
        "/api/threads/checkpoints?scope=plans&thread=t",
        "/metrics",
      ];
      const answers = await Promise.all(
        reads.map(async (route) => ({ route, status: (await fetch(new URL(route, dashboard.url))).status })),
      );
      expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
      const { csrfToken } = (await (await fetch(new URL("/api/session", dashboard.url))).json()) as {
        csrfToken: string;
      };
      const post = async (route: string) => {
        const res = await fetch(new URL(route, dashboard.url), {
          method: "POST",
          headers: { "x-csrf-token": csrfToken },
        });
        return { route, status: res.status, body: await res.json() };
      };
      // Cancel walks the run's children (a recursive walk Citus does not run in one statement).
      expect(await post(`/api/executions/${parent}/cancel`)).toMatchObject({
        status: 200,
        body: { status: "cancelled" },
      });
      expect((await store.executions.get(child)).status).toBe("cancelled");
      const tasks = [...(await store.tasks.listInExecution(child)).values()];
      expect(tasks.map((task) => task.status)).toEqual(["cancelled"]);
      for (const route of [
        "/api/queues/mail/pause",
        "/api/queues/mail/resume",
        "/api/queues/dead/dead/retry",
      ]) {
        expect((await post(route)).status, route).toBe(200);
      }
    } finally {
      await dashboard.close();
    }
  });
});
