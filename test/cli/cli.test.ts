/**
 * The flowstore command, run as JavaScript transpiled from source (test/support/cli-build.ts) in a
 * child process, against this file's database on the test server (a schema of its own).
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Command, CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowstoreProgram } from "../../src/cli/program.js";
import { openStore } from "../../src/index.js";
import { CLI_MAIN, inBatches } from "../support/cli-run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { finishedExecutions } from "../support/workflow-fixtures.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-cli-"));
const schema = uniqueSchema("cli");
let url: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function flowstore(args: string[], options: { url?: string | null } = {}): Promise<Run> {
  const env = environment();
  const connection = options.url === null ? [] : ["--url", options.url ?? url, "--schema", schema];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, CLI_MAIN, ...connection, ...args],
      { cwd: work, env, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function environment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FLOWSTORE_DATA_DIR: path.join(work, ".flowstore") };
  delete env.DATABASE_URL;
  return env;
}

/** A long-running command: its output so far, whether it has exited, and a SIGTERM that waits for the exit. */
function startFlowstore(args: string[]) {
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, CLI_MAIN, "--url", url, "--schema", schema, ...args],
    {
      cwd: work,
      env: environment(),
    },
  );
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on("exit", (code) => {
      exitCode = code;
      resolve();
    }),
  );
  return {
    stdout: () => stdout,
    exitCode: () => exitCode,
    async terminate(): Promise<number | null | undefined> {
      child.kill("SIGTERM");
      await exited;
      return exitCode;
    },
  };
}

/** A few child processes at a time: the machine has two cores. */
/**
 * What `flowstore <command> --help` prints, read from the command's program in this process: one
 * process per command would load the whole package thirty-six times.
 */
function helpOf(command: string[]): string {
  const argv = ["node", "flowstore", ...command, "--help"];
  const { program } = flowstoreProgram(argv);
  let out = "";
  const capture = (each: Command) => {
    each.configureOutput({ writeOut: (text) => (out += text) }).exitOverride();
    for (const sub of each.commands) capture(sub);
  };
  capture(program);
  try {
    program.parse(argv);
  } catch (error) {
    if (!(error instanceof CommanderError && error.code === "commander.helpDisplayed")) throw error;
  }
  return out;
}

