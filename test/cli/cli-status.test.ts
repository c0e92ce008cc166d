/**
 * `flowstore status`: every table of the store with its rows, exact where a table is small and an
 * estimate, said to be one, beyond; and the queues with what they have done, so a job that ran and
 * was deleted still shows. Read on both drivers, and run as the command on an embedded store. On a
 * schema without flowstore's tables it says so, with the command that makes them, and exits 3.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { absentSchema } from "../../src/cli/schema-absent.js";
import { readStatus } from "../../src/cli/status.js";
import { openStore, type Store } from "../../src/index.js";
import { runCli } from "../support/cli-run.js";
import { EMBEDDED_TESTED, fileDatabaseUrl, forEachDriver, uniqueSchema } from "../support/harness.js";
import { until } from "../support/waiting.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-status-"));
/** The schema version this flowstore installs: one a migration file. */
const INSTALLS = readdirSync("src/migrations/sql").filter((name) => name.endsWith(".sql")).length;
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

    it("finds a schema without flowstore's tables, and says what would install them", async () => {
      const store = await driver.open({ migrate: false });
      expect(await absentSchema(store, ["--schema", store.schema])).toMatchObject({
        schema: store.schema,
        schemaVersion: 0,
        pendingMigrations: INSTALLS,
        schemaAbsent: true,
        schemaExists: false,
        installsVersion: INSTALLS,
        migrate: `flowstore migrate --schema ${store.schema}`,
      });
      await store.query(`create schema ${store.schema}`);
      expect(await absentSchema(store, [])).toMatchObject({
        schemaExists: true,
        migrate: "flowstore migrate",
      });
      await store.migrate();
      expect(await absentSchema(store, [])).toBeNull();
    });
  });
});

it("on a server's schema without flowstore's tables, says so and what to run, and exits 3", {
  timeout: 60_000,
}, async () => {
  const url = await fileDatabaseUrl();
  const password = new URL(url).password;
  expect(password).not.toBe("");
  const schema = uniqueSchema("absent");
  const text = await runCli(["status", "--url", url, "--schema", schema], { cwd: work });
  expect(text).toMatchObject({ code: 3, stderr: "" });
  expect(text.stdout).toContain(`schema      ${schema} does not exist`);
  expect(text.stdout).toContain(`this flowstore installs version ${INSTALLS}`);
  const masked = url.replace(`:${password}@`, ":***@");
  expect(text.stdout).toContain(`run         flowstore migrate --url '${masked}' --schema ${schema}`);
  expect(text.stdout).not.toContain(password);

  const json = await runCli(["status", "--url", url, "--schema", schema, "--json"], { cwd: work });
  expect(json).toMatchObject({ code: 3, stderr: "" });
  expect(JSON.parse(json.stdout)).toMatchObject({
    schema,
    schemaVersion: 0,
    pendingMigrations: INSTALLS,
    schemaAbsent: true,
    installsVersion: INSTALLS,
    migrate: `flowstore migrate --url '${masked}' --schema ${schema}`,
    tables: [],
    queues: [],
  });
  expect(json.stdout).not.toContain(password);

  // From DATABASE_URL, the command to run needs no --url: the same variable gives it its server.
  const fromEnvironment = await runCli(["status", "--schema", schema], {
    cwd: work,
    env: { DATABASE_URL: url },
  });
  expect(fromEnvironment.code).toBe(3);
  expect(fromEnvironment.stdout).toContain(`run         flowstore migrate --schema ${schema}\n`);
});

it.runIf(EMBEDDED_TESTED)(
  "on an embedded store's schema without flowstore's tables, says so and exits 3",
  { timeout: 120_000 },
  async () => {
    const dataDir = path.join(work, "embedded-absent");
    await (await openStore({ dataDir, env: {} })).close();
    const run = await runCli(["status", "--data-dir", dataDir, "--schema", "elsewhere"], { cwd: work });
    expect(run).toMatchObject({ code: 3, stderr: "" });
    expect(run.stdout).toContain("schema      elsewhere does not exist");
    expect(run.stdout).toContain(`run         flowstore migrate --schema elsewhere --data-dir ${dataDir}\n`);
  },
);

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
