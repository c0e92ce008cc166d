/**
 * Ticks in a time zone. A cron expression names wall-clock times; a zone's clock skips some (the hour
 * lost when summer time begins) and shows others twice (the hour repeated when it ends). The rules:
 * - a wall time the clock skips fires once, at the instant the clock jumps (02:30 on the day New York
 *   springs forward fires at 03:00 EDT); several skipped times (every 15 minutes) fire once there;
 * - a wall time the clock shows twice fires once, the first time (01:30 on the day New York falls back
 *   fires at 01:30 EDT, not again at 01:30 EST). So an expression firing every few minutes pauses for
 *   the repeated hour: for fixed intervals whatever the season, use UTC.
 * Zones are the IANA names that `Intl` knows (the runtime's own time zone data).
 */

import { ValidationError } from "../core/errors.js";
import { type CronFields, nextWall } from "./cron.js";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, format);
  }
  return format;
}

/** An IANA time zone name `Intl` knows (default UTC); a ValidationError (field "timeZone") if not. */
export function checkTimeZone(value: unknown): string {
  if (value === undefined) return "UTC";
  if (typeof value !== "string" || value.length === 0 || value.length > 100 || value.includes("\u0000")) {
    throw new ValidationError('timeZone must be an IANA time zone name, such as "Europe/Berlin"', {
      field: "timeZone",
    });
  }
  try {
    formatter(value);
  } catch {
    throw new ValidationError(`timeZone ${JSON.stringify(value)} is not a time zone this runtime knows`, {
      field: "timeZone",
    });
  }
  return value;
}

/** The zone's wall-clock time at `instant` (to the second), as milliseconds of a UTC calendar. */
export function wallAt(zone: string, instant: number): number {
  const at = Math.floor(instant / 1000) * 1000;
  if (zone === "UTC") return at;
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(at)) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  const wall = new Date(0);
  // setUTCFullYear, not Date.UTC: that one reads years 0 to 99 as 1900 to 1999.
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second, 0);
  return wall.getTime();
}

const DAY_MS = 86_400_000;

/**
 * The instant the zone's clock first shows `wall`; for a wall time it skips, the instant it jumps past
 * it. Real zones change their offset at most once in two days, so the offsets a day either side are
 * the only candidates.
 */
export function instantOf(zone: string, wall: number): number {
  if (zone === "UTC") return wall;
  const offsets = [...new Set([wall - DAY_MS, wall + DAY_MS].map((at) => wallAt(zone, at) - at))];
  const shown = offsets.map((offset) => wall - offset).filter((at) => wallAt(zone, at) === wall);
  if (shown.length > 0) return Math.min(...shown);
  // Skipped: the clock reads before `wall` at the earlier candidate and after it at the later one. The
  // first second it reads later than `wall` is when it jumped.
  let [before, after] = offsets.map((offset) => wall - offset).sort((a, b) => a - b) as [number, number];
  while (after - before > 1000) {
    const middle = before + Math.floor((after - before) / 2000) * 1000;
    if (wallAt(zone, middle) > wall) after = middle;
    else before = middle;
  }
  return after;
}

/**
 * The schedule's first tick after `after`: the instant of the first wall-clock time the expression
 * names that comes later (see the rules above); null when none comes within 30 years.
 */
export function nextTick(fields: CronFields, zone: string, after: Date): Date | null {
  const instant = after.getTime();
  let wall: number | null = wallAt(zone, instant);
  // A wall time is taken once, at its first instant: after the clock fell back, the repeated times
  // have fired already, and skipped times that jumped to one instant fired there once. At most an
  // hour of candidates is passed over.
  for (;;) {
    wall = nextWall(fields, wall);
    if (wall === null) return null;
    const at = instantOf(zone, wall);
    if (at > instant) return new Date(at);
  }
}

/**
 * The ticks from `from` (a tick, included) up to `until` (included): the last `limit` of them, oldest
 * first. Only a window before `until` is walked, widened until it holds `limit` ticks or reaches
 * `from`, so a schedule of every second left for a year costs no more than one left for a minute.
 */
export function ticksUntil(fields: CronFields, zone: string, from: Date, until: Date, limit: number): Date[] {
  for (let span = 60_000; ; span *= 4) {
    const start = until.getTime() - span;
    const walkedAll = start <= from.getTime();
    const ticks: Date[] = [];
    let seen = 0;
    let tick = walkedAll ? from : nextTick(fields, zone, new Date(start));
    for (; tick && tick <= until; tick = nextTick(fields, zone, tick)) {
      ticks.push(tick);
      seen += 1;
      if (ticks.length > limit) ticks.shift();
    }
    if (walkedAll || seen >= limit) return ticks;
  }
}
