/**
 * The queue's crash-and-load soak, shared by `npm run soak` (bench/soak/main.ts) and test/soak.test.ts.
 *
 * Enqueues `jobs` up front, starts `workers` worker processes (bench/soak/worker.ts), SIGKILLs one of
 * them every `killEveryMs` (round-robin over the slots; a worker still starting is killed once it
 * works; after `maxKills` kills, none) and starts its replacement at once, and ends
 * when no job waits or runs, or at the deadline. Every handler run is a row in `soak_runs`, written
 * outside the job's completion, so a job run twice shows twice. Then it checks:
 *   - every job completed: none left in the jobs table, every enqueued id has a run;
 *   - a job ran more than once only if a worker that was SIGKILLed ran it before its last run;
 *   - no deadlocks (pg_stat_database.deadlocks of the database, before against after);
 *   - each long-lived worker's RSS is flat after warm-up (see rssTrend);
 *   - no worker exited unless killed or told to stop, and those told to stop exited with 0.
 *
 * This file holds the run itself (enqueue, start the workers, the kill-and-replace cycle, the progress
 * lines, the graceful stop); the workers' processes are in workers.ts, the checks in checks.ts, the
 * report's shape in report.ts and its text in report-text.ts.
 */
import { openStore } from "../../src/index.js";
import { analyse } from "./checks.js";
import { deadlocks, jobsByStatus } from "./database-stats.js";
import { fmt, mb, statusList } from "./format.js";
import { SOAK_DEFAULTS, type SoakOptions } from "./options.js";
import type { SoakReport } from "./report.js";
import { SOAK_QUEUE, WORKER_APPLICATION_NAME } from "./worker-config.js";
import { type WorkerProcess, workerFleet } from "./workers.js";

const ENQUEUE_BATCH = 5_000;

