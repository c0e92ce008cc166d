/**
 * The queue's crash-and-load soak, shared by `npm run soak` (bench/soak/main.ts) and test/soak.test.ts.
 *
 * Enqueues `jobs` up front, starts `workers` worker processes (bench/soak/worker.ts), SIGKILLs one of
 * them every `killEveryMs` (round-robin over the slots) and starts its replacement at once, and ends
 * when no job waits or runs, or at the deadline. Every handler run is a row in `soak_runs`, written
 * outside the job's completion, so a job run twice shows twice. Then it checks:
 *   - every job completed: none left in the jobs table, every enqueued id has a run;
 *   - a job ran more than once only if a worker that was SIGKILLed ran it before its last run;
 *   - no deadlocks (pg_stat_database.deadlocks of the database, before against after);
 *   - each long-lived worker's RSS is flat after warm-up (see rssTrend);
 *   - no worker exited unless killed or told to stop, and those told to stop exited with 0.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { openStore, type Store } from "../../src/index.js";

export interface SoakOptions {
  /** The database (a URL). Its schema `schema` gets the queue and the soak's own tables. */
  url: string;
  /** Default "flowstore". Must not hold soak tables already. */
  schema?: string;
  /** Jobs enqueued up front, in batches of 5,000 (default 200,000). */
  jobs?: number;
  /** Worker processes kept running (default 4). */
  workers?: number;
  /** Each worker's `concurrency` (default 8). */
  concurrency?: number;
  /** Each worker's `leaseMs` (default 2,000). */
  leaseMs?: number;
  /** One worker is SIGKILLed (and replaced) this often (default 20 s). */
  killEveryMs?: number;
  /** The run stops here, enqueueing included, even with jobs left (default 10 minutes). */
  deadlineMs?: number;
  /**
   * Extra jobs per second enqueued one at a time while the run goes on, until the backlog falls to a
   * tenth of `jobs` (default 0: none).
   */
  trickle?: number;
  /** A progress line this often (default 5 s). */
  progressEveryMs?: number;
  /** Each worker reports its RSS this often (default 1 s). */
  rssEveryMs?: number;
  /** A worker with fewer RSS samples than this is left out of the RSS check (default 30). */
  rssMinSamples?: number;
  /** Ends the run early, as the deadline does (endedBy "interrupted"). */
  signal?: AbortSignal;
  /** Where progress goes (default: stdout). */
  log?: (line: string) => void;
}

export const SOAK_DEFAULTS = {
  schema: "flowstore",
  jobs: 200_000,
  workers: 4,
  concurrency: 8,
  leaseMs: 2_000,
  killEveryMs: 20_000,
  deadlineMs: 600_000,
  trickle: 0,
  progressEveryMs: 5_000,
  rssEveryMs: 1_000,
  rssMinSamples: 30,
} as const;

/** The queue the soak's jobs go to. */
export const SOAK_QUEUE = "soak";

/** What the orchestrator passes to a worker process as its one argument, as JSON. */
export interface WorkerConfig {
  url: string;
  schema: string;
  queue: string;
  /** The orchestrator's number for the process: unique in a run, unlike a pid, which may be reused. */
  serial: number;
  concurrency: number;
  leaseMs: number;
  rssEveryMs: number;
}

/** The workers' pool application_name: the run waits for their sessions to end before reading stats. */
export const WORKER_APPLICATION_NAME = "flowstore-soak-worker";

/**
 * "Flat": the median RSS of the last third of a worker's samples is at most this much above the
 * median of its middle third (the first third is warm-up: tsx compiling, the pool and the prefetch
 * buffer filling). The larger of the two bounds applies: the absolute one covers V8 sizing its heap
 * in steps of several MB under allocation bursts, the relative one a leak that grows with the work done.
 */
export const RSS_GROWTH_LIMIT = { bytes: 30 * 1024 * 1024, fraction: 0.2 } as const;

export interface RssTrend {
  samples: number;
  /** False for a worker with fewer than rssMinSamples samples: not judged. */
  eligible: boolean;
  middleMedian: number;
  lastMedian: number;
  growth: number;
  limit: number;
  flat: boolean;
}

