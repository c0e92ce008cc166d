/**
 * A database outage: the real server stopped for a few seconds while a worker, a timer dispatcher and a
 * LISTEN subscription run (or two schedule dispatchers), then started again on the same data and port.
 * What each logs meanwhile backs off (the first warning at once, then fewer and fewer, where every poll
 * would fail), and each carries on once the server is back; the schedules' ticks that came due meanwhile
 * are enqueued as their `missed` says, each once. PGlite runs in the process: it has no outage.
 */
import { type ChildProcess, fork } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Logger, openStore, type ScheduleTick } from "../../src/index.js";
import { prepareServerPlace } from "../../src/testing/postgres-place.js";
import { until } from "../support/waiting.js";

const FIXTURE = path.resolve("test/fixtures/pausable-postgres.mjs");
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.connected) child.disconnect();
});

interface PausablePostgres {
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
  end(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** A server of this file's own, which `down()` stops and `up()` starts again. */
async function startPausablePostgres(): Promise<PausablePostgres> {
  const place = prepareServerPlace();
  const port = await freePort();
  const password = "outage-test";
  const settings = {
    databaseDir: place.databaseDir,
    port,
    user: "postgres",
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--no-sync"],
    postgresFlags: ["-c", "fsync=off", "-c", "synchronous_commit=off"],
  };
  const child = fork(FIXTURE, [JSON.stringify(settings), ...(place.module ? [place.module] : [])], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    env: { ...process.env, TMPDIR: place.tmpdir },
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once("message", (message: { ready?: boolean; error?: string }) =>
      message.ready ? resolve() : reject(new Error(message.error)),
    );
    child.once("exit", (code) => reject(new Error(`the server process exited with code ${code}`)));
  });
  let nextId = 0;
  const request = (cmd: "down" | "up" | "end") =>
    new Promise<void>((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (message: { id?: number; error?: string }) => {
        if (message.id !== id) return;
        child.off("message", onMessage);
        if (message.error) reject(new Error(message.error));
        else resolve();
      };
      child.on("message", onMessage);
      child.send({ cmd, id });
    });
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres?sslmode=disable`,
    down: () => request("down"),
    up: () => request("up"),
    async end() {
      await request("end").catch(() => {});
      rmSync(place.root, { recursive: true, force: true });
    },
  };
}

interface Entry {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  at: number;
}

function recordingLogger(): Logger & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: Entry["level"]) => (_entry: Record<string, unknown>, message?: string) =>
    entries.push({ level, message: message ?? "", at: Date.now() });
  return { entries, debug() {}, info: at("info"), warn: at("warn"), error: at("error") };
}

const OUTAGE_MS = 6_000;

describe("postgres", () => {
  describe("an outage", () => {
    it("is logged with backoff by workers, dispatchers and the listener, who carry on after it", {
      timeout: 120_000,
    }, async () => {
      const server = await startPausablePostgres();
      const logger = recordingLogger();
      const store = await openStore({
        connection: server.url,
        schema: "outage",
        env: {},
        logger,
        pool: { connectionTimeoutMs: 1_000 },
      });
      try {
        const ran: string[] = [];
        const worker = store.jobs.work({
          queue: "q",
          pollIntervalMs: 50,
          handler: (job) => {
            ran.push(job.id);
          },
        });
        const dispatcher = store.timers.startDispatcher({ pollIntervalMs: 50 });
        const heard: string[] = [];
        await store.driver.listen("outage_test", (payload) => heard.push(payload));
        const first = await store.jobs.enqueue({ queue: "q", name: "before" });
        await until(() => ran.includes(first));

        logger.entries.length = 0;
        const downAt = Date.now();
        await server.down();
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        const during = logger.entries.splice(0);
        await server.up();

        const warnings = (source: (message: string) => boolean, from = 0, to = OUTAGE_MS) =>
          during.filter(
            (entry) =>
              entry.level === "warn" &&
              source(entry.message) &&
              entry.at - downAt >= from &&
              entry.at - downAt < to,
          ).length;
        const bySource = {
          worker: (message: string) => message.startsWith("flowstore worker"),
          timers: (message: string) => message.startsWith("flowstore timers"),
          listener: (message: string) => message.startsWith("flowstore: LISTEN"),
        };
        // Polling every 50 ms, the worker and the dispatcher failed about 120 times each. They report
        // the first failure at once and then fewer and fewer: more in the first two seconds than in the
        // four after, and a handful in all.
        for (const source of [bySource.worker, bySource.timers]) {
          const early = warnings(source, 0, 2_000);
          const late = warnings(source, 2_000);
          expect(early).toBeGreaterThanOrEqual(1);
          expect(late).toBeLessThan(early);
          expect(early + late).toBeLessThanOrEqual(5);
        }
        // The LISTEN connection: one warning as it is lost; its retries back off without a word.
        expect(warnings(bySource.listener)).toBeGreaterThanOrEqual(1);
        expect(warnings(bySource.listener)).toBeLessThanOrEqual(2);

        // Back: the worker takes jobs, the dispatcher moves due timers, the listener hears again.
        const after = await (async () => {
          for (;;) {
            try {
              return await store.jobs.enqueue({ queue: "q", name: "after" });
            } catch {
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
          }
        })();
        await until(() => ran.includes(after), 30_000);
        const timer = await store.timers.schedule({ name: "t", fireAt: new Date(), queue: "q" });
        await until(() => ran.includes(timer.id), 30_000);
        await until(async () => {
          await store.query("select pg_notify('outage_test', 'back')");
          return heard.includes("back");
        }, 30_000);
        const infos = logger.entries.filter((entry) => entry.level === "info").map((entry) => entry.message);
        expect(infos).toEqual(
          expect.arrayContaining([
            "flowstore worker: the database is reachable again",
            "flowstore timers: the database is reachable again",
            "flowstore: LISTEN connection restored",
          ]),
        );
        await worker.stop();
        await dispatcher.stop();
      } finally {
        await store.close();
        await server.end();
      }
    });

    it("lets schedule dispatchers enqueue each tick once after it, those due during it included, logging with backoff", {
      timeout: 120_000,
    }, async () => {
      const server = await startPausablePostgres();
      const logger = recordingLogger();
      // Two stores, each with its dispatcher, as two processes would have.
      const open = () =>
        openStore({
          connection: server.url,
          schema: "schedules_outage",
          env: {},
          logger,
          pool: { connectionTimeoutMs: 1_000 },
        });
      const store = await open();
      const other = await open();
      try {
        await store.schedules.set({ name: "every", cron: "* * * * * *", queue: "ticks", missed: "backfill" });
        await store.schedules.set({ name: "latest", cron: "* * * * * *", queue: "ticks" });
        const runs: ScheduleTick[] = [];
        const worker = store.jobs.work({
          queue: "ticks",
          pollIntervalMs: 50,
          onError: () => {},
          handler: (job) => {
            runs.push((job.payload as { _schedule: ScheduleTick })._schedule);
          },
        });
        const dispatchers = [store, other].map((s) => s.schedules.startDispatcher({ pollIntervalMs: 50 }));
        const ticksOf = (name: string) =>
          runs.filter((run) => run.name === name).map((run) => Date.parse(run.tick));
        await until(() => ticksOf("every").length >= 2 && ticksOf("latest").length >= 2, 30_000);

        logger.entries.length = 0;
        await server.down();
        const downAt = Date.now();
        // Long enough for several ticks to come due while no dispatcher can reach the database.
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        const during = logger.entries.splice(0);
        await server.up();
        const upAt = Date.now();
        await until(
          () => ticksOf("every").some((tick) => tick > upAt) && ticksOf("latest").some((tick) => tick > upAt),
          30_000,
        );
        await Promise.all(dispatchers.map((dispatcher) => dispatcher.stop()));
        await worker.stop();

        // Each tick ran once, whichever dispatcher enqueued it.
        for (const name of ["every", "latest"]) {
          const ticks = ticksOf(name);
          expect(new Set(ticks).size).toBe(ticks.length);
        }
        // Backfilled: every second from the first tick to the last, those of the outage among them.
        const every = ticksOf("every").sort((a, b) => a - b);
        const first = every[0] as number;
        expect(every).toEqual(every.map((_, i) => first + i * 1_000));
        const backfilled = runs.filter((run) => run.name === "every" && run.backfilled);
        expect(backfilled.length).toBeGreaterThanOrEqual(OUTAGE_MS / 1_000 - 2);
        expect(every.filter((tick) => tick > downAt && tick < upAt).length).toBeGreaterThan(0);
        // Skipped: of the ticks that came due during the outage, only the latest ran (the one due when
        // the server came back, within a second of it).
        const missedLatest = ticksOf("latest").filter((tick) => tick > downAt && tick < upAt - 1_500);
        expect(missedLatest).toEqual([]);

        // Each dispatcher reported the outage, with backoff, and said when it was over.
        const warned = during.filter(
          (entry) => entry.level === "warn" && entry.message.startsWith("flowstore schedules"),
        ).length;
        expect(warned).toBeGreaterThanOrEqual(2);
        expect(warned).toBeLessThanOrEqual(10);
        const back = logger.entries.filter(
          (entry) =>
            entry.level === "info" &&
            entry.message === "flowstore schedules: the database is reachable again",
        );
        expect(back.length).toBeGreaterThanOrEqual(2);
      } finally {
        await other.close();
        await store.close();
        await server.end();
      }
    });
  });
});
