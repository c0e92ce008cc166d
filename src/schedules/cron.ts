/**
 * Cron expressions, as crontab(5) writes them: five fields (minute, hour, day of month, month, day of
 * week), or six with seconds first; each field `*`, a value, a range `a-b`, a step `*\/n`, `a-b/n` or
 * `a/n`, or a list of those; months and weekdays also by their English names (jan, mon); a weekday 0 or
 * 7 is Sunday. The macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly stand
 * for their five fields. Day of month and day of week combine as Vixie cron does: when both are
 * restricted (neither starts with `*`), a day matches either; else both.
 *
 * Parsed here, in a few lines of our own: a dependency would bring its own rules for the corners
 * (L, W, #, the OR rule, time zones) that we then must document and test as ours anyway.
 */

import { ValidationError } from "../core/errors.js";

export interface CronFields {
  /** The values each field allows, sorted. */
  seconds: readonly number[];
  minutes: readonly number[];
  hours: readonly number[];
  daysOfMonth: readonly number[];
  months: readonly number[];
  /** 0 (Sunday) to 6. */
  daysOfWeek: readonly number[];
  /** Day of month was written starting with `*` (Vixie's rule: then it does not widen day of week). */
  dayOfMonthStar: boolean;
  dayOfWeekStar: boolean;
}

const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldRule {
  name: string;
  min: number;
  max: number;
  /** Names for min, min + 1, ... */
  names?: readonly string[];
}

const SECOND: FieldRule = { name: "second", min: 0, max: 59 };
const MINUTE: FieldRule = { name: "minute", min: 0, max: 59 };
const HOUR: FieldRule = { name: "hour", min: 0, max: 23 };
const DAY_OF_MONTH: FieldRule = { name: "day of month", min: 1, max: 31 };
const MONTH: FieldRule = { name: "month", min: 1, max: 12, names: MONTHS };
// 7 is Sunday too; folded into 0 once parsed.
const DAY_OF_WEEK: FieldRule = { name: "day of week", min: 0, max: 7, names: WEEKDAYS };

/** The longest expression accepted: far beyond any real one, short enough to parse in no time. */
const MAX_LENGTH = 1000;

/** The days each month can have (February in a leap year). */
const MAX_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function invalid(expression: string, why: string): ValidationError {
  return new ValidationError(`cron ${JSON.stringify(expression)} is not a cron expression: ${why}`, {
    field: "cron",
  });
}

/** Parses a cron expression; a ValidationError (field "cron") says what is wrong with a bad one. */
export function parseCron(expression: unknown): CronFields {
  if (typeof expression !== "string") {
    throw new ValidationError('cron must be a string, such as "0 3 * * *"', { field: "cron" });
  }
  if (expression.length > MAX_LENGTH) throw invalid(expression.slice(0, 40), "it is too long");
  const trimmed = expression.trim();
  const text = trimmed.startsWith("@") ? MACROS[trimmed.toLowerCase()] : trimmed;
  if (text === undefined) {
    throw invalid(expression, `unknown macro (use one of ${Object.keys(MACROS).join(", ")})`);
  }
  const parts = text.split(/[ \t]+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw invalid(expression, `it has ${parts.length} fields, not 5 (or 6, with seconds first)`);
  }
  const [second, minute, hour, dom, month, dow] = (parts.length === 6 ? parts : ["0", ...parts]) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const daysOfWeek = [...new Set(parseField(expression, dow, DAY_OF_WEEK).map((d) => d % 7))].sort(
    (a, b) => a - b,
  );
  const fields: CronFields = {
    seconds: parseField(expression, second, SECOND),
    minutes: parseField(expression, minute, MINUTE),
    hours: parseField(expression, hour, HOUR),
    daysOfMonth: parseField(expression, dom, DAY_OF_MONTH),
    months: parseField(expression, month, MONTH),
    daysOfWeek,
    dayOfMonthStar: dom.startsWith("*"),
    dayOfWeekStar: dow.startsWith("*"),
  };
  // With day of week not widening it, a day of month no chosen month has never comes ("0 0 30 2 *").
  const onlyByDayOfMonth = fields.dayOfWeekStar || fields.dayOfMonthStar;
  const someDay = fields.months.some((m) => fields.daysOfMonth.some((d) => d <= (MAX_DAYS[m - 1] ?? 0)));
  if (onlyByDayOfMonth && !someDay) throw invalid(expression, "no chosen month has the chosen days");
  return fields;
}