/** Judges one worker's RSS samples (bytes, in order) by RSS_GROWTH_LIMIT. */
export function rssTrend(samples: readonly number[], minSamples: number): RssTrend {
  const n = samples.length;
  const middleMedian = median(samples.slice(Math.floor(n / 3), Math.floor((2 * n) / 3)));
  const lastMedian = median(samples.slice(Math.floor((2 * n) / 3)));
  const growth = lastMedian - middleMedian;
  const limit = Math.max(RSS_GROWTH_LIMIT.bytes, RSS_GROWTH_LIMIT.fraction * middleMedian);
  const eligible = n >= Math.max(3, minSamples);
  return {
    samples: n,
    eligible,
    middleMedian,
    lastMedian,
    growth,
    limit,
    flat: !eligible || growth <= limit,
  };
}

export interface SoakCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SoakWorkerSummary {
  serial: number;
  slot: number;
  pid: number;
  /** killed: SIGKILLed by the soak; stopped: SIGTERMed at the end; died: exited on its own. */
  fate: "killed" | "stopped" | "died";
  lifetimeMs: number;
  runs: number;
  exitCode: number | null;
  exitSignal: string | null;
  rss: RssTrend & { firstSample: number; maxSample: number };
  errors: number;
}

export interface SoakReport {
  ok: boolean;
  /** drained: no job waits or runs; workers-dying: workers kept exiting on their own, the run gave up. */
  endedBy: "drained" | "deadline" | "interrupted" | "workers-dying";
  options: Omit<Required<SoakOptions>, "url" | "signal" | "log">;
  figures: {
    durationMs: number;
    enqueueMs: number;
    /** From the first worker start to the end of the run. */
    workMs: number;
    enqueued: number;
    trickled: number;
    runs: number;
    jobsRun: number;
    jobsNeverRun: number;
    /** The soak's jobs still in the jobs table at the end, by status (any status: none should be left). */
    jobsLeft: Record<string, number>;
    jobsRunMoreThanOnce: number;
    extraRuns: number;
    /** Jobs with more than one run where no earlier run was by a killed worker (the check's failures). */
    duplicatesWithoutKill: number;
    /** Jobs with more than one run where some earlier run was by a worker never killed (stricter; informational). */
    duplicatesWithAnEarlierRunByALiveWorker: number;
    /**
     * Jobs with more than one run whose earlier runs by killed workers all came more than leaseMs before
     * the kill: the kill is unlikely to be why they ran again (informational).
     */
    duplicatesRunLongBeforeKill: number;
    /** Handler runs by the `attempts` the job carried. */
    runsByAttempt: Record<string, number>;
    jobsPerSecond: number;
    kills: number;
    killedPids: number[];
    workersStarted: number;
    deadlocksBefore: number;
    deadlocksAfter: number;
    /**
     * Leases live workers reported lost (a killed worker reports nothing): each (job, worker) once, how
     * many of those jobs the losing worker had run, and how many ran more than once.
     */
    leaseLost: { jobs: number; ranByTheLosingWorker: number; ranMoreThanOnce: number };
    /**
     * Lock waits between sessions of the database, sampled twice a second: which statement waited for
     * which, and in how many samples (a deadlock shows here for its deadlock_timeout, 1 s by default).
     */
    lockWaits: { waiting: string; blocking: string; samples: number }[];
    /** Errors the workers survived, by kind (StoreError code / SQLSTATE), with the first message of each. */
    workerErrors: Record<string, { count: number; first: string }>;
  };
  checks: SoakCheck[];
  workers: SoakWorkerSummary[];
  /** Up to 20 jobs each behind a failed check, with what the database says about them. */
  evidence: {
    neverRun: unknown[];
    left: unknown[];
    duplicatesWithoutKill: unknown[];
    duplicatesRunLongBeforeKill: unknown[];
    /** Jobs whose lease a live worker lost, those that ran more than once first. */
    leaseLost: unknown[];
  };
}

interface WorkerProcess {
  serial: number;
  slot: number;
  pid: number;
  child: ChildProcess;
  startedAt: number;
  killedAt?: number;
  endedAt?: number;
  fate: "running" | "killed" | "stopped" | "died";
  exitCode: number | null;
  exitSignal: string | null;
  rss: number[];
  errors: number;
  ready: Promise<void>;
  exited: Promise<void>;
}

