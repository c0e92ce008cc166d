/**
 * The embedded default: openStore() with no server configured opens PGlite in ./.flowstore, and the
 * data directory belongs to one process at a time, which serves it to the others. These tests start
 * real second processes (each opening PGlite takes seconds, many more on a busy machine).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { ConnectionError, openStore } from "../../src/index.js";
import { embeddedEnv, killAfterFile, tempDir } from "../support/embedded-env.js";
import { fixtureScript } from "../support/fixture-process.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const FIXTURE = fixtureScript("open-embedded.ts");
// By path, since a child started in a temporary directory cannot resolve the package name.
/** A lock file naming a process that has exited, as a crash leaves it. */
async function writeDeadHolderLock(dataDir: string): Promise<void> {
  const gone = spawn(process.execPath, [...NODE_FLAGS, "-e", ""]);
  await new Promise((resolve) => gone.once("exit", resolve));
  writeFileSync(
    path.join(dataDir, "lock"),
    JSON.stringify({ pid: gone.pid, host: hostname(), command: "gone", since: new Date().toISOString() }),
  );
}

interface ChildResult {
  ok: boolean;
  error?: string;
  message?: string;
  marks?: number[];
  ready?: boolean;
}

function startChild(
  args: string[],
  cwd = process.cwd(),
): { child: ChildProcess; firstLine: Promise<ChildResult> } {
  const child = spawn(process.execPath, [...NODE_FLAGS, FIXTURE, ...args], {
    cwd,
    env: embeddedEnv(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  killAfterFile(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const firstLine = new Promise<ChildResult>((resolve, reject) => {
    lines.once("line", (line) => resolve(JSON.parse(line) as ChildResult));
    child.once("exit", (code) => reject(new Error(`child exited with ${code} before answering`)));
  });
  return { child, firstLine };
}

async function runChild(args: string[], cwd?: string): Promise<ChildResult> {
  const { child, firstLine } = startChild(args, cwd);
  const result = await firstLine;
  await new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(null)));
  return result;
}

describe("pglite", () => {
  describe("embedded data directory", () => {
    it("opens ./.flowstore by default when no server is configured", { timeout: 120_000 }, async () => {
      const cwd = tempDir("embedded");
      const result = await runChild(["-", "insert", "7"], cwd);
      expect(result).toEqual({ ok: true, marks: [7] });
      expect(existsSync(path.join(cwd, ".flowstore", "pgdata"))).toBe(true);
      // The lock is released on close.
      expect(existsSync(path.join(cwd, ".flowstore", "lock"))).toBe(false);
    });

    it("lets a second process write through the first while it holds the directory, and keeps the data whole", {
      timeout: 120_000,
    }, async () => {
      const dataDir = tempDir("embedded");
      const store = await openStore({ dataDir, env: embeddedEnv() });
      try {
        await store.query(`create table ${store.schema}.marks (n int)`);
        await store.query(`insert into ${store.schema}.marks values (1)`);
        expect(await runChild([dataDir, "insert", "2"])).toEqual({ ok: true, marks: [1, 2] });
        const { rows } = await store.query<{ n: number }>(`select n from ${store.schema}.marks order by n`);
        expect(rows).toEqual([{ n: 1 }, { n: 2 }]);
      } finally {
        await store.close();
      }
      // Once the holder has closed, the other process opens it itself and sees the data.
      expect(await runChild([dataDir, "insert", "3"])).toEqual({ ok: true, marks: [1, 2, 3] });
    });

    it("refuses a second process while a holder that does not serve the store holds it, saying why, and creates nothing", {
      timeout: 60_000,
    }, async () => {
      const dataDir = tempDir("embedded");
      const holder = spawn(process.execPath, [...NODE_FLAGS, "-e", "setInterval(() => {}, 1000)"]);
      killAfterFile(holder);
      const lock = { pid: holder.pid, host: hostname(), command: "old", since: new Date().toISOString() };
      // A flowstore from before every holder served its store: its lock says nothing of sharing.
      writeFileSync(path.join(dataDir, "lock"), JSON.stringify(lock));
      const old = await openStore({ dataDir, env: embeddedEnv() }).catch((e: unknown) => e);
      expect(old).toBeInstanceOf(ConnectionError);
      expect((old as Error).message).toContain(`in use by process ${holder.pid}`);
      expect((old as Error).message).toContain("does not serve it to other processes");
      // A holder that could not serve it says why, and the second process repeats it.
      const reason = "listen EACCES";
      writeFileSync(
        path.join(dataDir, "lock"),
        JSON.stringify({ ...lock, sharing: "unavailable", unshared: reason }),
      );
      const unshared = await openStore({ dataDir, env: embeddedEnv() }).catch((e: unknown) => e);
      expect(unshared).toBeInstanceOf(ConnectionError);
      expect((unshared as Error).message).toContain(`cannot serve it to other processes (${reason})`);
      expect(existsSync(path.join(dataDir, "pgdata"))).toBe(false);
      holder.kill("SIGKILL");
    });

    it("takes over the lock of a process that was killed, and keeps what it committed", {
      timeout: 120_000,
    }, async () => {
      const dataDir = tempDir("embedded");
      const { child, firstLine } = startChild([dataDir, "hold", "5"]);
      expect(await firstLine).toEqual({ ok: true, ready: true });
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      expect(existsSync(path.join(dataDir, "lock"))).toBe(true);
      const result = await runChild([dataDir, "insert", "6"]);
      expect(result).toEqual({ ok: true, marks: [5, 6] });
    });

    it("treats an unreadable lock file as held, never as dead", async () => {
      const dataDir = tempDir("embedded");
      writeFileSync(path.join(dataDir, "lock"), "");
      const failure = await openStore({ dataDir, env: embeddedEnv() }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ConnectionError);
      expect(String((failure as Error).message)).toMatch(/cannot be read/);
    });

    it("lets exactly one of four racing processes take over a dead holder's lock, and the others write through it", {
      timeout: 180_000,
    }, async () => {
      const dataDir = tempDir("embedded");
      await writeDeadHolderLock(dataDir);
      const racers = Array.from({ length: 4 }, () => startChild([dataDir, "hold", "1"]));
      const results = await Promise.all(
        racers.map((r) => r.firstLine.catch(() => ({ ok: false }) as ChildResult)),
      );
      const holder = JSON.parse(readFileSync(path.join(dataDir, "lock"), "utf8")).pid;
      for (const racer of racers) racer.child.kill("SIGKILL");
      await Promise.all(racers.map((r) => new Promise((resolve) => r.child.once("exit", resolve))));
      expect(results).toEqual(racers.map(() => ({ ok: true, ready: true })));
      expect(racers.map((r) => r.child.pid)).toContain(holder);
      // One database, not four: every racer's row is in it.
      const store = await openStore({ dataDir, env: embeddedEnv() });
      try {
        const { rows } = await store.query<{ n: number }>(
          `select count(*)::int as n from ${store.schema}.marks`,
        );
        expect(rows).toEqual([{ n: 4 }]);
      } finally {
        await store.close();
      }
    });

    it("takes over a lock file naming a process that no longer exists", async () => {
      const dataDir = tempDir("embedded");
      await writeDeadHolderLock(dataDir);
      const store = await openStore({ dataDir, env: embeddedEnv() });
      await store.close();
    });
  });
});
