/**
 * Checks on caller input shared by the workflow-state repositories. Each failure is a ValidationError
 * naming the field, thrown before any statement is sent.
 */

import type { Queryable } from "../db/driver.js";
import { ValidationError } from "../errors.js";
import { isUuid, uuidv7 } from "../ids.js";
import { checkText } from "../payload.js";

export function checkId(value: unknown, field: string): string {
  if (!isUuid(value))
    throw new ValidationError(`${field} must be a UUID, got ${JSON.stringify(value)}`, { field });
  return value;
}

/** The caller's id, or a fresh UUIDv7 when none is given. */
export function idOrNew(value: unknown, field: string): string {
  return value === undefined || value === null ? uuidv7() : checkId(value, field);
}

export function optionalId(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : checkId(value, field);
}

export function optionalText(value: unknown, field: string, maxLength = 255): string | null {
  return value === undefined || value === null ? null : checkText(value, field, maxLength);
}

export function checkOneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new ValidationError(`${field} must be one of ${allowed.join(", ")}; got ${JSON.stringify(value)}`, {
      field,
    });
  }
  return value as T;
}

/** One value or a list of them, as a non-empty array for `= any($n)`. */
export function checkOneOrMany<T extends string>(
  value: T | readonly T[],
  allowed: readonly T[],
  field: string,
): T[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new ValidationError(`${field} must not be an empty list`, { field });
  return list.map((item) => checkOneOf(item, allowed, field));
}

export function checkInteger(value: unknown, field: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new ValidationError(`${field} must be an integer >= ${min}, got ${String(value)}`, { field });
  }
  return value;
}

/** An expectedVersion, when given; `undefined` and `null` mean "no compare-and-set". */
export function optionalVersion(value: unknown): number | null {
  return value === undefined || value === null ? null : checkInteger(value, "expectedVersion", 0);
}

export function checkLimit(value: unknown, fallback: number, max = 1000): number {
  if (value === undefined) return fallback;
  checkInteger(value, "limit", 1);
  if ((value as number) > max) throw new ValidationError(`limit must be at most ${max}`, { field: "limit" });
  return value as number;
}

export function checkDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new ValidationError(`${field} must be a valid Date`, { field });
  }
  return value;
}

export function optionalDate(value: unknown, field: string): Date | null {
  return value === undefined || value === null ? null : checkDate(value, field);
}

/** Row locks last until the transaction ends; outside one, `for update` would lock for a single statement. */
export function requireTransaction(db: Queryable, method: string): void {
  if (!db.inTransaction) {
    throw new ValidationError(
      `${method} takes a row lock, which only means something inside store.transaction(async (tx) => tx.${method}(...))`,
      { field: "transaction" },
    );
  }
}

/** Rejects a batch naming one key twice: one statement cannot insert and then update the same row. */
export function checkDistinct(keys: readonly string[], field: string): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) throw new ValidationError(`${field} ${key} appears twice in one batch`, { field });
    seen.add(key);
  }
}