const WORKER_SCRIPT = fileURLToPath(new URL("./worker.ts", import.meta.url));
const TSX_LOADER = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const ENQUEUE_BATCH = 5_000;
const EVIDENCE_LIMIT = 20;

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
  const processes: WorkerProcess[] = [];
  const slots: WorkerProcess[] = [];
  const errorKinds = new Map<string, { count: number; first: string }>();
  const leaseLost: { job: string; worker: number; at: number }[] = [];
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
  let ending = false;
  let serials = 0;
  // Workers that exit on their own are replaced, up to a point: a worker that cannot start (a broken
  // build, a refused connection) would otherwise be restarted in a loop until the deadline.
  let deaths = 0;
  const MAX_DEATHS = 3 * o.workers;

  const startWorker = (slot: number): WorkerProcess => {
    const config: WorkerConfig = {
      url,
      schema: o.schema,
      queue: SOAK_QUEUE,
      serial: serials++,
      concurrency: o.concurrency,
      leaseMs: o.leaseMs,
      rssEveryMs: o.rssEveryMs,
    };
    const child = spawn(process.execPath, ["--import", TSX_LOADER, WORKER_SCRIPT, JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let markReady!: () => void;
    let markExited!: () => void;
    const w: WorkerProcess = {
      serial: config.serial,
      slot,
      pid: child.pid ?? -1,
      child,
      startedAt: Date.now(),
      fate: "running",
      exitCode: null,
      exitSignal: null,
      rss: [],
      errors: 0,
      ready: new Promise<void>((resolve) => {
        markReady = resolve;
      }),
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
    };
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line === "ready") markReady();
      else if (line.startsWith("rss ")) w.rss.push(Number(line.split(" ")[1]));
      else if (line.startsWith("lost ")) {
        for (const job of line.slice(5).split(" "))
          if (job) leaseLost.push({ job, worker: w.serial, at: Date.now() });
      } else if (line.startsWith("error ")) {
        w.errors++;
        const [, kind = "?", ...words] = line.split(" ");
        const seen = errorKinds.get(kind);
        if (seen) seen.count++;
        else {
          errorKinds.set(kind, { count: 1, first: words.join(" ") });
          say(`worker #${w.serial} (pid ${w.pid}): first ${kind} error: ${words.join(" ")}`);
        }
      }
    });
    let stderrLines = 0;
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      if (++stderrLines <= 20) say(`worker #${w.serial} (pid ${w.pid}) stderr: ${line}`);
    });
    child.once("exit", (code, exitSignal) => {
      w.endedAt = Date.now();
      w.exitCode = code;
      w.exitSignal = exitSignal;
      if (w.fate === "running") {
        w.fate = "died";
        say(`worker #${w.serial} (pid ${w.pid}) exited on its own (code ${code}, signal ${exitSignal})`);
        if (!ending && slots[slot] === w && ++deaths <= MAX_DEATHS) startWorker(slot);
      }
      markReady(); // whoever waits for "ready" finds out from the fate
      markExited();
    });
    processes.push(w);
    slots[slot] = w;
    return w;
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
      `soak on ${store.describe()} schema ${o.schema}: ${o.jobs.toLocaleString("en-US")} jobs, ${o.workers} workers × concurrency ${o.concurrency}, leaseMs ${o.leaseMs}, a SIGKILL every ${o.killEveryMs / 1000} s, deadline ${o.deadlineMs / 1000} s${o.trickle ? `, trickle ${o.trickle}/s` : ""}`,
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
      while (trickling && !ending && !stopped() && backlog > o.jobs / 10) {
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
      if (deaths > MAX_DEATHS) {
        endedBy = "workers-dying";
        break;
      }
      if (Date.now() >= nextKill) {
        nextKill += o.killEveryMs;
        const slot = killedSerials.length % o.workers;
        const victim = slots[slot] as WorkerProcess;
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
      await sleep(Math.max(10, Math.min(500, nextKill - Date.now(), deadline - Date.now())));
    }
    ending = true;
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
    ending = true;
    for (const w of processes) if (w.endedAt === undefined) w.child.kill("SIGKILL");
    await Promise.all(processes.map((w) => w.exited));
    await store.close();
  }
}

