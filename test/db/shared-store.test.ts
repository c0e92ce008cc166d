/**
 * The embedded store belongs to one process; while it holds the directory and serves it on its
 * socket, another process (this test) reaches it through that process instead of opening it again.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { createInterface, type Interface } from "node:readline";
import { describe, expect, it } from "vitest";
import { DEFAULT_CHUNK_SIZE } from "../../src/blobs/postgres.js";
import { openStore } from "../../src/index.js";
import { embeddedEnv, killAfterFile, tempDir } from "../support/embedded-env.js";
import { fixtureScript } from "../support/fixture-process.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const FIXTURE = fixtureScript("hold-shared.ts");
function nextLine(lines: Interface, child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    lines.once("line", (line) => resolve(JSON.parse(line)));
    child.once("exit", (code) => reject(new Error(`holder exited with ${code}`)));
  });
}

/** Rejects if `work` has not settled within `ms`: a hang shows as a failure, not a timeout of the file. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([work, hung]).finally(() => clearTimeout(timer));
}

async function* inPieces(data: Uint8Array, size = 300_007): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

describe("pglite", () => {
  /** The holder process: it opens the store in `dataDir`, shares it, and writes all along. */
  function startHolder(dataDir: string) {
    const holder = spawn(process.execPath, [...NODE_FLAGS, FIXTURE, dataDir], {
      env: embeddedEnv(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    killAfterFile(holder);
    return { holder, lines: createInterface({ input: holder.stdout as NodeJS.ReadableStream }) };
  }

  it("a second process reaches a held embedded store through the holder's socket", {
    timeout: 60_000,
  }, async () => {
    const dataDir = tempDir("shared");
    const { holder, lines } = startHolder(dataDir);
    const ready = await nextLine(lines, holder);
    expect(ready).toMatchObject({ ready: true, pid: holder.pid });
    const lock = JSON.parse(readFileSync(path.join(dataDir, "lock"), "utf8"));
    expect(lock.pid).toBe(holder.pid);
    expect(lock.socket).toEqual(ready.address);

    const store = await openStore({ dataDir, env: embeddedEnv() });
    try {
      expect(store.describe()).toContain(`through process ${holder.pid}`);
      const s = store.schema;
      await store.query(`create table ${s}.remote_rows (n int primary key)`);
      // Transactions of this process and the holder's own (running all along) never mix.
      for (let i = 0; i < 40; i++) {
        await store.transaction(async (tx) => {
          await tx.query(`insert into ${s}.remote_rows values ($1)`, [i]);
          await tx.query("select pg_sleep(0.001)");
        });
      }
      await expect(
        store.transaction(async (tx) => {
          await tx.query(`insert into ${s}.remote_rows values (1000)`);
          throw new Error("roll this back");
        }),
      ).rejects.toThrow("roll this back");
      const { rows } = await store.query<{ n: number }>(`select count(*)::int as n from ${s}.remote_rows`);
      expect(rows[0]?.n).toBe(40);
      const { rows: held } = await store.query<{ n: number; torn: number }>(
        `select count(*)::int as n, count(*) filter (where twice <> n * 2)::int as torn from ${s}.holder_rows`,
      );
      expect(held[0]?.n).toBeGreaterThan(0);
      expect(held[0]?.torn).toBe(0);
    } finally {
      await store.close();
    }

    holder.kill("SIGTERM");
    const done = await nextLine(lines, holder);
    expect(done.written).toBeGreaterThan(0);
    await new Promise((resolve) => (holder.exitCode === null ? holder.once("exit", resolve) : resolve(null)));
    // The holder withdrew its socket and released the directory: now it opens directly, data intact.
    expect(existsSync(path.join(dataDir, "lock"))).toBe(false);
    const direct = await openStore({ dataDir, env: embeddedEnv() });
    try {
      expect(direct.describe()).not.toContain("through process");
      const { rows } = await direct.query<{ n: number }>(
        `select count(*)::int as n from ${direct.schema}.holder_rows`,
      );
      expect(rows[0]?.n).toBe(done.written);
    } finally {
      await direct.close();
    }
  });

  it("through the holder's socket, copies a blob from its own stream and puts two in parallel in one transaction", {
    timeout: 90_000,
  }, async () => {
    const dataDir = tempDir("shared");
    const { holder, lines } = startHolder(dataDir);
    await nextLine(lines, holder);
    const store = await openStore({ dataDir, env: embeddedEnv() });
    try {
      expect(store.describe()).toContain(`through process ${holder.pid}`);
      // Several chunks, so the copy's reads and writes take turns on the one connection.
      const data = randomBytes(3 * DEFAULT_CHUNK_SIZE + 5);
      await within(20_000, store.blobs.put("original", data));
      await within(20_000, store.blobs.put("copy", await store.blobs.stream("original")));
      expect((await within(20_000, store.blobs.get("copy"))).equals(data)).toBe(true);
      await within(
        20_000,
        store.transaction(async (tx) => {
          await tx.blobs.put("copy-in-tx", await tx.blobs.stream("original"));
        }),
      );
      expect((await within(20_000, store.blobs.get("copy-in-tx"))).equals(data)).toBe(true);

      const a = randomBytes(10);
      const b = randomBytes(2 * DEFAULT_CHUNK_SIZE + 1);
      await within(
        20_000,
        store.transaction(async (tx) => {
          await Promise.all([tx.blobs.put("a", inPieces(a)), tx.blobs.put("b", inPieces(b))]);
        }),
      );
      expect((await within(20_000, store.blobs.get("a"))).equals(a)).toBe(true);
      expect((await within(20_000, store.blobs.get("b"))).equals(b)).toBe(true);
    } finally {
      await store.close();
    }
    holder.kill("SIGTERM");
    await nextLine(lines, holder);
    await new Promise((resolve) => (holder.exitCode === null ? holder.once("exit", resolve) : resolve(null)));
  });

  it("with a data directory too deep for a socket path, shares through a private directory, never TCP", {
    timeout: 60_000,
  }, async () => {
    const base = tempDir("shared");
    const dataDir = path.join(base, "a-rather-long-directory-name-".repeat(4), "store");
    const { holder, lines } = startHolder(dataDir);
    const ready = await nextLine(lines, holder);
    const socket = JSON.parse(readFileSync(path.join(dataDir, "lock"), "utf8")).socket;
    expect(socket.host).not.toBe("127.0.0.1");
    expect(socket.path.startsWith(dataDir)).toBe(false);
    expect(statSync(socket.host).mode & 0o077).toBe(0);
    expect(ready.address).toEqual(socket);
    const store = await openStore({ dataDir, env: embeddedEnv() });
    try {
      const { rows } = await store.query<{ one: number }>("select 1 as one");
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await store.close();
    }
    holder.kill("SIGTERM");
    await nextLine(lines, holder);
    await new Promise((resolve) => (holder.exitCode === null ? holder.once("exit", resolve) : resolve(null)));
    expect(existsSync(socket.host)).toBe(false);
  });
});
