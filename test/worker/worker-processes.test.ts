/**
 * Workers as real processes on the real server: scale-out, a SIGKILLed worker, a restarted server.
 * PGlite is single-process by design, so these run on PostgreSQL only.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { fixtureScript } from "../support/fixture-process.js";
import { fileDatabaseUrl, startOwnPostgres, uniqueSchema } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const FIXTURE = fixtureScript("worker.ts");
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

interface WorkerProcess {
  child: ChildProcess;
  lines: string[];
  waitFor(predicate: (lines: string[]) => boolean): Promise<void>;
  exited: Promise<number | null>;
}

function startWorkerProcess(args: string[]): WorkerProcess {
  const child = spawn(process.execPath, [...NODE_FLAGS, FIXTURE, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return {
    child,
    lines,
    exited,
    async waitFor(predicate) {
      while (!predicate(lines)) {
        if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
  };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function scalar(store: Store, sql: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(sql);
  return rows[0]?.n ?? -1;
}

async function enqueueMany(store: Store, total: number): Promise<void> {
  for (let start = 0; start < total; start += 5_000) {
    const size = Math.min(5_000, total - start);
    await store.jobs.enqueue(
      Array.from({ length: size }, (_, i) => ({ queue: "q", name: "n", payload: { i: start + i } })),
    );
  }
}

describe("postgres", () => {
  describe("worker processes", () => {
    it("four worker processes drain 20,000 jobs, each run exactly once", { timeout: 120_000 }, async () => {
      const url = await fileDatabaseUrl();
      const schema = uniqueSchema("drain");
      const store = await openStore({ connection: url, schema });
      try {
        await store.query(`create table ${schema}.runs (job_id uuid not null, pid int not null)`);
        await enqueueMany(store, 20_000);
        const workers = Array.from({ length: 4 }, () => startWorkerProcess([url, schema, "count", "8"]));
        await Promise.all(workers.map((w) => w.waitFor((lines) => lines.includes("ready"))));
        await until(
          async () => (await scalar(store, `select count(*)::int as n from ${schema}.jobs`)) === 0,
          90_000,
        );
        for (const w of workers) w.child.kill("SIGTERM");
        expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0, 0]);
        const { rows } = await store.query<{ total: number; distinct_jobs: number; pids: number }>(
          `select count(*)::int as total, count(distinct job_id)::int as distinct_jobs, count(distinct pid)::int as pids
             from ${schema}.runs`,
        );
        expect(rows[0]?.total).toBe(20_000);
        expect(rows[0]?.distinct_jobs).toBe(20_000);
        expect(rows[0]?.pids).toBeGreaterThanOrEqual(2);
      } finally {
        await store.close();
      }
    });

    it("a SIGKILLed worker's prefetched jobs run elsewhere soon, their attempts unburned", {
      timeout: 60_000,
    }, async () => {
      const url = await fileDatabaseUrl();
      const schema = uniqueSchema("prefetch");
      const store = await openStore({ connection: url, schema });
      try {
        await store.query(`create table ${schema}.runs (job_id uuid not null, pid int not null)`);
        await store.jobs.enqueue(
          Array.from({ length: 20 }, () => ({ queue: "q", name: "n", maxAttempts: 1 })),
        );
        // Concurrency 2: two jobs start and stall, more wait in the worker's buffer. Its lease is 30 s.
        const doomed = startWorkerProcess([url, schema, "stall", "2", "30000"]);
        await doomed.waitFor((lines) => lines.filter((l) => l.startsWith("started")).length === 2);
        const started = doomed.lines
          .filter((l) => l.startsWith("started"))
          .map((l) => l.slice("started ".length));
        const held = await scalar(
          store,
          `select count(*)::int as n from ${schema}.jobs where status = 'running'`,
        );
        expect(held).toBeGreaterThan(2); // it had prefetched jobs that never started
        doomed.child.kill("SIGKILL");
        await doomed.exited;
        const killedAt = Date.now();
        const ran: string[] = [];
        const worker = store.jobs.work({
          queue: "q",
          pollIntervalMs: 100,
          handler: (job) => {
            ran.push(job.id);
          },
        });
        // Every job that never started runs, and well before the killed worker's 30 s lease would end.
        await until(async () => ran.length === 18, 20_000);
        expect(Date.now() - killedAt).toBeLessThan(20_000);
        await worker.stop();
        expect(ran.filter((id) => started.includes(id))).toEqual([]);
        // Only the two that did start may have spent their one attempt.
        const { rows: dead } = await store.query<{ id: string }>(
          `select id from ${schema}.jobs where status = 'dead'`,
        );
        expect(dead.map((row) => row.id).filter((id) => !started.includes(id))).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it("a SIGKILLed worker's jobs are finished by another, none lost, none done twice", {
      timeout: 60_000,
    }, async () => {
      const url = await fileDatabaseUrl();
      const schema = uniqueSchema("kill");
      const store = await openStore({ connection: url, schema });
      try {
        await store.query(`create table ${schema}.effects (job_id uuid not null, pid int not null)`);
        await enqueueMany(store, 40);
        const doomed = startWorkerProcess([url, schema, "hang", "4", "1500"]);
        await doomed.waitFor((lines) => lines.filter((l) => l.startsWith("started")).length === 4);
        const hung = doomed.lines
          .filter((l) => l.startsWith("started"))
          .map((l) => l.slice("started ".length));
        doomed.child.kill("SIGKILL");
        await doomed.exited;
        // The killed worker's transactions died with it; the jobs it ran (and those it had prefetched)
        // are still leased to it.
        expect(await scalar(store, `select count(*)::int as n from ${schema}.effects`)).toBe(0);
        const { rows: leased } = await store.query<{ id: string; lease_owner: string }>(
          `select id, lease_owner from ${schema}.jobs where status = 'running'`,
        );
        expect(leased.map((r) => r.id)).toEqual(expect.arrayContaining(hung));
        expect(new Set(leased.map((r) => r.lease_owner)).size).toBe(1);

        const rescuer = startWorkerProcess([url, schema, "effects", "4", "30000"]);
        await until(
          async () => (await scalar(store, `select count(*)::int as n from ${schema}.jobs`)) === 0,
          30_000,
        );
        rescuer.child.kill("SIGTERM");
        await rescuer.exited;
        const { rows } = await store.query<{ total: number; distinct_jobs: number }>(
          `select count(*)::int as total, count(distinct job_id)::int as distinct_jobs from ${schema}.effects`,
        );
        expect(rows[0]).toEqual({ total: 40, distinct_jobs: 40 });
        const { rows: byRescuer } = await store.query<{ n: number }>(
          `select count(*)::int as n from ${schema}.effects where job_id = any($1::uuid[]) and pid = $2`,
          [hung, rescuer.child.pid],
        );
        expect(byRescuer[0]?.n).toBe(4);
      } finally {
        await store.close();
      }
    });

    it("workers ride out a PostgreSQL restart and finish every job exactly once", {
      timeout: 90_000,
    }, async () => {
      const server = await startOwnPostgres();
      const url = await server.createDatabase();
      const store = await openStore({ connection: url, pool: { connectionTimeoutMs: 1_000 } });
      try {
        await store.query(`create table ${store.schema}.effects (job_id uuid not null)`);
        await enqueueMany(store, 2_000);
        const worker = store.jobs.work({
          queue: "q",
          concurrency: 4,
          leaseMs: 2_000,
          pollIntervalMs: 100,
          transactional: true,
          onError: () => {},
          handler: async (job, { tx }) => {
            await tx?.query(`insert into ${store.schema}.effects values ($1)`, [job.id]);
            await new Promise((resolve) => setTimeout(resolve, 1));
          },
        });
        const effects = () => scalar(store, `select count(*)::int as n from ${store.schema}.effects`);
        await until(async () => (await effects()) >= 300, 30_000);
        await server.restart();
        await until(
          async () =>
            (await scalar(store, `select count(*)::int as n from ${store.schema}.jobs`).catch(() => -1)) ===
            0,
          60_000,
        );
        await worker.stop();
        const { rows } = await store.query<{ total: number; distinct_jobs: number }>(
          `select count(*)::int as total, count(distinct job_id)::int as distinct_jobs from ${store.schema}.effects`,
        );
        expect(rows[0]).toEqual({ total: 2_000, distinct_jobs: 2_000 });
      } finally {
        await store.close();
        await server.stop();
      }
    });
  });
});