async function analyse(a: {
  store: Store;
  q: string;
  o: Required<Omit<SoakOptions, "signal" | "log">>;
  endedBy: SoakReport["endedBy"];
  processes: WorkerProcess[];
  killedSerials: number[];
  killedPids: number[];
  errorKinds: Map<string, { count: number; first: string }>;
  leaseLost: { job: string; worker: number; at: number }[];
  lockWaits: { waiting: string; blocking: string; samples: number }[];
  durationMs: number;
  enqueueMs: number;
  workMs: number;
  wanted: number;
  trickled: number;
  deadlocksBefore: number;
  deadlocksAfter: number;
}): Promise<SoakReport> {
  const { store, q, o } = a;
  const one = async <T>(sql: string, params: unknown[] = []): Promise<T> =>
    (await store.query<T>(sql, params)).rows[0] as T;

  const counts = await one<{ enqueued: number; runs: number; jobs_run: number; never_run: number }>(
    `select (select count(*) from ${q}.soak_enqueued)::int as enqueued,
            (select count(*) from ${q}.soak_runs)::int as runs,
            (select count(distinct job_id) from ${q}.soak_runs)::int as jobs_run,
            (select count(*) from ${q}.soak_enqueued e
              where not exists (select 1 from ${q}.soak_runs r where r.job_id = e.id))::int as never_run`,
  );
  const jobsLeft = await jobsByStatus(store, q);
  const jobColumns = "j.status, j.attempts, j.lease_owner, j.lease_expires_at, j.last_error, j.updated_at";
  const { rows: neverRun } = await store.query(
    `select e.id, ${jobColumns} from ${q}.soak_enqueued e left join ${q}.jobs j on j.id = e.id
      where not exists (select 1 from ${q}.soak_runs r where r.job_id = e.id) order by e.id limit ${EVIDENCE_LIMIT}`,
  );
  const { rows: left } = await store.query(
    `select j.id, ${jobColumns},
            (select count(*)::int from ${q}.soak_runs r where r.job_id = j.id) as runs
       from ${q}.jobs j where j.queue = $1 order by j.id limit ${EVIDENCE_LIMIT}`,
    [SOAK_QUEUE],
  );

  // Every job with more than one run: was some run before its last one by a worker the soak killed?
  const killed = a.processes.filter((w) => w.killedAt !== undefined);
  const { rows: duplicates } = await store.query<{
    job_id: string;
    n: number;
    explained: boolean;
    earlier_all_killed: boolean;
    killed_soon_after: boolean;
    runs: unknown[];
  }>(
    `with k as (select * from unnest($1::int[], $2::float8[]) as k(worker, killed_ms)),
     r as (
       select r.job_id, r.worker, r.pid, r.attempts, r.at, r.seq, k.killed_ms,
              row_number() over (partition by r.job_id order by r.seq desc) as from_last,
              count(*) over (partition by r.job_id) as n
         from ${q}.soak_runs r left join k on k.worker = r.worker)
     select job_id, n::int as n,
            bool_or(from_last > 1 and killed_ms is not null) as explained,
            bool_and(from_last = 1 or killed_ms is not null) as earlier_all_killed,
            bool_or(from_last > 1 and killed_ms - extract(epoch from at) * 1000 <= $3) as killed_soon_after,
            json_agg(json_build_object('worker', worker, 'pid', pid, 'killed', killed_ms is not null,
                                       'msBeforeKill', round(killed_ms - extract(epoch from at) * 1000),
                                       'attempts', attempts, 'at', at) order by seq) as runs
       from r where n > 1 group by job_id, n order by job_id`,
    [killed.map((w) => w.serial), killed.map((w) => w.killedAt), o.leaseMs],
  );
  const unexplained = duplicates.filter((d) => !d.explained);
  const longBeforeKill = duplicates.filter((d) => d.explained && !d.killed_soon_after);
  // Every (job, worker) whose lease that worker reported lost while alive, with all the job's runs.
  const { rows: lost } = await store.query<{
    job_id: string;
    worker: number;
    runs: number;
    by_loser: number;
  }>(
    `with l as (select job_id, worker, min(reported_ms) as reported_ms
                   from unnest($1::uuid[], $2::int[], $3::float8[]) as l(job_id, worker, reported_ms)
                  group by job_id, worker),
     r as (select r.* from ${q}.soak_runs r where r.job_id in (select job_id from l))
     select l.job_id, l.worker, count(r.seq)::int as runs,
            count(r.seq) filter (where r.worker = l.worker)::int as by_loser,
            -- How long after the losing worker's own run of the job the loss was reported.
            round(min(l.reported_ms) - max(extract(epoch from r.at) * 1000) filter (where r.worker = l.worker))::int
              as reported_ms_after_own_run,
            coalesce(json_agg(json_build_object('worker', r.worker, 'pid', r.pid, 'attempts', r.attempts, 'at', r.at)
                              order by r.seq) filter (where r.seq is not null), '[]') as all_runs
       from l left join r on r.job_id = l.job_id
      group by l.job_id, l.worker
      order by count(r.seq) desc, l.job_id`,
    [a.leaseLost.map((l) => l.job), a.leaseLost.map((l) => l.worker), a.leaseLost.map((l) => l.at)],
  );
  const { rows: attemptRows } = await store.query<{ attempts: number; n: number }>(
    `select attempts, count(*)::int as n from ${q}.soak_runs group by attempts order by attempts`,
  );
  const { rows: perWorker } = await store.query<{ worker: number; n: number }>(
    `select worker, count(*)::int as n from ${q}.soak_runs group by worker`,
  );
  const runsOf = new Map(perWorker.map((r) => [r.worker, r.n]));

  const workers: SoakWorkerSummary[] = a.processes.map((w) => ({
    serial: w.serial,
    slot: w.slot,
    pid: w.pid,
    fate: w.fate === "running" ? "stopped" : w.fate,
    lifetimeMs: (w.endedAt ?? Date.now()) - w.startedAt,
    runs: runsOf.get(w.serial) ?? 0,
    exitCode: w.exitCode,
    exitSignal: w.exitSignal,
    rss: {
      ...rssTrend(w.rss, o.rssMinSamples),
      firstSample: w.rss[0] ?? 0,
      maxSample: Math.max(0, ...w.rss),
    },
    errors: w.errors,
  }));

  const leftTotal = Object.values(jobsLeft).reduce((sum, n) => sum + n, 0);
  const judged = workers.filter((w) => w.rss.eligible);
  const grew = judged.filter((w) => !w.rss.flat);
  const died = workers.filter((w) => w.fate === "died");
  const unclean = workers.filter((w) => w.fate === "stopped" && w.exitCode !== 0);
  const deadlockDelta = a.deadlocksAfter - a.deadlocksBefore;
  const checks: SoakCheck[] = [
    {
      name: "every job completed",
      ok: counts.enqueued === a.wanted && counts.never_run === 0 && leftTotal === 0,
      detail: `${fmt(counts.enqueued)} of ${fmt(a.wanted)} enqueued; ${fmt(counts.never_run)} never ran; ${fmt(leftTotal)} left in the jobs table${leftTotal ? ` (${statusList(jobsLeft)})` : ""}`,
    },
    {
      name: "runs beyond one only for jobs a killed worker had started",
      ok: unexplained.length === 0,
      detail: `${fmt(duplicates.length)} jobs ran more than once (${fmt(duplicates.reduce((s, d) => s + d.n - 1, 0))} extra runs); ${fmt(unexplained.length)} of them with no earlier run by a killed worker${
        unexplained.length
          ? `: ${unexplained
              .slice(0, 5)
              .map((d) => d.job_id)
              .join(", ")}`
          : ""
      }`,
    },
    {
      name: "no deadlocks",
      ok: deadlockDelta === 0,
      detail: `pg_stat_database.deadlocks ${a.deadlocksBefore} before, ${a.deadlocksAfter} after`,
    },
    {
      name: "worker RSS flat after warm-up",
      ok: judged.length > 0 && grew.length === 0,
      detail:
        judged.length === 0
          ? `no worker lived for ${o.rssMinSamples} samples (${(o.rssMinSamples * o.rssEveryMs) / 1000} s)`
          : `${judged.length} of ${workers.length} workers lived ≥ ${o.rssMinSamples} samples; median RSS of the last third vs the middle third: growth ${judged.map((w) => `#${w.serial} ${signedMb(w.rss.growth)}`).join(", ")} (limit max(${mb(RSS_GROWTH_LIMIT.bytes)}, ${RSS_GROWTH_LIMIT.fraction * 100}%))${grew.length ? `; grew: ${grew.map((w) => `#${w.serial}`).join(", ")}` : ""}`,
    },
    {
      name: "workers exited only when killed or stopped",
      ok: died.length === 0 && unclean.length === 0,
      detail: `${workers.length} started, ${a.killedSerials.length} SIGKILLed, ${workers.filter((w) => w.fate === "stopped").length} stopped at the end${died.length ? `; died on their own: ${died.map((w) => `#${w.serial} pid ${w.pid} code ${w.exitCode} signal ${w.exitSignal}`).join(", ")}` : ""}${unclean.length ? `; unclean stop: ${unclean.map((w) => `#${w.serial} pid ${w.pid} code ${w.exitCode} signal ${w.exitSignal}`).join(", ")}` : ""}`,
    },
  ];

  const completedJobs = counts.enqueued - leftTotal;
  return {
    ok: checks.every((c) => c.ok),
    endedBy: a.endedBy,
    options: {
      schema: o.schema,
      jobs: o.jobs,
      workers: o.workers,
      concurrency: o.concurrency,
      leaseMs: o.leaseMs,
      killEveryMs: o.killEveryMs,
      deadlineMs: o.deadlineMs,
      trickle: o.trickle,
      progressEveryMs: o.progressEveryMs,
      rssEveryMs: o.rssEveryMs,
      rssMinSamples: o.rssMinSamples,
    },
    figures: {
      durationMs: a.durationMs,
      enqueueMs: a.enqueueMs,
      workMs: a.workMs,
      enqueued: counts.enqueued,
      trickled: a.trickled,
      runs: counts.runs,
      jobsRun: counts.jobs_run,
      jobsNeverRun: counts.never_run,
      jobsLeft,
      jobsRunMoreThanOnce: duplicates.length,
      extraRuns: duplicates.reduce((sum, d) => sum + d.n - 1, 0),
      duplicatesWithoutKill: unexplained.length,
      duplicatesWithAnEarlierRunByALiveWorker: duplicates.filter((d) => !d.earlier_all_killed).length,
      duplicatesRunLongBeforeKill: longBeforeKill.length,
      runsByAttempt: Object.fromEntries(attemptRows.map((r) => [String(r.attempts), r.n])),
      jobsPerSecond: completedJobs / (a.workMs / 1000),
      kills: a.killedSerials.length,
      killedPids: a.killedPids,
      workersStarted: workers.length,
      deadlocksBefore: a.deadlocksBefore,
      deadlocksAfter: a.deadlocksAfter,
      leaseLost: {
        jobs: lost.length,
        ranByTheLosingWorker: lost.filter((l) => l.by_loser > 0).length,
        ranMoreThanOnce: lost.filter((l) => l.runs > 1).length,
      },
      lockWaits: a.lockWaits.slice(0, 10),
      workerErrors: Object.fromEntries(a.errorKinds),
    },
    checks,
    workers,
    evidence: {
      neverRun,
      left,
      duplicatesWithoutKill: unexplained.slice(0, EVIDENCE_LIMIT),
      duplicatesRunLongBeforeKill: longBeforeKill.slice(0, EVIDENCE_LIMIT),
      leaseLost: lost.slice(0, EVIDENCE_LIMIT),
    },
  };
}

