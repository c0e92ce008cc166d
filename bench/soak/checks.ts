/**
 * The soak's checks, once the run is over and its workers have exited: reads what the database holds
 * (the soak's own tables soak_enqueued and soak_runs, the jobs left, pg_stat_database) and what the
 * run saw, and builds the report (report.ts). The checks:
 *   - every job completed: none left in the jobs table, every enqueued id has a run;
 *   - a job ran more than once only if a worker that was SIGKILLed ran it before its last run;
 *   - no deadlocks (pg_stat_database.deadlocks of the database, before against after);
 *   - each long-lived worker's RSS is flat after warm-up (see rssTrend);
 *   - no worker exited unless killed or told to stop, and those told to stop exited with 0.
 * Each failed check comes with up to EVIDENCE_LIMIT jobs behind it, as the database describes them.
 */
import type { Store } from "../../src/index.js";
import { jobsByStatus } from "./database-stats.js";
import { fmt, mb, signedMb, statusList } from "./format.js";
import type { SoakOptions } from "./options.js";
import type { SoakCheck, SoakReport, SoakWorkerSummary } from "./report.js";
import { RSS_GROWTH_LIMIT, rssTrend } from "./rss.js";
import { SOAK_QUEUE } from "./worker-config.js";
import type { WorkerProcess } from "./workers.js";

const EVIDENCE_LIMIT = 20;

export async function analyse(a: {
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
      maxKills: o.maxKills,
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
