/**
 * Any process that holds the embedded store serves it to the others, with nothing started by hand: while
 * an application's worker runs, another process's openStore() and the flowstore command work through
 * it, a second openStore() in the same process shares the database, and when the holder exits a
 * process connected through it takes the store over. Every second process here is a real one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { openStore, ReadOnlyError, type Store } from "../../src/index.js";
import { runCli } from "../support/cli-run.js";
import { embeddedEnv, killAfterFile, tempDir } from "../support/embedded-env.js";
import { fixtureScript } from "../support/fixture-process.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { until } from "../support/waiting.js";

const WORKER = fixtureScript("embedded-worker.ts");
const OPENER = fixtureScript("open-embedded.ts");
/** A child process, and every JSON line it printed so far. */
function spawnJson(file: string, args: string[]): { child: ChildProcess; lines: Record<string, unknown>[] } {
  const child = spawn(process.execPath, [...NODE_FLAGS, file, ...args], {
    env: embeddedEnv(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  killAfterFile(child);
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) =>
    lines.push(JSON.parse(line)),
  );
  return { child, lines };
}

async function startWorker(dataDir: string, pollIntervalMs = 200) {
  const worker = spawnJson(WORKER, [dataDir, String(pollIntervalMs)]);
  await until(() => worker.lines.length > 0 || worker.child.exitCode !== null, 60_000);
  const ready = worker.lines[0] as { pid: number; executionId: string };
  expect(ready.pid).toBe(worker.child.pid);
  return { ...worker, executionId: ready.executionId };
}

/** A worker holding a new store, and a store of this process on it, which goes through the worker. */
async function besideWorker() {
  const dataDir = tempDir("sharing");
  const worker = await startWorker(dataDir);
  const store = await openStore({ dataDir, env: embeddedEnv() });
  expect(store.describe()).toContain(`through process ${worker.child.pid}`);
  return { dataDir, worker, store };
}

function exited(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(null)));
}

/** What another process's openStore on `dataDir` printed after it inserted `n` into its marks. */
async function insertElsewhere(dataDir: string, n: number): Promise<Record<string, unknown>[]> {
  const other = spawnJson(OPENER, [dataDir, "insert", String(n)]);
  await exited(other.child);
  return other.lines;
}

/** Asks the worker to stop (it closes its store) and waits for it to exit. */
async function stop(child: ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await exited(child);
}

async function text(store: Store, prefix: string, key: string): Promise<string | undefined> {
  const entry = await store.kv.get(prefix, key);
  return entry && Buffer.from(entry.value).toString();
}

function lockOf(dataDir: string): { pid: number; socket?: { path: string } } {
  return JSON.parse(readFileSync(path.join(dataDir, "lock"), "utf8"));
}

