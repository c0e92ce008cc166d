/**
 * `flowstore status`: every table of the store with its rows, exact where a table is small and an
 * estimate, said to be one, beyond; and the queues with what they have done, so a job that ran and
 * was deleted still shows. Read on both drivers, and run as the command on an embedded store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readStatus } from "../../src/cli/status.js";
import { openStore, type Store } from "../../src/index.js";
import { runCli } from "../support/cli-run.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-status-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What the quickstart leaves, and more: runs, one job run to completion, a waiting job, kv, a timer, a blob. */
async function seed(store: Store, runs: number): Promise<void> {
  for (let i = 0; i < runs; i++) await store.executions.start({ name: "flow" });
  await store.jobs.enqueue({ queue: "email", name: "welcome" });
  const worker = store.jobs.work({ queue: "email", handler: async () => {} });
  await until(() => worker.counts.completed === 1);
  await worker.stop();
  await store.jobs.enqueue({ queue: "later", name: "x", runAt: new Date(Date.now() + 3_600_000) });
  await store.kv.set("settings", "theme", "dark");
  const { execution } = await store.executions.start({ name: "timed" });
  await store.timers.schedule({
    executionId: execution.id,
    name: "t",
    fireAt: new Date(Date.now() + 60_000),
  });
  await store.blobs.put("files/a", Buffer.from("hello"));
}

forEachDriver((driver) => {
  describe("status", () => {
    it("lists every table, counts small ones exactly and marks an estimate as one", async () => {
      const store = await driver.open();
      await seed(store, 30);
      const status = await readStatus(store, { exactUpTo: 20 });
      const byName = new Map(status.tables.map((t) => [t.name, t]));
      for (const name of [
        "jobs",
        "kv",
        "timers",
        "blobs",
        "schedules",
        "definitions",
        "executions",
        "events",
      ]) {
        expect(byName.has(name), name).toBe(true);
      }
      expect(byName.get("jobs")).toMatchObject({ rows: 1, exact: true });
      expect(byName.get("kv")).toMatchObject({ rows: 1, exact: true });
      expect(byName.get("timers")).toMatchObject({ rows: 1, exact: true });
      expect(byName.get("schedules")).toMatchObject({ rows: 0, exact: true });
      // 31 runs, more than the 20 counted one by one: an estimate, at least what was counted.
      const executions = byName.get("executions");
      expect(executions?.exact).toBe(false);
      expect(executions?.rows).toBeGreaterThanOrEqual(21);
      const exact = await readStatus(store);
      expect(exact.tables.find((t) => t.name === "executions")).toMatchObject({ rows: 31, exact: true });
      expect(exact.queues).toEqual([
        expect.objectContaining({ queue: "email", waiting: 0, running: 0, completed: 1, failed: 0 }),
        expect.objectContaining({ queue: "later", waiting: 1, completed: 0 }),
      ]);
    });
  });
});

it("the command shows exact rows and the job just run on the embedded store", {
  timeout: 120_000,
}, async () => {
  const dataDir = path.join(work, ".flowstore");
  const store = await openStore({ dataDir, env: {} });
  try {
    await seed(store, 200);
  } finally {
    await store.close();
  }
  const env = { FLOWSTORE_DATA_DIR: dataDir };
  const text = await runCli(["status"], { cwd: work, env });
  expect(text).toMatchObject({ code: 0, stderr: "" });
  expect(text.stdout).toMatch(/\n {2}executions +201 rows +\d/);
  expect(text.stdout).toMatch(/\n {2}kv +1 row +\d/);
  expect(text.stdout).not.toMatch(/~\d/);
  expect(text.stdout).toMatch(
    /\nqueues.*\n(.*\n)* {2}email +0 waiting, 0 running, 0 dead; 1 completed, 0 failed/,
  );
  const json = await runCli(["status", "--json"], { cwd: work, env });
  expect(json).toMatchObject({ code: 0, stderr: "" });
  const status = JSON.parse(json.stdout);
  expect(status.tables).toContainEqual(
    expect.objectContaining({ name: "executions", rows: 201, exact: true }),
  );
  expect(status.queues).toContainEqual(expect.objectContaining({ queue: "email", completed: 1 }));
});
