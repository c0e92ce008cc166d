/**
 * The soak's options (what runSoak takes, with their defaults). The CLI (main.ts) builds its flags'
 * defaults from SOAK_DEFAULTS; the test passes a smaller set. Kept apart from the run so the CLI, the
 * run, the checks and the report all read one definition.
 */

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
  /**
   * The kills stop after this many and the workers left drain the rest (default: no limit). A run
   * with a limit ends on the work done, not on how fast a machine gets through it while killing.
   */
  maxKills?: number;
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
  maxKills: Number.POSITIVE_INFINITY,
  deadlineMs: 600_000,
  trickle: 0,
  progressEveryMs: 5_000,
  rssEveryMs: 1_000,
  rssMinSamples: 30,
} as const;