describe("pglite", () => {
  it("while an application's worker holds the store, another process's openStore delivers a signal, appends an event and enqueues a job the worker runs", {
    timeout: 120_000,
  }, async () => {
    const { dataDir, worker, store } = await besideWorker();
    try {
      const delivered = await store.signals.deliver("approval", { ok: true });
      expect(delivered.event.executionId).toBe(worker.executionId);
      await store.events.append(worker.executionId, { type: "note", payload: { from: process.pid } });
      await store.jobs.enqueue({ queue: "q", name: "n", payload: { n: 1 } });
      await until(() => worker.lines.some((line) => line.ran === 1), 30_000);
      const { rows } = await store.query<{ n: number; pid: number }>(
        `select n, pid from ${store.schema}.worked`,
      );
      expect(rows).toEqual([{ n: 1, pid: worker.child.pid }]);
      const events = await store.events.list(worker.executionId);
      expect(events.items.map((e) => e.type)).toEqual(["signal", "note"]);
    } finally {
      await store.close();
    }
    // The holder keeps the directory; this process never opened it.
    expect(lockOf(dataDir).pid).toBe(worker.child.pid);
    await stop(worker.child);
  });

  it("while the worker holds the store, flowstore status and jobs list answer through it, and a read-only store reads but writes nothing", {
    timeout: 120_000,
  }, async () => {
    const dataDir = tempDir("sharing");
    const worker = await startWorker(dataDir);
    const cli = { cwd: dataDir, env: { ...embeddedEnv(), FLOWSTORE_DATA_DIR: dataDir } };
    const status = await runCli(["status", "--json"], cli);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ pendingMigrations: 0 });
    expect(JSON.parse(status.stdout).connection).toContain(`through process ${worker.child.pid}`);
    const writer = await openStore({ dataDir, env: embeddedEnv() });
    try {
      await writer.jobs.enqueue({ queue: "later", name: "n", payload: { n: 2 }, delayMs: 3_600_000 });
    } finally {
      await writer.close();
    }
    const list = await runCli(["jobs", "list", "--queue", "later", "--json"], cli);
    expect(list).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(list.stdout).map((j: { payload: unknown }) => j.payload)).toEqual([{ n: 2 }]);
    expect(await runCli(["kv", "set", "settings", "theme", "dark"], cli)).toMatchObject({
      code: 0,
      stderr: "",
    });

    const reader = await openStore({ dataDir, env: embeddedEnv(), readOnly: true });
    try {
      expect(reader.describe()).toContain(`through process ${worker.child.pid}`);
      expect(await reader.jobs.list({ queue: "later" })).toHaveLength(1);
      await expect(reader.kv.set("settings", "theme", "light")).rejects.toBeInstanceOf(ReadOnlyError);
      expect(await text(reader, "settings", "theme")).toBe("dark");
    } finally {
      await reader.close();
    }
    await stop(worker.child);
  });
  it("a signal, an event and a job from another process wake the holder's waiting run and worker at once, not at their next look", {
    timeout: 120_000,
  }, async () => {
    const dataDir = tempDir("sharing");
    // They look again only after ten minutes: anything sooner was a notification.
    const worker = await startWorker(dataDir, 600_000);
    const store = await openStore({ dataDir, env: embeddedEnv() });
    try {
      expect(store.describe()).toContain(`through process ${worker.child.pid}`);
      await store.signals.deliver("approval", { ok: true });
      await until(() => worker.lines.some((line) => line.received === "signal"), 60_000);
      await store.events.append(worker.executionId, { type: "note" }, { notify: true });
      await until(() => worker.lines.some((line) => line.received === "note"), 60_000);
      await store.jobs.enqueue({ queue: "q", name: "n", payload: { n: 5 } });
      await until(() => worker.lines.some((line) => line.ran === 5), 60_000);
    } finally {
      await store.close();
    }
    await stop(worker.child);
  });

  it("a second openStore on the same directory in the same process shares the database, and each closes on its own", {
    timeout: 60_000,
  }, async () => {
    const dataDir = tempDir("sharing");
    const first = await openStore({ dataDir, env: embeddedEnv() });
    const second = await openStore({ dataDir, env: embeddedEnv() });
    try {
      await second.kv.set("shared", "k", "from the second");
      expect(await text(first, "shared", "k")).toBe("from the second");
      await first.close();
      // The first is closed; the second, and the directory's lock, carry on.
      expect(lockOf(dataDir).pid).toBe(process.pid);
      await second.kv.set("shared", "k", "after the first closed");
      // Another process still reaches the store through this one.
      expect(await insertElsewhere(dataDir, 3)).toEqual([{ ok: true, marks: [3] }]);
    } finally {
      await first.close();
      await second.close();
    }
    // Both closed: the directory is free, and what both wrote is there.
    const again = await openStore({ dataDir, env: embeddedEnv() });
    try {
      expect(await text(again, "shared", "k")).toBe("after the first closed");
    } finally {
      await again.close();
    }
  });

  for (const how of ["SIGTERM", "SIGKILL"] as const) {
    it(`when the holder ends (${how}), a process connected through it takes the store over, and others reach it there`, {
      timeout: 120_000,
    }, async () => {
      const { dataDir, worker, store } = await besideWorker();
      try {
        await store.jobs.enqueue({ queue: "q", name: "n", payload: { n: 1 } });
        await until(() => worker.lines.some((line) => line.ran === 1), 30_000);
        worker.child.kill(how);
        await exited(worker.child);
        // The next call finds the holder gone and opens the directory itself: nothing is lost.
        const { rows } = await store.query<{ n: number }>(`select n from ${store.schema}.worked`);
        expect(rows).toEqual([{ n: 1 }]);
        expect(store.describe()).not.toContain("through process");
        expect(lockOf(dataDir).pid).toBe(process.pid);
        await store.kv.set("after", "takeover", "yes");
        // This process now serves it: a third process goes through it.
        expect(await insertElsewhere(dataDir, 4)).toEqual([{ ok: true, marks: [4] }]);
      } finally {
        await store.close();
      }
    });
  }

  it("when the holder closes while another process keeps writing through it, no call of that process fails or is lost", {
    timeout: 120_000,
  }, async () => {
    const { dataDir, worker, store } = await besideWorker();
    try {
      let written = 0;
      let afterExit = 0;
      let holderGone = false;
      const exit = exited(worker.child).then(() => {
        holderGone = true;
      });
      const writing = (async () => {
        // Until well after the holder is gone: calls were under way as it closed, and after.
        while (afterExit < 20) {
          await store.kv.set("writes", String(written), "x");
          written++;
          if (holderGone) afterExit++;
          // Once this process has taken the store over, each call settles in microtasks alone (PGlite
          // runs in this thread): without a turn of the event loop the holder's exit is never seen,
          // and the loop never ends.
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await until(() => written >= 20, 60_000);
      worker.child.kill("SIGTERM");
      await exit;
      await writing;
      expect(lockOf(dataDir).pid).toBe(process.pid);
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.kv where prefix = 'writes'`,
      );
      expect(rows).toEqual([{ n: written }]);
    } finally {
      await store.close();
    }
  });

  it("refuses LISTEN through the holder's socket, saying why, and the connection goes on", {
    timeout: 60_000,
  }, async () => {
    const { worker, store } = await besideWorker();
    try {
      const refused = await store.query("listen somewhere").catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Error);
      expect(String((refused as Error).message)).toMatch(/LISTEN/);
      expect(String((refused as Error).message)).toContain(`process ${worker.child.pid}`);
      // The same through the extended protocol (a Parse), inside a transaction, which goes on.
      await store.transaction(async (tx) => {
        await expect(tx.transaction((inner) => inner.query("UNLISTEN *", []))).rejects.toThrow(/UNLISTEN/);
        await tx.query(`create table ${store.schema}.after_listen (n int)`);
      });
      await store.query(`select * from ${store.schema}.after_listen`);
      const { rows } = await store.query<{ one: number }>("select 1 as one");
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await store.close();
    }
    await stop(worker.child);
  });
});
