/**
 * close() and the life of a process: close() stops what the store started (workers, timer dispatchers,
 * maintenance) before it closes the connection, so a process that closes a store with jobs in flight
 * exits cleanly with every job done or back in the queue; and a store left open does not keep its
 * process alive unless something it runs (a worker) has work to wait for. Real processes, on the real
 * server and on the embedded store in a data directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { fixtureScript } from "../support/fixture-process.js";
import { EMBEDDED_TESTED, fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { until } from "../support/waiting.js";

const FIXTURE = fixtureScript("store-life.ts");
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Child {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

function startChild(connection: string, schema: string, mode: string): Child {
  const child = spawn(process.execPath, [...NODE_FLAGS, FIXTURE, connection, schema, mode], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.push(child);
  if (mode !== "running") child.stdin?.end();
  const lines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => lines.push(line));
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, lines, stderr, exited };
}

/** Where a child's store lives, opened from this process while no child holds it. */
interface Place {
  connection: string;
  schema: string;
  open(): Promise<Store>;
}

async function serverPlace(): Promise<Place> {
  const connection = await fileDatabaseUrl();
  const schema = uniqueSchema("life");
  return { connection, schema, open: () => openStore({ connection, schema, env: {} }) };
}

function embeddedPlace(): Place {
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-life-"));
  dirs.push(dir);
  const schema = "flowstore";
  return { connection: `embedded:${dir}`, schema, open: () => openStore({ dataDir: dir, schema, env: {} }) };
}

/** Creates the runs table and enqueues `count` jobs on queue "q"; returns their ids. */
async function prepare(place: Place, count: number): Promise<string[]> {
  const store = await place.open();
  try {
    await store.query(`create table ${place.schema}.runs (job_id uuid not null)`);
    return await store.jobs.enqueue(Array.from({ length: count }, (_, i) => ({ queue: "q", name: `n${i}` })));
  } finally {
    await store.close();
  }
}

interface Outcome {
  runs: string[];
  /** Jobs still in the table, with their status and lease. */
  left: { id: string; status: string; leased: boolean; attempts: number }[];
}

async function outcome(place: Place): Promise<Outcome> {
  const store = await place.open();
  try {
    const { rows: runs } = await store.query<{ job_id: string }>(`select job_id from ${place.schema}.runs`);
    const { rows: left } = await store.query<Outcome["left"][number]>(
      `select id, status, lease_token is not null as leased, attempts from ${place.schema}.jobs where queue = 'q'`,
    );
    return { runs: runs.map((row) => row.job_id), left };
  } finally {
    await store.close();
  }
}

const PLACES: [string, () => Promise<Place> | Place][] = [
  ["postgres", serverPlace],
  ...(EMBEDDED_TESTED ? [["embedded", embeddedPlace] as [string, () => Place]] : []),
];

describe.each(PLACES)("%s", (_name, makePlace) => {
  describe("close() with a worker running", () => {
    it.each(["close", "close-tx"])(
      "%s: the process exits cleanly, each job done or back in the queue",
      { timeout: 120_000 },
      async (mode) => {
        const place = await makePlace();
        const ids = await prepare(place, 12);
        const child = startChild(place.connection, place.schema, mode);
        const code = await child.exited;
        expect({ code, stderr: child.stderr }).toEqual({ code: 0, stderr: [] });
        expect(child.lines).toEqual(["started", "closed"]);

        const { runs, left } = await outcome(place);
        // The running handlers (two at least) finished and their jobs completed; none ran twice.
        expect(runs.length).toBeGreaterThanOrEqual(2);
        expect(new Set(runs).size).toBe(runs.length);
        const leftIds = left.map((job) => job.id);
        expect(leftIds.filter((id) => runs.includes(id))).toEqual([]);
        // Every other job is back, waiting, leased to no one, with no attempt spent.
        expect([...runs, ...leftIds].sort()).toEqual([...ids].sort());
        expect(left.filter((job) => job.status !== "waiting" || job.leased || job.attempts !== 0)).toEqual(
          [],
        );
      },
    );
  });
});

describe.each(PLACES)("%s", (_name, makePlace) => {
  describe("a store left open", () => {
    it("does not keep its process alive when nothing was started", { timeout: 120_000 }, async () => {
      const place = await makePlace();
      await prepare(place, 0);
      const child = startChild(place.connection, place.schema, "idle");
      expect(await child.exited, child.stderr.join("\n")).toBe(0);
      expect(child.lines).toEqual(["done"]);
    });

    it("does not keep its process alive once its worker stopped", { timeout: 120_000 }, async () => {
      const place = await makePlace();
      const ids = await prepare(place, 5);
      const child = startChild(place.connection, place.schema, "stopped");
      expect(await child.exited, child.stderr.join("\n")).toBe(0);
      expect(child.lines).toEqual(["done"]);
      const { runs, left } = await outcome(place);
      expect(runs.sort()).toEqual([...ids].sort());
      expect(left).toEqual([]);
    });

    it("keeps its process alive while a worker runs, which goes on taking jobs", {
      timeout: 120_000,
    }, async () => {
      const place = await makePlace();
      await prepare(place, 0);
      const child = startChild(place.connection, place.schema, "running");
      try {
        await until(() => child.lines.includes("ready"), 30_000);
        // The child's script has ended: only what the store runs can keep it alive now.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(child.child.exitCode).toBe(null);
        child.child.stdin?.write("enqueue\n");
        await until(() => child.lines.some((line) => line.startsWith("ran ")), 30_000);
        expect(child.child.exitCode).toBe(null);
      } finally {
        child.child.kill("SIGTERM");
        await child.exited;
      }
    });
  });
});
