/** A schedule as given to `set`, checked before anything is sent: a ValidationError names the field. */

import { ValidationError } from "../core/errors.js";
import { checkOneOf, integerOption, MAX_INT, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText, type PayloadLimits, toJson } from "../core/payload.js";
import { type CronFields, parseCron } from "./cron.js";
import type { MissedTicks, ScheduleJobOptions, ScheduleTick, SetSchedule } from "./types.js";
import { checkTimeZone } from "./zones.js";

/**
 * The longest schedule name, in bytes: each job's dedupe key is `schedule:<name>:<tick>`, and a key
 * holds at most 255 bytes.
 */
export const MAX_NAME_BYTES = 200;

/** The payload key each job's `_schedule` goes under. */
export const TICK_KEY = "_schedule";

export interface CheckedSchedule {
  name: string;
  cron: string;
  fields: CronFields;
  timeZone: string;
  queue: string;
  jobName: string;
  /** The payload as JSON text. */
  payload: string;
  /** The job options as JSON text. */
  jobOptions: string;
  missed: MissedTicks;
  backfillLimit: number;
}

export function checkName(value: unknown): string {
  return checkText(value, "name", MAX_NAME_BYTES);
}

// A misspelt timeZone would tick in UTC, a misspelt missed would skip what was meant to be backfilled.
const SCHEDULE_KEYS = optionKeys<SetSchedule>({
  name: true,
  cron: true,
  timeZone: true,
  queue: true,
  jobName: true,
  payload: true,
  missed: true,
  backfillLimit: true,
  priority: true,
  maxAttempts: true,
  backoff: true,
  group: true,
});
const BACKOFF_KEYS = optionKeys<NonNullable<SetSchedule["backoff"]>>({ baseMs: true, maxMs: true });

export function checkSchedule(input: SetSchedule, limits: PayloadLimits): CheckedSchedule {
  if (typeof input !== "object" || input === null) {
    throw new ValidationError("a schedule must be an object", { field: "schedule" });
  }
  refuseUnknownKeys(input, SCHEDULE_KEYS);
  if (typeof input.backoff === "object" && input.backoff !== null) {
    refuseUnknownKeys(input.backoff, BACKOFF_KEYS, "backoff");
  }
  const name = checkName(input.name);
  const cron = checkText(input.cron, "cron", 1000);
  const payload = input.payload ?? {};
  const prototype =
    typeof payload === "object" && payload !== null ? Object.getPrototypeOf(payload) : undefined;
  // A plain object: a Date or a Map would be stored as something else (a string, {}).
  if (prototype !== Object.prototype && prototype !== null) {
    throw new ValidationError(`payload must be a JSON object; each job gets it with ${TICK_KEY} added`, {
      field: "payload",
    });
  }
  if (Object.hasOwn(payload, TICK_KEY)) {
    throw new ValidationError(`payload.${TICK_KEY} is the schedule's own: each job gets the tick there`, {
      field: `payload.${TICK_KEY}`,
    });
  }
  // Each job's payload is this one with the tick added: that must be within the limits too.
  const tick: ScheduleTick = { name, tick: new Date(0).toISOString(), backfilled: false };
  toJson({ ...payload, [TICK_KEY]: tick }, "payload", limits);
  return {
    name,
    cron,
    fields: parseCron(cron),
    timeZone: checkTimeZone(input.timeZone),
    queue: checkText(input.queue, "queue"),
    jobName: checkText(input.jobName ?? name, "jobName"),
    payload: toJson(payload, "payload", limits),
    jobOptions: JSON.stringify(checkJobOptions(input)),
    missed: checkOneOf(input.missed ?? "skip", ["skip", "backfill"], "missed"),
    backfillLimit: integerOption(input.backfillLimit, "backfillLimit", {
      min: 1,
      max: 10_000,
      fallback: 100,
    }),
  };
}

/** The job options given, checked as an enqueue would check them; the ones left out stay out. */
function checkJobOptions(input: SetSchedule): ScheduleJobOptions {
  const options: ScheduleJobOptions = {};
  if (input.priority !== undefined) {
    options.priority = integerOption(input.priority, "priority", { min: -MAX_INT, fallback: 0 });
  }
  if (input.maxAttempts !== undefined) {
    options.maxAttempts = integerOption(input.maxAttempts, "maxAttempts", { min: 1, fallback: 25 });
  }
  if (input.backoff !== undefined) {
    if (typeof input.backoff !== "object" || input.backoff === null) {
      throw new ValidationError("backoff must be an object: { baseMs, maxMs }", { field: "backoff" });
    }
    const backoff: { baseMs?: number; maxMs?: number } = {};
    if (input.backoff.baseMs !== undefined) {
      backoff.baseMs = integerOption(input.backoff.baseMs, "backoff.baseMs", { min: 0, fallback: 0 });
    }
    if (input.backoff.maxMs !== undefined) {
      backoff.maxMs = integerOption(input.backoff.maxMs, "backoff.maxMs", { min: 0, fallback: 0 });
    }
    options.backoff = backoff;
  }
  if (input.group !== undefined) options.group = checkText(input.group, "group");
  return options;
}
