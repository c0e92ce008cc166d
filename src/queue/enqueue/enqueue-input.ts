/**
 * An enqueue's jobs checked and turned into the rows of its statement (enqueue.ts): every option
 * validated before anything is written, defaults filled in, and `debounce` and `throttle` turned into
 * what the statement does for them.
 */

import type { StoreContext } from "../../core/context.js";
import { ValidationError } from "../../core/errors.js";
import { isUuid, uuidv7 } from "../../core/ids.js";
import {
  integerOption,
  isStorableDate,
  MAX_INT,
  MAX_TTL_MS,
  optionKeys,
  refuseUnknownKeys,
} from "../../core/input.js";
import { checkText, toJson } from "../../core/payload.js";
import type { EnqueueJob } from "../types.js";

/**
 * A job's run time in an enqueue statement, from its row's run_at and delay_ms: a delay counts from
 * the database clock, as every time the queue keeps does; neither given, now.
 */
export const RUN_AT_SQL = "coalesce(run_at, now() + delay_ms * interval '1 millisecond', now())";

/** An enqueue batch as parallel arrays, one entry per slot. */
export interface EnqueueColumns {
  id: string[];
  queue: string[];
  name: string[];
  payload: string[];
  priority: number[];
  runAt: (Date | null)[];
  delayMs: (number | null)[];
  maxAttempts: number[];
  backoffBase: number[];
  backoffMax: number[];
  key: (string | null)[];
  executionId: (string | null)[];
  replace: boolean[];
  after: boolean[];
  group: (string | null)[];
  /** Enqueues of the batch taken into this slot's job after its own (see Job.absorbed). */
  absorbs: number[];
  /** A debounced job's latest run time, in milliseconds after now (its maxMs), or null. */
  runByMs: (number | null)[];
  /**
   * The trace context the job carries to its handler (see Telemetry.send), when its enqueue was traced
   * apart from the batch's; null takes the batch's.
   */
  trace: (string | null)[];
}

/** One slot's values, as the columns hold them. */
export type EnqueueRow = { [K in keyof EnqueueColumns]: EnqueueColumns[K][number] };

/** A throttled job's window. */
export interface ThrottleWindow {
  key: string;
  ms: number;
}

/**
 * The longest delay: 1,000 years, as for a TTL. Now plus that stays well inside the years 1000 to 9999
 * every stored date keeps to.
 */
const MAX_DELAY_MS = MAX_TTL_MS;

const JOB_KEYS = optionKeys<EnqueueJob>({
  queue: true,
  name: true,
  payload: true,
  priority: true,
  runAt: true,
  delayMs: true,
  delaySeconds: true,
  maxAttempts: true,
  backoff: true,
  key: true,
  replace: true,
  whileRunning: true,
  executionId: true,
  id: true,
  group: true,
  debounce: true,
  throttle: true,
  after: true,
});
const BACKOFF_KEYS = optionKeys<NonNullable<EnqueueJob["backoff"]>>({ baseMs: true, maxMs: true });
const DEBOUNCE_KEYS = optionKeys<NonNullable<EnqueueJob["debounce"]>>({ key: true, ms: true, maxMs: true });
const THROTTLE_KEYS = optionKeys<NonNullable<EnqueueJob["throttle"]>>({ key: true, ms: true });

/** What debounce and throttle decide for themselves, and may not be given beside them. */
const MADE_BY: Record<"debounce" | "throttle", (keyof EnqueueJob)[]> = {
  debounce: ["key", "replace", "whileRunning", "runAt", "delayMs", "delaySeconds", "throttle"],
  throttle: ["key", "replace", "whileRunning"],
};

/** What a job with dependencies (`after`) may not be given: it never meets another job by a key. */
const NOT_AFTER: (keyof EnqueueJob)[] = ["key", "replace", "whileRunning", "debounce", "throttle"];

/** The most jobs one job may run after. */
export const MAX_DEPENDENCIES = 1_000;

/** A job checked: its slot's row, its throttle window and the jobs it runs after, if any. */
export interface CheckedJob {
  row: EnqueueRow;
  throttle: ThrottleWindow | null;
  /** The ids of the jobs it runs after (distinct, lower case), or null when none. */
  dependsOn: string[] | null;
}

