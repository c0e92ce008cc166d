/**
 * Several processes dispatching the same schedules at once, on the real server: each tick is enqueued
 * exactly once. PGlite is single-process by design, so this runs on PostgreSQL only.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { fixtureScript } from "../support/fixture-process.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { until } from "../support/waiting.js";

const FIXTURE = fixtureScript("schedule-dispatcher.ts");
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

/** A dispatcher process; resolves its lines as they come. */
function startDispatcher(url: string, schema: string) {
  const child = spawn(process.execPath, [...NODE_FLAGS, FIXTURE, url, schema], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, lines, exited };
}

const SCHEDULES = 12;
const PROCESSES = 4;

describe("postgres", () => {
  it(`${PROCESSES} processes dispatching ${SCHEDULES} schedules enqueue each tick exactly once`, {
    timeout: 120_000,
  }, async () => {
    const url = await fileDatabaseUrl();
    const schema = uniqueSchema("cron");
    const store = await openStore({ connection: url, schema });
    try {
      // Every second, back-filled: each process finds ticks to enqueue on every pass, for as long as
      // it runs, on the same rows as the others.
      for (let i = 0; i < SCHEDULES; i++) {
        await store.schedules.set({
          name: `s${i}`,
          cron: "* * * * * *",
          queue: "cron",
          missed: i % 2 === 0 ? "backfill" : "skip",
          backfillLimit: 1000,
        });
      }
      // Not due until the processes all run.
      await store.query(`update ${schema}.schedules set next_run_at = now() + interval '1 day'`);
      const processes = Array.from({ length: PROCESSES }, () => startDispatcher(url, schema));
      await until(() => processes.every((p) => p.lines.includes("ready")), 60_000);
      // All due at once, 300 ticks back: the back-filled ones owe 300 jobs each.
      const { rows } = await store.query<{ since: Date }>(
        `update ${schema}.schedules set next_run_at = date_trunc('second', now()) - interval '300 seconds'
           returning next_run_at as since`,
      );
      const since = (rows[0] as { since: Date }).since;
      // Let them run on past the catch-up, over a few more ticks each.
      await until(async () => {
        const { rows: behind } = await store.query<{ n: number }>(
          `select count(*)::int as n from ${schema}.schedules where last_run_at is null or last_run_at < $1`,
          [new Date(since.getTime() + 303_000)],
        );
        return behind[0]?.n === 0;
      }, 60_000);
      for (const p of processes) p.child.kill("SIGTERM");
      expect(await Promise.all(processes.map((p) => p.exited))).toEqual(processes.map(() => 0));

      const { rows: jobs } = await store.query<{ key: string; name: string; run_at: Date }>(
        `select key, payload->'_schedule'->>'name' as name, run_at from ${schema}.jobs`,
      );
      const keys = jobs.map((j) => j.key);
      expect(new Set(keys).size).toBe(keys.length);
      for (const schedule of await store.schedules.list()) {
        const ticks = jobs
          .filter((j) => j.name === schedule.name)
          .map((j) => j.run_at.getTime())
          .sort((a, b) => a - b);
        const last = (schedule.lastRunAt as Date).getTime();
        expect(ticks.at(-1)).toBe(last);
        if (schedule.missed === "backfill") {
          // Every second from the first tick owed to the last enqueued, each once.
          const every = Array.from(
            { length: (last - since.getTime()) / 1000 + 1 },
            (_, s) => since.getTime() + s * 1000,
          );
          expect(ticks).toEqual(every);
        } else {
          // The gap gave one job (its latest tick); each pass after it, its own ticks, once each.
          expect(new Set(ticks).size).toBe(ticks.length);
          // (A pass that began as the gap was made reads the clock from its start: a second early.)
          expect(ticks[0]).toBeGreaterThanOrEqual(since.getTime() + 299_000);
        }
      }
      // The ticks each process's passes enqueued add up to the jobs there are: no tick was enqueued
      // twice (a second enqueue of a key whose job waits would return that job, and count here).
      const counted = processes.map((p) =>
        Number(p.lines.find((l) => l.startsWith("dispatched "))?.slice(11)),
      );
      expect(counted.reduce((a, b) => a + b, 0)).toBe(jobs.length);
      expect((await store.jobs.totals("cron"))[0]?.enqueued).toBe(jobs.length);
    } finally {
      await store.close();
    }
  });
});
