/**
 * A range of time as a range of UUIDv7 ids: the lowest id of its first millisecond, up to (not
 * including) the lowest of the millisecond it ends at. The same as the schema's uuid_floor().
 */

const MAX_MS = 2 ** 48 - 1;

export function uuidFloor(at: Date): string {
  const ms = Math.min(Math.max(Math.floor(at.getTime()), 0), MAX_MS);
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** The time a UUIDv7 was made (its first 48 bits); for another kind of id, whatever they say. */
export function uuidTime(id: string): Date {
  return new Date(Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16));
}

const DAY_MS = 86_400_000;

/** The start of the UTC day `at` falls in. */
export function startOfDay(at: Date): Date {
  return new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);
}

export function addDays(at: Date, days: number): Date {
  return new Date(at.getTime() + days * DAY_MS);
}

/** A range's name, the suffix of its partitions' names: the UTC day it starts, as 20261124. */
export function rangeName(startsAt: Date): string {
  return startsAt.toISOString().slice(0, 10).replaceAll("-", "");
}
