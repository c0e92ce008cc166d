/**
 * The embedded default: openStore() with no server configured opens PGlite in ./.flowstore, and the
 * data directory belongs to one process at a time. These tests start real second processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionError, openStore } from "../../src/index.js";

const FIXTURE = path.resolve("test/fixtures/open-embedded.ts");
// By path, since a child started in a temporary directory cannot resolve the package name.
const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-embedded-"));
  dirs.push(dir);
  return dir;
}

/** An environment with no server configured, so the embedded store is chosen. */
function embeddedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR"]) delete env[name];
  return env;
}

/** A lock file naming a process that has exited, as a crash leaves it. */
async function writeDeadHolderLock(dataDir: string): Promise<void> {
  const gone = spawn(process.execPath, ["-e", ""]);
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
  const child = spawn(process.execPath, ["--import", TSX, FIXTURE, ...args], {
    cwd,
    env: embeddedEnv(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
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
    it("opens ./.flowstore by default when no server is configured", async () => {
      const cwd = tempDir();
      const result = await runChild(["-", "insert", "7"], cwd);
      expect(result).toEqual({ ok: true, marks: [7] });
      expect(existsSync(path.join(cwd, ".flowstore", "pgdata"))).toBe(true);
      // The lock is released on close.
      expect(existsSync(path.join(cwd, ".flowstore", "lock"))).toBe(false);
    });

    it("refuses a second process while the first holds the directory, and keeps the data intact", async () => {
      const dataDir = tempDir();
      const store = await openStore({ dataDir, env: embeddedEnv() });
      try {
        await store.query(`create table ${store.schema}.marks (n int)`);
        await store.query(`insert into ${store.schema}.marks values (1)`);
        const result = await runChild([dataDir, "insert", "2"]);
        expect(result.ok).toBe(false);
        expect(result.error).toBe("ConnectionError");
        expect(result.message).toContain(`in use by process ${process.pid}`);
        const { rows } = await store.query<{ n: number }>(`select n from ${store.schema}.marks`);
        expect(rows).toEqual([{ n: 1 }]);
      } finally {
        await store.close();
      }
      // Once the holder has closed, the other process may open it and sees the data.
      expect(await runChild([dataDir, "insert", "2"])).toEqual({ ok: true, marks: [1, 2] });
    });

    it("refuses a second open in the same process", async () => {
      const dataDir = tempDir();
      const store = await openStore({ dataDir, env: embeddedEnv() });
      try {
        await expect(openStore({ dataDir, env: embeddedEnv() })).rejects.toBeInstanceOf(ConnectionError);
      } finally {
        await store.close();
      }
    });

    it("takes over the lock of a process that was killed, and keeps what it committed", async () => {
      const dataDir = tempDir();
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
      const dataDir = tempDir();
      writeFileSync(path.join(dataDir, "lock"), "");
      const failure = await openStore({ dataDir, env: embeddedEnv() }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ConnectionError);
      expect(String((failure as Error).message)).toMatch(/cannot be read/);
    });

    it("lets exactly one of four racing processes take over a dead holder's lock", async () => {
      const dataDir = tempDir();
      await writeDeadHolderLock(dataDir);
      const racers = Array.from({ length: 4 }, () => startChild([dataDir, "hold", "1"]));
      const results = await Promise.all(
        racers.map((r) => r.firstLine.catch(() => ({ ok: false }) as ChildResult)),
      );
      for (const racer of racers) racer.child.kill("SIGKILL");
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok).every((r) => r.error === "ConnectionError")).toBe(true);
    });

    it("takes over a lock file naming a process that no longer exists", async () => {
      const dataDir = tempDir();
      await writeDeadHolderLock(dataDir);
      const store = await openStore({ dataDir, env: embeddedEnv() });
      await store.close();
    });
  });
});
