/**
 * The shape of the soak's result (SoakReport: figures, checks, workers, evidence), as runSoak returns
 * it, the checks (checks.ts) build it, formatReport (report-text.ts) prints it and --json emits it.
 */
import type { SoakOptions } from "./options.js";
import type { RssTrend } from "./rss.js";

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