function parseField(expression: string, text: string, rule: FieldRule): number[] {
  const values = new Set<number>();
  for (const item of text.split(",")) {
    const [range, stepText, extra] = item.split("/");
    if (range === undefined || extra !== undefined) throw invalid(expression, `bad ${rule.name} "${item}"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1 || Number(stepText) > rule.max) {
        throw invalid(expression, `bad step in ${rule.name} "${item}"`);
      }
      step = Number(stepText);
    }
    // Day of week's 7 is another name for Sunday, not a day after Saturday.
    const top = rule === DAY_OF_WEEK ? 6 : rule.max;
    let from: number;
    let to: number;
    if (range === "*") {
      from = rule.min;
      to = top;
    } else {
      const bounds = range.split("-");
      if (bounds.length > 2) throw invalid(expression, `bad range in ${rule.name} "${item}"`);
      from = parseValue(expression, bounds[0] ?? "", rule);
      // "a/n" runs from a to the field's end, as most crons read it.
      to = bounds[1] !== undefined ? parseValue(expression, bounds[1], rule) : stepText ? top : from;
      if (to < from) throw invalid(expression, `range ${range} in ${rule.name} runs backwards`);
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

function parseValue(expression: string, text: string, rule: FieldRule): number {
  const named = rule.names?.indexOf(text.toLowerCase()) ?? -1;
  const value = named >= 0 ? named + rule.min : /^\d{1,2}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= rule.min && value <= rule.max)) {
    throw invalid(expression, `${rule.name} "${text}" is not a value from ${rule.min} to ${rule.max}`);
  }
  return value;
}

/** Whether a day (by month, day of month and weekday) is one the expression fires on. */
export function dayMatches(fields: CronFields, dayOfMonth: number, weekday: number): boolean {
  const byMonthDay = fields.daysOfMonth.includes(dayOfMonth);
  const byWeekday = fields.daysOfWeek.includes(weekday);
  if (!fields.dayOfMonthStar && !fields.dayOfWeekStar) return byMonthDay || byWeekday;
  return byMonthDay && byWeekday;
}

/**
 * The first wall-clock time after `wall` (both as milliseconds of a UTC calendar: the zone's wall time
 * read as if it were UTC) that the expression names, to the second; null when none comes within
 * `years` (an expression such as "0 0 29 2 *" fires only in leap years: 28 years see every weekday of
 * every date).
 */
export function nextWall(fields: CronFields, wall: number, years = 30): number | null {
  const start = new Date(Math.floor(wall / 1000) * 1000 + 1000);
  let y = start.getUTCFullYear();
  let mo = start.getUTCMonth() + 1;
  let d = start.getUTCDate();
  let h = start.getUTCHours();
  let mi = start.getUTCMinutes();
  let s = start.getUTCSeconds();
  const endYear = y + years;
  // Each step moves the earliest field that does not match to its next allowed value (or carries into
  // the field above), resetting the fields below: a few dozen steps find any time.
  while (y <= endYear) {
    const month = next(fields.months, mo);
    if (month === undefined) {
      [y, mo, d, h, mi, s] = [y + 1, 1, 1, 0, 0, 0];
      continue;
    }
    if (month !== mo) [mo, d, h, mi, s] = [month, 1, 0, 0, 0];
    const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
    if (d > days) {
      [mo, d, h, mi, s] = [mo + 1, 1, 0, 0, 0];
      if (mo > 12) [y, mo] = [y + 1, 1];
      continue;
    }
    if (!dayMatches(fields, d, new Date(Date.UTC(y, mo - 1, d)).getUTCDay())) {
      [d, h, mi, s] = [d + 1, 0, 0, 0];
      continue;
    }
    const hour = next(fields.hours, h);
    if (hour === undefined) {
      [d, h, mi, s] = [d + 1, 0, 0, 0];
      continue;
    }
    if (hour !== h) [h, mi, s] = [hour, 0, 0];
    const minute = next(fields.minutes, mi);
    if (minute === undefined) {
      [h, mi, s] = [h + 1, 0, 0];
      if (h > 23) [d, h] = [d + 1, 0];
      continue;
    }
    if (minute !== mi) [mi, s] = [minute, 0];
    const second = next(fields.seconds, s);
    if (second === undefined) {
      [mi, s] = [mi + 1, 0];
      if (mi > 59) [h, mi] = [h + 1, 0];
      if (h > 23) [d, h] = [d + 1, 0];
      continue;
    }
    return Date.UTC(y, mo - 1, d, h, mi, second);
  }
  return null;
}

/** The first value of `sorted` at or above `from`. */
function next(sorted: readonly number[], from: number): number | undefined {
  for (const value of sorted) if (value >= from) return value;
  return undefined;
}
