/**
 * The flowstore command against a streaming standby of the system's PostgreSQL: with --read-only the
 * inspection commands and the dashboard work there, and what would change the store is refused (a
 * non-zero exit, or 403 from the dashboard) without touching it; --read-url sends lists to the replica.
 * Needs Debian's PostgreSQL (CI installs it); skipped with a note elsewhere, never in CI.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { type SystemPostgres, startStandby, startSystemPostgres } from "../../src/testing/system-postgres.js";
import { CLI_MAIN } from "../support/cli-run.js";
import { uniqueSchema } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { replayed, systemPostgresFor } from "../support/system-postgres.js";

const available = systemPostgresFor("the read-only CLI tests");

const work = mkdtempSync(path.join(tmpdir(), "flowstore-cli-read-only-"));
const schema = uniqueSchema("cli_read_only");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function environment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FLOWSTORE_DATA_DIR: path.join(work, ".flowstore"),
    ...extra,
  };
  delete env.DATABASE_URL;
  if (!("FLOWSTORE_READ_URL" in extra)) delete env.FLOWSTORE_READ_URL;
  return env;
}

function flowstore(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, CLI_MAIN, "--schema", schema, ...args],
      { cwd: work, env: environment(env), encoding: "utf8" },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe.skipIf(!available)("flowstore --read-only against a standby", () => {
  let primary: SystemPostgres;
  let standby: SystemPostgres;
  let primaryUrl: string;
  let standbyUrl: string;
  let store: Store;
  let deadJob: string;
  let executionId: string;

  beforeAll(async () => {
    primary = await startSystemPostgres();
    standby = await startStandby(primary, { synchronous: true });
    const database = `cli_${process.pid}`;
    primaryUrl = await primary.createDatabase(database);
    standbyUrl = standby.urlFor(database);
    store = await openStore({ connection: primaryUrl, schema });
    executionId = (await store.executions.start({ name: "on-standby" })).execution.id;
    await store.kv.set("settings", "theme", "dark");
    await store.schedules.set({ name: "nightly", cron: "@daily", queue: "mail" });
    const [id] = await store.jobs.enqueue([{ queue: "mail", name: "send", maxAttempts: 1 }]);
    const [leased] = await store.jobs.claim({ queue: "mail", workerId: "test" });
    await store.jobs.fail(leased as { id: string; leaseToken: string }, new Error("no"));
    deadJob = id as string;
    await replayed(primary, standby);
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await standby?.stop();
    await primary?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("describes --read-only and --read-url in --help", async () => {
    const help = await flowstore(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--read-only/);
    expect(help.stdout).toMatch(/--read-url <url>/);
    expect(help.stdout).toMatch(/FLOWSTORE_READ_URL/);
    const serve = await flowstore(["serve", "--help"]);
    expect(serve.stdout).toMatch(/--read-only/);
  });

  // Each command is a process of its own (the package loaded, a connection, the command): a dozen of
  // them take 15 to 30 s on two busy cores, which the default timeout leaves no room for.
  it("runs the inspection commands on the standby", { timeout: 90_000 }, async () => {
    const at = ["--url", standbyUrl, "--read-only", "--json"];
    const stats = await flowstore(["jobs", "stats", ...at]);
    expect(stats).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(stats.stdout)).toMatchObject([{ queue: "mail", dead: 1 }]);
    const list = await flowstore(["executions", "list", ...at]);
    expect(list).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(list.stdout).items.map((e: { id: string }) => e.id)).toEqual([executionId]);
    const status = await flowstore(["status", ...at]);
    expect(status).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(status.stdout)).toMatchObject({
      pendingMigrations: 0,
      connection: expect.stringMatching(/read-only/),
    });
    const partitions = await flowstore(["partitions", ...at]);
    expect(partitions).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(partitions.stdout).ranges[0]).toMatchObject({ name: "legacy" });
    const schedules = await flowstore(["schedules", ...at]);
    expect(schedules).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(schedules.stdout)).toMatchObject([{ name: "nightly", pausedAt: null }]);
    const kv = await flowstore(["kv", "get", "settings", "theme", "--url", standbyUrl, "--read-only"]);
    expect(kv).toEqual({ code: 0, stdout: "dark", stderr: "" });
  });

  it("refuses what would change the store, with a non-zero exit, and changes nothing", {
    timeout: 90_000,
  }, async () => {
    const at = ["--url", standbyUrl, "--read-only"];
    const refused = [
      ["jobs", "retry", deadJob],
      ["jobs", "cancel", deadJob],
      ["jobs", "pause", "mail"],
      ["jobs", "resume", "mail"],
      ["schedules", "pause", "nightly"],
      ["schedules", "delete", "nightly"],
      ["kv", "set", "settings", "theme", "light"],
      ["migrate"],
      ["prune", "--older-than", "1s"],
      ["partitions", "--ensure"],
    ];
    for (const command of refused) {
      const run = await flowstore([...command, ...at]);
      expect(run.code, command.join(" ")).not.toBe(0);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(
        new RegExp(
          `^flowstore: ReadOnlyError: flowstore ${command[0]}.* changes the store, and --read-only was given`,
        ),
      );
    }
    // Counting is not changing.
    const dryRun = await flowstore(["prune", "--older-than", "1s", "--dry-run", ...at]);
    expect(dryRun).toMatchObject({ code: 0, stderr: "" });
    expect((await store.jobs.get(deadJob)).status).toBe("dead");
    expect((await store.kv.get("settings", "theme"))?.version).toBe(1);
    expect((await store.schedules.get("nightly")).pausedAt).toBeNull();
  });

  it("lists from --read-url (or FLOWSTORE_READ_URL) and shows one by id from --url", async () => {
    await replayed(primary, standby);
    await standby.query("select pg_wal_replay_pause()");
    try {
      const { execution } = await store.executions.start({ name: "not-replayed" });
      const list = await flowstore([
        "executions",
        "list",
        "--url",
        primaryUrl,
        "--read-url",
        standbyUrl,
        "--json",
      ]);
      expect(list).toMatchObject({ code: 0, stderr: "" });
      expect(list.stdout).not.toContain(execution.id);
      const fromEnv = await flowstore(["executions", "list", "--url", primaryUrl, "--json"], {
        FLOWSTORE_READ_URL: standbyUrl,
      });
      expect(fromEnv.stdout).not.toContain(execution.id);
      const direct = await flowstore(["executions", "list", "--url", primaryUrl, "--json"]);
      expect(direct.stdout).toContain(execution.id);
      const show = await flowstore([
        "executions",
        "show",
        execution.id,
        "--url",
        primaryUrl,
        "--read-url",
        standbyUrl,
      ]);
      expect(show).toMatchObject({ code: 0, stderr: "" });
      expect(show.stdout).toContain(execution.id);
    } finally {
      await standby.query("select pg_wal_replay_resume()");
    }
  });

  it("serves the dashboard read-only: pages and data, and 403 for its actions", async () => {
    const child = spawn(
      process.execPath,
      [
        ...NODE_FLAGS,
        CLI_MAIN,
        "serve",
        "--url",
        standbyUrl,
        "--schema",
        schema,
        "--read-only",
        "--port",
        "0",
      ],
      { cwd: work, env: environment() },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const found = /dashboard: (http:\/\/\S+)/.exec(out);
          if (found) resolve(found[1] as string);
        });
        let err = "";
        child.stderr.on("data", (chunk: Buffer) => {
          err += chunk.toString();
        });
        void exited.then((code) => reject(new Error(`serve exited (${code}): ${err}`)));
      });
      const overview = await fetch(new URL("/api/overview", base));
      expect(overview.status).toBe(200);
      expect(await overview.json()).toMatchObject({ readOnly: true, queues: [{ queue: "mail", dead: 1 }] });
      const page = await (await fetch(base)).text();
      expect(page).toContain('data-read-only="true"');
      expect(page).toMatch(/<span class="read-only"[^>]*>read-only<\/span>/);
      const csrf = /<meta name="flowstore-csrf" content="([^"]+)">/.exec(page)?.[1] ?? "";

      const retry = await fetch(new URL(`/api/jobs/${deadJob}/retry`, base), {
        method: "POST",
        headers: { "X-CSRF-Token": csrf, Origin: new URL(base).origin },
      });
      expect(retry.status).toBe(403);
      expect(((await retry.json()) as { error: string }).error).toMatch(/read-only/);
      expect((await store.jobs.get(deadJob)).status).toBe("dead");
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