export async function runSoak(input: SoakOptions): Promise<SoakReport> {
  const { url, signal, log = (line: string) => process.stdout.write(`${line}\n`) } = input;
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const o = { ...SOAK_DEFAULTS, ...defined } as Required<Omit<SoakOptions, "signal" | "log">>;
  for (const name of ["jobs", "workers", "concurrency", "leaseMs", "killEveryMs", "deadlineMs"] as const) {
    if (!Number.isFinite(o[name]) || o[name] <= 0) throw new Error(`${name} must be a positive number`);
  }
  const started = Date.now();
  const deadline = started + o.deadlineMs;
  const stamp = () => `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s]`;
  const say = (line: string) => log(`${stamp()} ${line}`);
  const stopped = () => signal?.aborted === true || Date.now() >= deadline;

  const store = await openStore({ connection: url, schema: o.schema, pool: { max: 4 } });
  const q = `"${o.schema}"`;
  const fleet = workerFleet(url, o, say);
  const { processes, slots, errorKinds, leaseLost } = fleet;
  const startWorker = fleet.start;
  const lockWaits = new Map<string, { waiting: string; blocking: string; samples: number }>();
  const sampleLockWaits = async () => {
    const statement = (column: string) =>
      `left(regexp_replace(regexp_replace(${column}, '^\\s*with relaxed_commit as \\(select set_config\\([^)]*\\)\\)\\s*,?\\s*', ''), '\\s+', ' ', 'g'), 160)`;
    const { rows } = await store.query<{ waiting: string; blocking: string }>(
      `select ${statement("w.query")} as waiting, ${statement("b.query")} as blocking
         from pg_stat_activity w join pg_stat_activity b on b.pid = any(pg_blocking_pids(w.pid))
        where w.datname = current_database() and w.wait_event_type = 'Lock'`,
    );
    for (const row of rows) {
      const key = `${row.waiting}\u0000${row.blocking}`;
      const seen = lockWaits.get(key);
      if (seen) seen.samples++;
      else lockWaits.set(key, { ...row, samples: 1 });
    }
  };

  try {
    // Tables of our own: every enqueued id, and every handler run.
    await store.query(`create table ${q}.soak_enqueued (id uuid primary key)`);
    await store.query(
      `create table ${q}.soak_runs (
         seq bigserial primary key, job_id uuid not null, worker int not null, pid int not null,
         attempts int not null, at timestamptz not null default clock_timestamp())`,
    );
    const deadlocksBefore = await deadlocks(store);
    say(
      `soak on ${store.describe()} schema ${o.schema}: ${o.jobs.toLocaleString("en-US")} jobs, ${o.workers} workers × concurrency ${o.concurrency}, leaseMs ${o.leaseMs}, a SIGKILL every ${o.killEveryMs / 1000} s${Number.isFinite(o.maxKills) ? ` (${o.maxKills} at most)` : ""}, deadline ${o.deadlineMs / 1000} s${o.trickle ? `, trickle ${o.trickle}/s` : ""}`,
    );

    const enqueue = async (count: number, from: number) =>
      store.transaction(async (tx) => {
        const ids = await tx.jobs.enqueue(
          Array.from({ length: count }, (_, i) => ({
            queue: SOAK_QUEUE,
            name: "soak",
            payload: { n: from + i },
          })),
        );
        await tx.query(`insert into ${q}.soak_enqueued select unnest($1::uuid[])`, [ids]);
      });
    let enqueued = 0;
    while (enqueued < o.jobs && !stopped()) {
      const count = Math.min(ENQUEUE_BATCH, o.jobs - enqueued);
      await enqueue(count, enqueued);
      enqueued += count;
    }
    const enqueueMs = Date.now() - started;
    say(`enqueued ${enqueued.toLocaleString("en-US")} jobs in ${(enqueueMs / 1000).toFixed(1)} s`);

    const workStarted = Date.now();
    for (let slot = 0; slot < o.workers; slot++) startWorker(slot);
    await Promise.race([
      Promise.all(slots.map((w) => w.ready)),
      new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(60_000, deadline - Date.now())))),
    ]);
    say(`workers started: ${slots.map((w) => `#${w.serial} pid ${w.pid}`).join(", ")}`);

    const runsSoFar = async () =>
      (await store.query<{ n: number }>(`select count(*)::int as n from ${q}.soak_runs`)).rows[0]?.n ?? 0;

    // The trickle: single enqueues while the backlog is above a tenth of the up-front jobs.
    let backlog = enqueued;
    let trickled = 0;
    let trickling = o.trickle > 0;
    const trickle = (async () => {
      while (trickling && !fleet.ending && !stopped() && backlog > o.jobs / 10) {
        await enqueue(1, enqueued + trickled);
        trickled++;
        await sleep(1000 / o.trickle);
      }
      trickling = false;
    })();

    const killedSerials: number[] = [];
    const killedPids: number[] = [];
    let nextKill = workStarted + o.killEveryMs;
    let nextProgress = Date.now() + o.progressEveryMs;
    let lastRuns = 0;
    let lastProgressAt = workStarted;
    let endedBy: SoakReport["endedBy"];
    for (;;) {
      if (signal?.aborted) {
        endedBy = "interrupted";
        break;
      }
      if (Date.now() >= deadline) {
        endedBy = "deadline";
        break;
      }
      if (fleet.deaths > fleet.maxDeaths) {
        endedBy = "workers-dying";
        break;
      }
      const slot = killedSerials.length % o.workers;
      const victim = slots[slot] as WorkerProcess;
      // A worker still starting holds no job, so killing it shows nothing; on a slow machine, where a
      // start takes longer than the interval, no worker would ever work. Its kill waits until it works.
      if (killedSerials.length < o.maxKills && Date.now() >= nextKill && victim.readyAt !== undefined) {
        nextKill = Math.max(nextKill, Date.now()) + o.killEveryMs;
        victim.fate = "killed";
        victim.killedAt = Date.now();
        victim.child.kill("SIGKILL");
        killedSerials.push(victim.serial);
        killedPids.push(victim.pid);
        const next = startWorker(slot);
        say(
          `SIGKILL worker #${victim.serial} (pid ${victim.pid}, slot ${slot}, up ${((Date.now() - victim.startedAt) / 1000).toFixed(1)} s); started #${next.serial} (pid ${next.pid})`,
        );
      }
      const now = await jobsByStatus(store, q);
      await sampleLockWaits();
      // Whatever is not dead may still run (waiting, running, or any status the queue may add).
      backlog = Object.entries(now).reduce((sum, [status, n]) => (status === "dead" ? sum : sum + n), 0);
      if (Date.now() >= nextProgress) {
        nextProgress += o.progressEveryMs;
        const runs = await runsSoFar();
        const rate = (runs - lastRuns) / ((Date.now() - lastProgressAt) / 1000);
        lastRuns = runs;
        lastProgressAt = Date.now();
        const rss = slots
          .map((w) => `#${w.serial}:${w.rss.length ? mb(w.rss[w.rss.length - 1] as number) : "-"}`)
          .join(" ");
        const states = Object.entries(now).filter(([status]) => status !== "waiting");
        say(
          [
            `left ${fmt(backlog)}${states.length ? ` (${statusList(Object.fromEntries(states))})` : ""}`,
            `runs ${fmt(runs)} (${fmt(rate)}/s)`,
            `kills ${killedSerials.length}`,
            `rss ${rss}`,
            ...(trickled ? [`trickled ${fmt(trickled)}`] : []),
          ].join(" | "),
        );
      }
      if (backlog === 0 && !trickling && enqueued >= o.jobs) {
        endedBy = "drained";
        break;
      }
      const untilKill = killedSerials.length < o.maxKills ? nextKill - Date.now() : 500;
      await sleep(Math.max(10, Math.min(500, untilKill, deadline - Date.now())));
    }
    fleet.ending = true;
    trickling = false;
    await trickle;
    const workMs = Date.now() - workStarted;
    say(`run ended (${endedBy}) after ${(workMs / 1000).toFixed(1)} s of work; stopping the workers`);

    // Graceful stop of the survivors; a worker that does not exit within its stop timeout is a failure.
    const live = processes.filter((w) => w.fate === "running");
    for (const w of live) w.fate = "stopped";
    // A replacement still loading its modules has no SIGTERM handler yet (the signal would kill it):
    // each gets its SIGTERM once it is ready.
    await Promise.all(
      live.map(async (w) => {
        await Promise.race([w.ready, sleep(30_000)]);
        w.child.kill("SIGTERM");
      }),
    );
    const stopWait = setTimeout(() => {
      for (const w of live) if (w.endedAt === undefined) w.child.kill("SIGKILL");
    }, 45_000);
    await Promise.all(processes.map((w) => w.exited));
    clearTimeout(stopWait);
    // A backend counts its deadlocks into pg_stat_database when it goes idle or exits: wait for the
    // workers' sessions to end before reading the figure again.
    for (let i = 0; i < 100; i++) {
      const { rows } = await store.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = $1",
        [WORKER_APPLICATION_NAME],
      );
      if (rows[0]?.n === 0) break;
      await sleep(100);
    }
    const deadlocksAfter = await deadlocks(store);

    return await analyse({
      store,
      q,
      o,
      endedBy,
      processes,
      killedSerials,
      killedPids,
      errorKinds,
      leaseLost,
      lockWaits: [...lockWaits.values()].sort((x, y) => y.samples - x.samples),
      durationMs: Date.now() - started,
      enqueueMs,
      workMs,
      wanted: o.jobs + trickled,
      trickled,
      deadlocksBefore,
      deadlocksAfter,
    });
  } finally {
    fleet.ending = true;
    for (const w of processes) if (w.endedAt === undefined) w.child.kill("SIGKILL");
    await Promise.all(processes.map((w) => w.exited));
    await store.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