/** The report as text: figures, workers, checks, and the evidence behind any failed check. */
export function formatReport(report: SoakReport): string {
  const f = report.figures;
  const lines = [
    "",
    `soak ${report.ok ? "PASSED" : "FAILED"} (ended: ${report.endedBy})`,
    `  duration            ${(f.durationMs / 1000).toFixed(1)} s (enqueue ${(f.enqueueMs / 1000).toFixed(1)} s, work ${(f.workMs / 1000).toFixed(1)} s)`,
    `  jobs enqueued       ${fmt(f.enqueued)}${f.trickled ? ` (${fmt(f.trickled)} trickled)` : ""}`,
    `  handler runs        ${fmt(f.runs)} over ${fmt(f.jobsRun)} jobs (${fmt(f.jobsPerSecond)} jobs/s)`,
    `  jobs never run      ${fmt(f.jobsNeverRun)}`,
    `  jobs left           ${statusList(f.jobsLeft) || "none"}`,
    `  ran more than once  ${fmt(f.jobsRunMoreThanOnce)} jobs, ${fmt(f.extraRuns)} extra runs; without a kill before: ${fmt(f.duplicatesWithoutKill)}; with an earlier run by a live worker: ${fmt(f.duplicatesWithAnEarlierRunByALiveWorker)}; killed run > leaseMs before the kill: ${fmt(f.duplicatesRunLongBeforeKill)}`,
    `  runs by attempt     ${Object.entries(f.runsByAttempt)
      .map(([attempt, n]) => `${attempt}: ${fmt(n)}`)
      .join(", ")}`,
    `  kills               ${f.kills} (pids ${f.killedPids.join(", ") || "-"}), workers started ${f.workersStarted}`,
    `  deadlocks           ${f.deadlocksBefore} before, ${f.deadlocksAfter} after`,
    `  leases lost (live)  ${fmt(f.leaseLost.jobs)} jobs; the losing worker had run ${fmt(f.leaseLost.ranByTheLosingWorker)}; ran more than once ${fmt(f.leaseLost.ranMoreThanOnce)}`,
    `  lock waits seen     ${f.lockWaits.length ? "" : "none"}`,
    ...f.lockWaits
      .slice(0, 5)
      .map((w) => `    ${w.samples} sample(s): «${w.waiting}» waited for «${w.blocking}»`),
    `  worker errors       ${
      Object.entries(f.workerErrors)
        .map(
          ([kind, e]) =>
            `${kind} ×${fmt(e.count)} (first: ${e.first.slice(0, kind.startsWith("LEASE_LOST") ? 120 : 600)})`,
        )
        .join("; ") || "none"
    }`,
    "",
    "  worker  pid       fate     lived    runs     rss first  middle  last    growth   judged",
  ];
  for (const w of report.workers) {
    const judged = w.rss.eligible;
    const cells = [
      `#${w.serial}`.padEnd(8),
      String(w.pid).padEnd(10),
      w.fate.padEnd(9),
      `${(w.lifetimeMs / 1000).toFixed(0)} s`.padEnd(9),
      fmt(w.runs).padEnd(9),
      mb(w.rss.firstSample).padEnd(11),
      (judged ? mb(w.rss.middleMedian) : "-").padEnd(8),
      (judged ? mb(w.rss.lastMedian) : "-").padEnd(8),
      (judged ? signedMb(w.rss.growth) : "-").padEnd(9),
      judged ? (w.rss.flat ? "flat" : "GREW") : `no (${w.rss.samples} samples)`,
    ];
    lines.push(`  ${cells.join("")}`);
  }
  lines.push("");
  for (const check of report.checks)
    lines.push(`  ${check.ok ? "ok  " : "FAIL"}  ${check.name}: ${check.detail}`);
  const evidence = report.evidence;
  for (const [name, rows] of Object.entries(evidence)) {
    if ((rows as unknown[]).length === 0) continue;
    lines.push("", `  evidence, ${name}:`);
    for (const row of rows as unknown[]) lines.push(`    ${JSON.stringify(row)}`);
  }
  return lines.join("\n");
}

async function jobsByStatus(store: Store, q: string): Promise<Record<string, number>> {
  const { rows } = await store.query<{ status: string; n: number }>(
    `select status, count(*)::int as n from ${q}.jobs where queue = $1 group by status order by status`,
    [SOAK_QUEUE],
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

function statusList(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([status, n]) => `${status} ${fmt(n)}`)
    .join(", ");
}

async function deadlocks(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    "select deadlocks::int as n from pg_stat_database where datname = current_database()",
  );
  return rows[0]?.n ?? 0;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)}M`;
}

function signedMb(bytes: number): string {
  return `${bytes >= 0 ? "+" : "-"}${mb(Math.abs(bytes))}`;
}