beforeAll(async () => {
  url = await fileDatabaseUrl();
  const migrated = await flowstore(["migrate"]);
  expect(migrated.stderr).toBe("");
  expect(migrated.code).toBe(0);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const COMMANDS = [
  [],
  ["migrate"],
  ["sql"],
  ["status"],
  ["executions"],
  ["executions", "list"],
  ["executions", "show"],
  ["executions", "fork"],
  ["executions", "rewind"],
  ["jobs"],
  ["jobs", "stats"],
  ["jobs", "list"],
  ["jobs", "retry"],
  ["jobs", "cancel"],
  ["jobs", "pause"],
  ["jobs", "resume"],
  ["jobs", "paused"],
  ["timers"],
  ["timers", "list"],
  ["schedules"],
  ["schedules", "list"],
  ["schedules", "get"],
  ["schedules", "pause"],
  ["schedules", "resume"],
  ["schedules", "delete"],
  ["schedules", "next"],
  ["kv"],
  ["kv", "get"],
  ["kv", "set"],
  ["kv", "list"],
  ["blobs"],
  ["blobs", "put"],
  ["blobs", "get"],
  ["blobs", "ls"],
  ["prune"],
  ["partitions"],
  ["serve"],
  ["demo"],
];

// Each test starts the command as processes, one after another (each loads the package): a
// loaded machine takes several seconds a process.
describe("flowstore command", { timeout: 90_000 }, () => {
  it("has --help with an example on every command", async () => {
    for (const command of COMMANDS) {
      const name = `flowstore ${command.join(" ")}`;
      const help = helpOf(command);
      expect(help, name).toMatch(/Usage: flowstore/);
      expect(help, name).toMatch(/Examples?:\n\s+\$ flowstore/);
    }
    // A process prints what the program says: the top command's and a subcommand's, as read above.
    for (const command of [[], ["jobs", "stats"]]) {
      const run = await flowstore([...command, "--help"], { url: null });
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(helpOf(command));
    }
  });

  it("prints parseable JSON with --json on every read command", { timeout: 60_000 }, async () => {
    const reads = [
      ["status"],
      ["executions", "list"],
      ["jobs", "stats"],
      ["jobs", "list"],
      ["jobs", "paused"],
      ["timers", "list"],
      ["schedules", "list"],
      ["schedules", "next", "@daily"],
      ["kv", "list", "none"],
      ["blobs", "ls"],
      ["prune", "--older-than", "30d", "--dry-run"],
      ["partitions"],
    ];
    const runs = await inBatches(reads, 4, (command) => flowstore([...command, "--json"]));
    runs.forEach((run, i) => {
      const name = `flowstore ${reads[i]?.join(" ")} --json`;
      expect(run.stderr, name).toBe("");
      expect(run.code, name).toBe(0);
      expect(() => JSON.parse(run.stdout), name).not.toThrow();
    });
    const status = JSON.parse(runs[0]?.stdout ?? "");
    expect(status.schema).toBe(schema);
    // A partitioned table is listed once, its partitions summed into it.
    const names = status.tables.map((table: { name: string }) => table.name);
    expect(names).toContain("events");
    expect(names.filter((name: string) => name.startsWith("events"))).toEqual(["events"]);
    // The ranges oldest first, the first starting at the lowest id, then the default partitions.
    const { ranges } = JSON.parse(runs.at(-1)?.stdout ?? "");
    expect(ranges[0]).toMatchObject({ name: "legacy", from: null });
    expect(ranges.at(-1)).toMatchObject({ name: "default", from: null, to: null });
    expect(ranges.length).toBeGreaterThanOrEqual(3);
  });

  it("reports an error in one line and exits non-zero", async () => {
    const badUrl = await flowstore(["status"], { url: "postgres://nobody@127.0.0.1:1/nothing" });
    expect(badUrl.code).not.toBe(0);
    expect(badUrl.stdout).toBe("");
    expect(badUrl.stderr.trim().split("\n")).toHaveLength(1);
    expect(badUrl.stderr).toMatch(/^flowstore: ConnectionError: /);

    const missing = await flowstore(["executions", "show", "0192f0c4-8a1e-7c3d-9f00-5b6e2d4c1a77"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/^flowstore: NotFoundError: execution .* not found\n$/);

    const unmigrated = await flowstore(["prune", "--older-than", "30d", "--schema", uniqueSchema("bare")]);
    expect(unmigrated.code).not.toBe(0);
    expect(unmigrated.stderr).toMatch(/^flowstore: .*\(is the schema migrated\? run: flowstore migrate\)\n$/);

    const badAge = await flowstore(["prune", "--older-than", "soon"]);
    expect(badAge.code).not.toBe(0);
    expect(badAge.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("prints its version, answers to dashboard as to serve, and gives errors as JSON under --json", async () => {
    const version = await flowstore(["--version"], { url: null });
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
    const help = await flowstore(["dashboard", "--help"], { url: null });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("serve the web dashboard");
    const failed = await flowstore(["--json", "executions", "show", "0192f0c4-8a1e-7c3d-9f00-5b6e2d4c1a77"]);
    expect(failed.code).not.toBe(0);
    expect(JSON.parse(failed.stderr)).toEqual({
      error: {
        name: "NotFoundError",
        code: "NOT_FOUND",
        message: expect.stringMatching(/^execution .* not found$/),
      },
    });
  });

  it("gives usage errors (an unknown option, a missing argument) as JSON under --json, and as text without", async () => {
    const usage = (message: RegExp) => ({
      error: { name: "UsageError", code: "USAGE", message: expect.stringMatching(message) },
    });
    const unknown = await flowstore(["jobs", "stats", "--bogus", "--json"], { url: null });
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stderr)).toEqual(usage(/^unknown option '--bogus'/));
    const missing = await flowstore(["--json", "kv", "get", "settings"], { url: null });
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toEqual(usage(/^missing required argument 'key'$/));
    const unknownCommand = await flowstore(["--json", "frobnicate"], { url: null });
    expect(unknownCommand.code).toBe(1);
    expect(JSON.parse(unknownCommand.stderr)).toEqual(usage(/^unknown command 'frobnicate'/));
    const text = await flowstore(["jobs", "stats", "--bogus"], { url: null });
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/^error: unknown option '--bogus'\n/);
    expect(text.stderr).toContain("Usage: flowstore jobs stats");
  });

  it("reads nothing and creates nothing where there is no embedded store", async () => {
    const dir = path.join(work, "no-store-here");
    const env: NodeJS.ProcessEnv = { ...environment(), FLOWSTORE_DATA_DIR: dir };
    delete env.DATABASE_URL;
    const run = await new Promise<Run>((resolve) =>
      execFile(process.execPath, [...NODE_FLAGS, CLI_MAIN, "status"], { env }, (error, stdout, stderr) =>
        resolve({ code: error ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(
      /^flowstore: NotFoundError: no embedded store in .*no-store-here \(nothing to show, and nothing was created\)/,
    );
    expect(existsSync(dir)).toBe(false);
  });

  it("says to choose another --port when the dashboard's is taken", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const serve = await flowstore(["serve", "--port", String(port)]);
      expect(serve.code).not.toBe(0);
      expect(serve.stderr).toContain(
        `EADDRINUSE (the port is taken: choose another, e.g. --port ${port + 1})`,
      );
    } finally {
      taken.close();
    }
  });

  it("pauses and resumes a queue, which the stats and the paused list show", async () => {
    const store = await openStore({ connection: url, schema, migrate: false });
    try {
      await store.jobs.enqueue({ queue: "cli-paused", name: "x" });
    } finally {
      await store.close();
    }
    const pause = await flowstore(["jobs", "pause", "cli-paused", "--by", "ops"]);
    expect(pause).toEqual({ code: 0, stdout: "paused cli-paused\n", stderr: "" });
    expect((await flowstore(["jobs", "pause", "cli-paused"])).stdout).toBe("cli-paused was paused already\n");
    const paused = JSON.parse((await flowstore(["jobs", "paused", "--json"])).stdout);
    expect(paused).toMatchObject([{ queue: "cli-paused", pausedBy: "ops" }]);
    const stats = JSON.parse((await flowstore(["jobs", "stats", "cli-paused", "--json"])).stdout);
    expect(stats).toMatchObject([{ queue: "cli-paused", ready: 1, paused: true }]);
    expect(JSON.parse((await flowstore(["jobs", "resume", "cli-paused", "--json"])).stdout)).toEqual({
      queue: "cli-paused",
      resumed: true,
    });
    expect((await flowstore(["jobs", "paused"])).stdout).toBe("no queue is paused\n");
  });

  it("lists a debounced job with the enqueues it absorbed", async () => {
    const store = await openStore({ connection: url, schema, migrate: false });
    try {
      for (let n = 0; n < 4; n++) {
        await store.jobs.enqueue({
          queue: "cli-debounced",
          name: "digest",
          debounce: { key: "u", ms: 60_000 },
        });
      }
    } finally {
      await store.close();
    }
    const listed = JSON.parse(
      (await flowstore(["jobs", "list", "--queue", "cli-debounced", "--json"])).stdout,
    );
    expect(listed).toMatchObject([{ name: "digest", absorbed: 3 }]);
    const table = (await flowstore(["jobs", "list", "--queue", "cli-debounced"])).stdout.split("\n");
    const at = (table[0] as string).indexOf("absorbed");
    expect(at).toBeGreaterThan(0);
    expect((table[1] as string).slice(at).trim()).toMatch(/^3\b/);
  });

  it("lists a job that runs after others with how many it still waits for", async () => {
    const store = await openStore({ connection: url, schema, migrate: false });
    try {
      const first = await store.jobs.enqueue({ queue: "cli-deps", name: "first" });
      const second = await store.jobs.enqueue({ queue: "cli-deps", name: "second" });
      await store.jobs.enqueue({ queue: "cli-deps", name: "last", after: [first, second] });
    } finally {
      await store.close();
    }
    const listed = JSON.parse((await flowstore(["jobs", "list", "--queue", "cli-deps", "--json"])).stdout);
    expect(listed).toMatchObject([
      { name: "first", waitingFor: 0 },
      { name: "second", waitingFor: 0 },
      { name: "last", status: "waiting", waitingFor: 2 },
    ]);
    const table = (await flowstore(["jobs", "list", "--queue", "cli-deps"])).stdout.split("\n");
    const at = (table[0] as string).indexOf("waits for");
    expect(at).toBeGreaterThan(0);
    expect((table[3] as string).slice(at).trim()).toMatch(/^2\b/);
    expect((table[1] as string).slice(at).trim()).not.toMatch(/^\d/);
  });

  it("lists, shows, pauses, resumes and deletes schedules, and prints an expression's next ticks", async () => {
    expect((await flowstore(["schedules"])).stdout).toBe("no schedules\n");
    const store = await openStore({ connection: url, schema, migrate: false });
    try {
      await store.schedules.set({
        name: "nightly",
        cron: "30 2 * * *",
        timeZone: "Europe/Berlin",
        queue: "q",
      });
    } finally {
      await store.close();
    }
    const list = await flowstore(["schedules"]);
    expect(list.stdout).toMatch(
      /^name +cron +zone +queue +job +missed +next run +last run\nnightly +30 2 \* \* \* +Europe\/Berlin +q +nightly +skip +\d{4}-/,
    );
    const [shown] = JSON.parse((await flowstore(["schedules", "list", "--json"])).stdout);
    expect(shown).toMatchObject({ name: "nightly", timeZone: "Europe/Berlin", lastRunAt: null });
    expect((await flowstore(["schedules", "get", "nightly"])).stdout).toMatch(
      /^field +value\nname +nightly\n/,
    );
    expect(await flowstore(["schedules", "pause", "nightly"])).toEqual({
      code: 0,
      stdout: "paused nightly\n",
      stderr: "",
    });
    expect((await flowstore(["schedules", "pause", "nightly"])).stdout).toBe("nightly was paused already\n");
    expect((await flowstore(["schedules"])).stdout).toMatch(/ paused +-\n$/);
    expect(JSON.parse((await flowstore(["schedules", "resume", "nightly", "--json"])).stdout)).toEqual({
      name: "nightly",
      resumed: true,
    });
    expect((await flowstore(["schedules", "delete", "nightly"])).stdout).toBe("deleted nightly\n");
    const again = await flowstore(["schedules", "delete", "nightly"]);
    expect(again).toMatchObject({ code: 1, stdout: "nightly is no schedule\n" });
    const missing = await flowstore(["schedules", "get", "nightly"]);
    expect(missing.stderr).toMatch(/^flowstore: NotFoundError: schedule "nightly" not found\n$/);

    const next = await flowstore(
      ["schedules", "next", "30 2 * * *", "--time-zone", "America/New_York", "--count", "2"],
      {
        url: null,
      },
    );
    expect(next.stdout).toMatch(
      /^\d{4}-\d\d-\d\dT(06|07):30:00\.000Z\n\d{4}-\d\d-\d\dT(06|07):30:00\.000Z\n$/,
    );
    const bad = await flowstore(["schedules", "next", "61 * * * *"], { url: null });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^flowstore: ValidationError: cron "61 \* \* \* \*" is not a cron expression/);
  });

  it("sets and gets a kv entry", async () => {
    const set = await flowstore(["kv", "set", "settings", "theme", "dark äö"]);
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toMatch(/version 1/);
    const get = await flowstore(["kv", "get", "settings", "theme"]);
    expect(get).toEqual({ code: 0, stdout: "dark äö", stderr: "" });
    const json = JSON.parse((await flowstore(["kv", "list", "settings", "--json"])).stdout);
    expect(json.items).toMatchObject([{ key: "theme", value: "dark äö", encoding: "utf8", version: 1 }]);
  });

  it("lists executions with their workflow's name, registered or not", async () => {
    const store = await openStore({ connection: url, schema, migrate: false });
    try {
      const { execution } = await store.executions.start({ name: "adhoc-flow" });
      const list = await flowstore(["executions", "list", "--definition", "adhoc-flow"]);
      expect(list).toMatchObject({ code: 0, stderr: "" });
      expect(list.stdout).toContain(execution.id);
      expect(list.stdout).toContain("adhoc-flow");
    } finally {
      await store.close();
    }
  });

  it("puts and gets a file as a blob, byte for byte", async () => {
    const source = path.join(work, "data.bin");
    const content = Buffer.alloc(3 * 1024 * 1024 + 123);
    for (let i = 0; i < content.length; i++) content[i] = (i * 31 + (i >> 10)) & 0xff;
    writeFileSync(source, content);
    const sha = createHash("sha256").update(content).digest("hex");
    const put = await flowstore(["blobs", "put", "files/data.bin", source, "--json"]);
    expect(put.stderr).toBe("");
    expect(JSON.parse(put.stdout)).toMatchObject({
      key: "files/data.bin",
      size: content.length,
      sha256: sha,
    });
    const target = path.join(work, "copy.bin");
    const get = await flowstore(["blobs", "get", "files/data.bin", "-o", target]);
    expect(get).toMatchObject({ code: 0, stderr: "" });
    expect(createHash("sha256").update(readFileSync(target)).digest("hex")).toBe(sha);
    const ls = JSON.parse((await flowstore(["blobs", "ls", "files/", "--json"])).stdout);
    expect(ls.items.map((b: { key: string }) => b.key)).toEqual(["files/data.bin"]);
  });

  it("prune --every keeps pruning, a JSON line per run, until SIGTERM", { timeout: 60_000 }, async () => {
    const store = await openStore({ connection: url, schema, migrate: false });
    const old = (n: number) => finishedExecutions(store, n, 40);
    try {
      await old(3);
      const command = startFlowstore(["prune", "--older-than", "30d", "--every", "1s", "--json"]);
      const runs = () =>
        command
          .stdout()
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line));
      await expect.poll(() => runs().length, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
      expect(runs()[0]).toMatchObject({ executions: 3 });
      await old(2);
      await expect.poll(() => runs().some((run) => run.executions === 2), { timeout: 30_000 }).toBe(true);
      expect(await command.terminate()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("prune --every waits for its next run, however long, until SIGTERM", { timeout: 60_000 }, async () => {
    const command = startFlowstore(["prune", "--older-than", "30d", "--every", "1h"]);
    await expect.poll(command.stdout, { timeout: 30_000 }).toMatch(/pruned what finished before/);
    // Past the pool's 10 s idle timeout, after which only the wait for a signal holds the process.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    expect(command.exitCode()).toBeUndefined();
    expect(await command.terminate()).toBe(0);
  });
});