/** A job checked as its slot's row, with its throttle window and dependencies if it has them. */
export function jobRow(context: StoreContext, job: EnqueueJob, field: string): CheckedJob {
  if (typeof job !== "object" || job === null)
    throw new ValidationError(`${field} must be an object`, { field });
  refuseUnknownKeys(job, JOB_KEYS, field);
  if (typeof job.backoff === "object" && job.backoff !== null)
    refuseUnknownKeys(job.backoff, BACKOFF_KEYS, `${field}.backoff`);
  const queue = checkText(job.queue, `${field}.queue`);
  const debounce = checkWindow(job, "debounce", field);
  const throttle = checkWindow(job, "throttle", field);
  const key = debounce
    ? debounce.key
    : job.key === undefined || job.key === null
      ? null
      : checkText(job.key, `${field}.key`);
  if (job.id !== undefined && !isUuid(job.id))
    throw new ValidationError(`${field}.id must be a UUID`, { field: `${field}.id` });
  if (job.executionId !== undefined && job.executionId !== null && !isUuid(job.executionId)) {
    throw new ValidationError(`${field}.executionId must be a UUID`, { field: `${field}.executionId` });
  }
  if (job.runAt !== undefined && !isStorableDate(job.runAt)) {
    throw new ValidationError(`${field}.runAt must be a valid Date from the year 1000 to 9999`, {
      field: `${field}.runAt`,
    });
  }
  const row: EnqueueRow = {
    id: job.id?.toLowerCase() ?? uuidv7(),
    queue,
    name: checkText(job.name, `${field}.name`),
    payload: toJson(job.payload ?? null, `${field}.payload`, context.limits),
    priority: integerOption(job.priority, `${field}.priority`, { min: -MAX_INT, fallback: 0 }),
    runAt: job.runAt ?? null,
    // A debounced job runs its window after the latest enqueue.
    delayMs: debounce ? debounce.ms : checkDelay(job, field),
    maxAttempts: integerOption(job.maxAttempts, `${field}.maxAttempts`, { min: 1, fallback: 25 }),
    backoffBase: integerOption(job.backoff?.baseMs, `${field}.backoff.baseMs`, { min: 0, fallback: 1000 }),
    backoffMax: integerOption(job.backoff?.maxMs, `${field}.backoff.maxMs`, {
      min: 0,
      fallback: 3_600_000,
    }),
    key,
    executionId: job.executionId?.toLowerCase() ?? null,
    // Each enqueue replaces what waits; one that comes while the job runs waits behind it.
    replace: debounce !== null || job.replace === true,
    after: debounce !== null || (checkWhileRunning(job.whileRunning, field) === "after" && key !== null),
    group: job.group === undefined || job.group === null ? null : checkText(job.group, `${field}.group`),
    absorbs: 0,
    runByMs: debounce?.maxMs ?? null,
    trace: null,
  };
  return {
    row,
    throttle: throttle ? { key: throttle.key, ms: throttle.ms } : null,
    dependsOn: checkDependencies(job, field),
  };
}

/** The job's `after`: UUIDs, distinct, at most MAX_DEPENDENCIES; null when none are given. */
function checkDependencies(job: EnqueueJob, field: string): string[] | null {
  const after: unknown = job.after;
  if (after === undefined) return null;
  const at = `${field}.after`;
  if (!Array.isArray(after) || !after.every(isUuid)) {
    throw new ValidationError(`${at} must be an array of job ids (UUIDs)`, { field: at });
  }
  if (after.length > MAX_DEPENDENCIES) {
    throw new ValidationError(`${at} names ${after.length} jobs, more than ${MAX_DEPENDENCIES}`, {
      field: at,
    });
  }
  const beside = NOT_AFTER.filter((name) => job[name] !== undefined);
  if (beside.length > 0) {
    throw new ValidationError(
      `${at} cannot be given with ${beside.join(", ")}: a job that runs after others is never merged with another`,
      { field: `${field}.${beside[0]}` },
    );
  }
  if (after.length === 0) return null;
  return [...new Set(after.map((id: string) => id.toLowerCase()))];
}

/** The job's `debounce` or `throttle`, checked; null when it has none. */
function checkWindow(
  job: EnqueueJob,
  which: "debounce" | "throttle",
  field: string,
): { key: string; ms: number; maxMs: number | null } | null {
  const option = job[which];
  if (option === undefined) return null;
  const at = `${field}.${which}`;
  if (typeof option !== "object" || option === null) {
    throw new ValidationError(`${at} must be an object: { key, ms }`, { field: at });
  }
  refuseUnknownKeys(option, which === "debounce" ? DEBOUNCE_KEYS : THROTTLE_KEYS, at);
  const beside = MADE_BY[which].filter((name) => job[name] !== undefined);
  if (beside.length > 0) {
    throw new ValidationError(`${at} cannot be given with ${beside.join(", ")}: it decides those itself`, {
      field: `${field}.${beside[0]}`,
    });
  }
  const maxMs = (option as { maxMs?: unknown }).maxMs;
  return {
    key: checkText(option.key, `${at}.key`),
    ms: checkDelayIn(option.ms, 1, "ms", at),
    maxMs: maxMs === undefined ? null : checkDelayIn(maxMs, 1, "maxMs", at),
  };
}

/**
 * The delay in milliseconds, when given as `delayMs` or as `delaySeconds`: finite, from 0 to
 * MAX_DELAY_MS, and only one of runAt, delayMs and delaySeconds.
 */
function checkDelay(job: EnqueueJob, field: string): number | null {
  const given = (["runAt", "delayMs", "delaySeconds"] as const).filter((name) => job[name] !== undefined);
  if (given.length > 1) {
    throw new ValidationError(
      `${field}: give one of runAt, delayMs and delaySeconds, not ${given.join(" and ")}`,
      {
        field: `${field}.${given[1]}`,
      },
    );
  }
  if (job.delayMs !== undefined) return checkDelayIn(job.delayMs, 1, "delayMs", field);
  if (job.delaySeconds !== undefined) return checkDelayIn(job.delaySeconds, 1000, "delaySeconds", field);
  return null;
}

/** A delay given in units of `unitMs` milliseconds, as milliseconds. */
function checkDelayIn(value: unknown, unitMs: number, name: string, field: string): number {
  const max = MAX_DELAY_MS / unitMs;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max) {
    const unit = unitMs === 1 ? "milliseconds" : "seconds";
    throw new ValidationError(
      `${field}.${name} must be a number of ${unit} from 0 to ${max} (1,000 years), got ${String(value)}`,
      { field: `${field}.${name}` },
    );
  }
  return value * unitMs;
}

function checkWhileRunning(value: unknown, field: string): "dedupe" | "after" {
  if (value === undefined || value === "dedupe" || value === "after") return value ?? "dedupe";
  throw new ValidationError(`${field}.whileRunning must be "dedupe" or "after", got ${String(value)}`, {
    field: `${field}.whileRunning`,
  });
}
