/** A schedule's row as the database returns it, and as callers see it. */

import type { MissedTicks, Schedule, ScheduleJobOptions } from "./types.js";

export interface ScheduleRow {
  name: string;
  cron: string;
  time_zone: string;
  queue: string;
  job_name: string;
  payload: Record<string, unknown>;
  job_options: ScheduleJobOptions;
  missed: MissedTicks;
  backfill_limit: number;
  next_run_at: Date;
  last_run_at: Date | null;
  last_dispatched_at: Date | null;
  paused_at: Date | null;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

export const COLUMNS =
  "name, cron, time_zone, queue, job_name, payload, job_options, missed, backfill_limit, next_run_at, " +
  "last_run_at, last_dispatched_at, paused_at, version, created_at, updated_at";

export function toSchedule(row: ScheduleRow): Schedule {
  return {
    name: row.name,
    cron: row.cron,
    timeZone: row.time_zone,
    queue: row.queue,
    jobName: row.job_name,
    payload: row.payload,
    missed: row.missed,
    backfillLimit: row.backfill_limit,
    jobOptions: row.job_options,
    nextRunAt: row.next_run_at,
    lastRunAt: row.last_run_at,
    lastDispatchedAt: row.last_dispatched_at,
    pausedAt: row.paused_at,
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
