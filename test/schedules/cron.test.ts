/**
 * Cron expressions and their ticks in time zones, DST days included. No database: the ticks are
 * computed in the process (nextCronTicks is what the dispatcher uses).
 */
import { describe, expect, it } from "vitest";
import { nextCronTicks, ValidationError } from "../../src/index.js";

/** The next `count` ticks after `after`, as ISO strings. */
function ticks(cron: string, after: string, count = 5, timeZone?: string): string[] {
  return nextCronTicks(cron, { after: new Date(after), count, timeZone }).map((t) => t.toISOString());
}

/** The ticks' wall-clock times in the zone, as "YYYY-MM-DD HH:MM:SS". */
function wall(dates: string[], timeZone: string): string[] {
  const format = new Intl.DateTimeFormat("sv-SE", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  return dates.map((d) => format.format(new Date(d)));
}

const JAN1 = "2026-01-01T00:00:00Z"; // a Thursday

/** Instants written "YYYY-MM-DD HH:MM[:SS]" (UTC), as ISO strings. */
function utc(...instants: string[]): string[] {
  return instants.map((at) => new Date(`${at.replace(" ", "T")}Z`).toISOString());
}

describe("cron expressions", () => {
  it("reads values, lists, ranges and steps", () => {
    expect(ticks("5 * * * *", JAN1, 3)).toEqual(
      utc("2026-01-01 00:05", "2026-01-01 01:05", "2026-01-01 02:05"),
    );
    expect(ticks("0,20,40 9 * * *", JAN1, 4)).toEqual(
      utc("2026-01-01 09:00", "2026-01-01 09:20", "2026-01-01 09:40", "2026-01-02 09:00"),
    );
    expect(ticks("*/15 * * * *", JAN1, 3)).toEqual(
      utc("2026-01-01 00:15", "2026-01-01 00:30", "2026-01-01 00:45"),
    );
    expect(ticks("10-30/10 8-9 * * *", JAN1, 4)).toEqual(
      utc("2026-01-01 08:10", "2026-01-01 08:20", "2026-01-01 08:30", "2026-01-01 09:10"),
    );
    // "a/n": from a to the end of the field.
    expect(ticks("50/5 0 * * *", JAN1, 3)).toEqual(
      utc("2026-01-01 00:50", "2026-01-01 00:55", "2026-01-02 00:50"),
    );
    expect(ticks("0 0 1 */3 *", JAN1, 3)).toEqual(
      utc("2026-04-01 00:00", "2026-07-01 00:00", "2026-10-01 00:00"),
    );
  });

  it("reads month and weekday names, any case, and weekday 0 and 7 as Sunday", () => {
    expect(ticks("0 12 * FEB,jun *", JAN1, 2)).toEqual(utc("2026-02-01 12:00", "2026-02-02 12:00"));
    expect(ticks("0 0 * * mon-wed", JAN1, 3)).toEqual(
      utc("2026-01-05 00:00", "2026-01-06 00:00", "2026-01-07 00:00"),
    );
    const sunday = ["2026-01-04T00:00:00.000Z", "2026-01-11T00:00:00.000Z"];
    expect(ticks("0 0 * * 0", JAN1, 2)).toEqual(sunday);
    expect(ticks("0 0 * * 7", JAN1, 2)).toEqual(sunday);
    expect(ticks("0 0 * * Sun", JAN1, 2)).toEqual(sunday);
    expect(ticks("0 0 * * 5-7", JAN1, 4)).toEqual(
      utc("2026-01-02 00:00", "2026-01-03 00:00", "2026-01-04 00:00", "2026-01-09 00:00"),
    );
  });

  it("reads the macros", () => {
    expect(ticks("@hourly", JAN1, 2)).toEqual(utc("2026-01-01 01:00", "2026-01-01 02:00"));
    expect(ticks("@daily", JAN1, 1)).toEqual(utc("2026-01-02 00:00"));
    expect(ticks("@midnight", JAN1, 1)).toEqual(utc("2026-01-02 00:00"));
    expect(ticks("@weekly", JAN1, 1)).toEqual(utc("2026-01-04 00:00"));
    expect(ticks("@monthly", JAN1, 1)).toEqual(utc("2026-02-01 00:00"));
    expect(ticks("@yearly", JAN1, 1)).toEqual(utc("2027-01-01 00:00"));
    expect(ticks("@ANNUALLY", JAN1, 1)).toEqual(utc("2027-01-01 00:00"));
  });

  it("takes an optional seconds field first", () => {
    expect(ticks("*/20 * * * * *", JAN1, 4)).toEqual(
      utc("2026-01-01 00:00:20", "2026-01-01 00:00:40", "2026-01-01 00:01", "2026-01-01 00:01:20"),
    );
    expect(ticks("30 0 12 * * *", "2026-01-01T12:00:30Z", 1)).toEqual(utc("2026-01-02 12:00:30"));
  });

  it("combines day of month and day of week as Vixie cron: either when both are restricted", () => {
    // The 13th, or any Friday.
    expect(ticks("0 0 13 * fri", JAN1, 4)).toEqual(
      utc("2026-01-02 00:00", "2026-01-09 00:00", "2026-01-13 00:00", "2026-01-16 00:00"),
    );
    // Day of week starting with "*" does not widen: only the 13th.
    expect(ticks("0 0 13 * *", JAN1, 2)).toEqual(utc("2026-01-13 00:00", "2026-02-13 00:00"));
    // Day of month starting with "*" (even a step): both must hold, odd days that are Mondays.
    expect(ticks("0 0 */2 * mon", JAN1, 3)).toEqual(
      utc("2026-01-05 00:00", "2026-01-19 00:00", "2026-02-09 00:00"),
    );
  });

  it("finds rare days: the 31st, February 29th", () => {
    expect(ticks("0 0 31 * *", JAN1, 3)).toEqual(
      utc("2026-01-31 00:00", "2026-03-31 00:00", "2026-05-31 00:00"),
    );
    expect(ticks("0 0 29 feb *", JAN1, 2)).toEqual(utc("2028-02-29 00:00", "2032-02-29 00:00"));
  });

  it("moves strictly past `after`, to the second", () => {
    expect(ticks("0 0 * * *", "2026-01-01T00:00:00.000Z", 1)).toEqual(utc("2026-01-02 00:00"));
    expect(ticks("0 0 * * *", "2025-12-31T23:59:59.999Z", 1)).toEqual(utc("2026-01-01 00:00"));
    expect(ticks("* * * * *", "2026-01-01T00:00:00.500Z", 1)).toEqual(utc("2026-01-01 00:01"));
  });

  it.each([
    ["", "fields"],
    ["* * * *", "4 fields"],
    ["* * * * * * *", "7 fields"],
    ["60 * * * *", "minute"],
    ["* 24 * * *", "hour"],
    ["* * 0 * *", "day of month"],
    ["* * 32 * *", "day of month"],
    ["* * * 13 *", "month"],
    ["* * * * 8", "day of week"],
    ["* * * foo *", "month"],
    ["* * * * sunday", "day of week"],
    ["5-1 * * * *", "backwards"],
    ["*/0 * * * *", "step"],
    ["*/x * * * *", "step"],
    ["1/2/3 * * * *", "minute"],
    ["1-2-3 * * * *", "range"],
    ["1,,2 * * * *", "minute"],
    ["-1 * * * *", "minute"],
    ["1.5 * * * *", "minute"],
    ["@every 5m", "macro"],
    ["@reboot", "macro"],
    ["0 0 30 feb *", "no chosen month"],
    ["0 0 31 apr,jun *", "no chosen month"],
  ])("refuses %j (%s)", (cron, why) => {
    const refused = (() => {
      try {
        nextCronTicks(cron);
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).field).toBe("cron");
    expect((refused as Error).message).toContain(why);
  });

  it("refuses what is not a string, and unknown time zones", () => {
    expect(() => nextCronTicks(5 as unknown as string)).toThrow(ValidationError);
    expect(() => nextCronTicks("* * * * *", { timeZone: "Mars/Olympus_Mons" })).toThrow(/time zone/);
    expect(() => nextCronTicks("* * * * *", { timeZone: "Europe/Berlin\u0000" })).toThrow(ValidationError);
    expect(() => nextCronTicks("* * * * *", { timeZone: "" })).toThrow(ValidationError);
  });
});

describe("ticks in time zones", () => {
  it("reads the expression in the zone", () => {
    // 09:00 in Tokyo is midnight UTC: strictly after JAN1 comes the next day's.
    expect(ticks("0 9 * * *", JAN1, 2, "Asia/Tokyo")).toEqual(utc("2026-01-02 00:00", "2026-01-03 00:00"));
    expect(ticks("0 9 * * *", "2025-12-31T23:00:00Z", 1, "Asia/Tokyo")).toEqual(utc("2026-01-01 00:00"));
    expect(ticks("45 5 * * *", JAN1, 1, "Asia/Kolkata")).toEqual(utc("2026-01-01 00:15"));
  });

  it("New York, spring forward: a skipped 02:30 fires once, as the clock jumps to 03:00", () => {
    const daily = ticks("30 2 * * *", "2026-03-07T12:00:00Z", 3, "America/New_York");
    expect(daily).toEqual(utc("2026-03-08 07:00", "2026-03-09 06:30", "2026-03-10 06:30"));
    expect(wall(daily, "America/New_York")).toEqual([
      "2026-03-08 03:00:00",
      "2026-03-09 02:30:00",
      "2026-03-10 02:30:00",
    ]);
    // Every 15 minutes: the skipped hour's four times fire once, at 03:00, which is a tick of its own.
    const often = ticks("*/15 * * * *", "2026-03-08T06:40:00Z", 4, "America/New_York");
    expect(wall(often, "America/New_York")).toEqual([
      "2026-03-08 01:45:00",
      "2026-03-08 03:00:00",
      "2026-03-08 03:15:00",
      "2026-03-08 03:30:00",
    ]);
  });

  it("New York, fall back: a repeated 01:30 fires once, the first time", () => {
    const daily = ticks("30 1 * * *", "2026-10-31T12:00:00Z", 2, "America/New_York");
    // 01:30 EDT (05:30Z), not again at 01:30 EST (06:30Z).
    expect(daily).toEqual(utc("2026-11-01 05:30", "2026-11-02 06:30"));
    const halfHours = ticks("*/30 * * * *", "2026-11-01T04:40:00Z", 4, "America/New_York");
    expect(halfHours).toEqual(
      utc("2026-11-01 05:00", "2026-11-01 05:30", "2026-11-01 07:00", "2026-11-01 07:30"),
    );
    // Asked from inside the repeated hour (01:15 EST), the next tick is after it.
    expect(ticks("*/30 * * * *", "2026-11-01T06:15:00Z", 1, "America/New_York")).toEqual(
      utc("2026-11-01 07:00"),
    );
  });

  it("Berlin: both transitions of 2026", () => {
    expect(ticks("30 2 * * *", "2026-03-28T12:00:00Z", 2, "Europe/Berlin")).toEqual(
      utc(
        "2026-03-29 01:00", // 03:00 CEST: 02:30 never showed
        "2026-03-30 00:30",
      ),
    );
    expect(ticks("30 2 * * *", "2026-10-24T12:00:00Z", 3, "Europe/Berlin")).toEqual(
      utc(
        "2026-10-25 00:30", // 02:30 CEST, the first of two
        "2026-10-26 01:30",
        "2026-10-27 01:30",
      ),
    );
    // Hourly on the day of 25 hours: 24 ticks, each wall-clock hour once.
    const hours = ticks("0 * * * *", "2026-10-24T21:59:59Z", 24, "Europe/Berlin");
    expect(new Set(wall(hours, "Europe/Berlin").map((w) => w.slice(0, 10)))).toEqual(new Set(["2026-10-25"]));
    expect(hours.at(-1)).toBe("2026-10-25T22:00:00.000Z");
  });

  it("a zone whose clock jumps by 30 minutes (Lord Howe)", () => {
    // 2026-10-04 02:00 local becomes 02:30: 02:15 never shows, and fires at 02:30.
    const skipped = ticks("15 2 * * *", "2026-10-03T00:00:00Z", 1, "Australia/Lord_Howe");
    expect(wall(skipped, "Australia/Lord_Howe")).toEqual(["2026-10-04 02:30:00"]);
  });
});
