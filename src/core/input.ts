/**
 * Checks on caller input shared by the workflow-state repositories and the queue. Each failure is a
 * ValidationError naming the field, thrown before any statement is sent. Also how a thrown value a
 * caller hands over (a failed job's or step's error) becomes JSON that can always be stored.
 */

import type { Queryable } from "../db/driver.js";
import { ValidationError } from "./errors.js";
import { isUuid, uuidv7 } from "./ids.js";
import { checkText, type PayloadLimits, toJson } from "./payload.js";

/**
 * A UUID, in lower case: the way PostgreSQL returns it, so a batch can find its rows again by the id
 * it sent (an upper-case id would otherwise match no returned row).
 */
export function checkId(value: unknown, field: string): string {
  if (!isUuid(value)) {
    const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 64)) : typeof value;
    throw new ValidationError(`${field} must be a UUID, got ${shown}`, { field });
  }
  return value.toLowerCase();
}

/** The caller's id, or a fresh UUIDv7 when none is given. */
export function idOrNew(value: unknown, field: string): string {
  return value === undefined || value === null ? uuidv7() : checkId(value, field);
}

export function optionalId(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : checkId(value, field);
}

/** Limits are in bytes of UTF-8 (see checkText). */
export function optionalText(value: unknown, field: string, maxBytes = 255): string | null {
  return value === undefined || value === null ? null : checkText(value, field, maxBytes);
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

export function checkInteger(
  value: unknown,
  field: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ValidationError(`${field} must be an integer ${range}, got ${String(value)}`, { field });
  }
  return value;
}

/** The largest int4, the type of the queue's numbers (and of step numbers and stream positions). */
export const MAX_INT = 2_147_483_647;

/**
 * An integer option that may be left out: `fallback` when it is (undefined), else checked as by
 * checkInteger, up to the largest int4 unless `max` says otherwise.
 */
export function integerOption(
  value: unknown,
  field: string,
  { min, fallback, max = MAX_INT }: { min: number; fallback: number; max?: number },
): number {
  return value === undefined ? fallback : checkInteger(value, field, min, max);
}

/** An expectedVersion, when given; `undefined` and `null` mean "no compare-and-set". */
export function optionalVersion(value: unknown): number | null {
  return value === undefined || value === null ? null : checkInteger(value, "expectedVersion", 0);
}

/**
 * The longest TTL: 1,000 years. Now plus that is a valid Date (JavaScript's last is in the year
 * 275760) and a valid timestamptz (PostgreSQL's last is in 294276), with room to spare for any clock.
 */
export const MAX_TTL_MS = 1000 * 365.25 * 24 * 60 * 60 * 1000;

/** A ttlMs, when given: a positive number of milliseconds (whole ones when `integer`) up to MAX_TTL_MS. */
export function optionalTtl(value: unknown, integer: boolean): number | null {
  if (value === undefined) return null;
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    value > 0 &&
    value <= MAX_TTL_MS &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    throw new ValidationError(
      `ttlMs must be a positive ${integer ? "integer " : ""}number of milliseconds, at most ${MAX_TTL_MS} (1,000 years); got ${String(value)}`,
      { field: "ttlMs" },
    );
  }
  return value as number;
}

export function checkLimit(value: unknown, fallback: number, max = 1000): number {
  if (value === undefined) return fallback;
  checkInteger(value, "limit", 1);
  if ((value as number) > max) throw new ValidationError(`limit must be at most ${max}`, { field: "limit" });
  return value as number;
}

/**
 * The dates accepted: years 1000 to 9999 (UTC). Both drivers read these back as written; PGlite reads
 * a year below 100 as 19xx or 20xx, and timestamptz ends in 294276 while a Date goes on to 275760.
 */
export const MIN_DATE = new Date("1000-01-01T00:00:00.000Z");
export const MAX_DATE = new Date("9999-12-31T23:59:59.999Z");

export function isStorableDate(value: unknown): value is Date {
  return (
    value instanceof Date &&
    !Number.isNaN(value.getTime()) &&
    value.getTime() >= MIN_DATE.getTime() &&
    value.getTime() <= MAX_DATE.getTime()
  );
}

export function checkDate(value: unknown, field: string): Date {
  if (!isStorableDate(value)) {
    throw new ValidationError(`${field} must be a valid Date from the year 1000 to 9999`, { field });
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

// Refusing option keys nobody reads. From JavaScript, or with options built at run time, a misspelt
// key (`conection`, `concurency`) would otherwise be ignored without a word: a store opened embedded
// where PostgreSQL was meant, a worker at the default concurrency. Checked before anything is
// written or connected.

/**
 * The keys an options object may have, made once per kind of options (a Set: one lookup a key). Given
 * as a record of every key of `T`, so the compiler says when an option is added and not listed here.
 */
export function optionKeys<T extends object>(keys: Record<keyof T, true>): ReadonlySet<string> {
  return new Set(Object.keys(keys));
}

/**
 * Throws a ValidationError naming the first own key of `options` not in `known`, and the known key
 * nearest to it when one is close. `what` prefixes the field (`pool`, `jobs[3]`); empty for none.
 * Costs one Set lookup per key and allocates nothing when every key is known.
 */
export function refuseUnknownKeys(options: object, known: ReadonlySet<string>, what = ""): void {
  for (const key in options) {
    if (!Object.hasOwn(options, key) || known.has(key)) continue;
    const field = what ? `${what}.${key}` : key;
    const near = nearest(key, known);
    const hint = near === undefined ? "" : ` (did you mean ${what ? `${what}.` : ""}${near}?)`;
    throw new ValidationError(`unknown option ${field}${hint}`, { field });
  }
}

/**
 * The known key a misspelling most likely meant: the nearest within a third of its length in edits
 * (at least 1), or one it begins (a unit left out: `delay` for `delayMs`).
 */
function nearest(key: string, known: ReadonlySet<string>): string | undefined {
  const lower = key.toLowerCase();
  const within = Math.max(1, Math.floor(key.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    const distance = editDistance(lower, other);
    if ((distance <= within || other.startsWith(lower)) && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Edit distance where two neighbours swapped count as one edit, as one typo (optimal string
 * alignment): `nmae` is one edit from `name`, not two, so short keys find their name too.
 */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (before[j - 2] as number) + 1);
      }
      current[j] = best;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/** The longest text of an error's name, message or stack kept, in UTF-16 units. */
const ERROR_TEXT_MAX = 64 * 1024;

/** A property of a thrown value, or undefined where reading it throws (a getter, a revoked Proxy). */
function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** Any value as text, even one String() refuses (an object without a prototype, a revoked Proxy). */
function asText(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return String(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return "(a value that cannot be shown as text)";
    }
  }
}

/**
 * The first `max` UTF-16 units of `text`, never half a surrogate pair (a character cut in two goes
 * whole), with NUL, which jsonb refuses, as U+FFFD.
 */
function cut(text: string, max: number): string {
  let kept = text;
  if (text.length > max) {
    const split = max > 0 && /^[\uD800-\uDBFF][\uDC00-\uDFFF]$/.test(text.slice(max - 1, max + 1));
    kept = text.slice(0, split ? max - 1 : max);
  }
  return kept.replaceAll("\u0000", "\uFFFD");
}

/**
 * What is recorded of a thrown value: an Error's name, message and stack, or an object carrying a
 * string message as it is (`whole`, when JSON can hold it), or anything else as text.
 */
function errorParts(error: unknown): { whole?: object; parts: Record<string, string> } {
  try {
    if (error instanceof Error) {
      const text = (key: string) => {
        const value = read(error, key);
        return value === undefined ? undefined : asText(value);
      };
      const name = text("name");
      const stack = text("stack");
      return {
        parts: {
          ...(name === undefined ? {} : { name }),
          message: text("message") ?? "",
          ...(stack ? { stack } : {}),
        },
      };
    }
    if (typeof error === "object" && error !== null) {
      const message = read(error, "message");
      if (typeof message === "string") return { whole: error, parts: { message } };
    }
  } catch {
    // instanceof on a revoked Proxy throws: it is recorded as text, below.
  }
  return { parts: { message: asText(error) } };
}

/**
 * A handler's error as JSON that can always be stored: a failure must be recorded whatever was thrown,
 * even when it holds what jsonb refuses (NUL characters, BigInts, lone surrogates), reading it throws,
 * or it is over the store's JSON limit. Never throws. Name, message and stack are shortened alike
 * until the record fits the limit; under a limit too small for any of them, the record is an empty
 * message, or `{}`.
 */
export function errorJson(error: unknown, limits: PayloadLimits): string {
  // JSON.stringify writes a lone surrogate as a \uD800-\uDFFF escape, which jsonb refuses; a pair it
  // writes as is. So each such escape (after an even run of backslashes, or it is text, not an
  // escape) becomes U+FFFD, as a UTF-8 encoder would make it. Same length: the size check stands.
  const json = (value: unknown): string | undefined => {
    try {
      return toJson(value, "error", limits, { loneSurrogates: "escape" }).replace(
        /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/gi,
        "$1\\ufffd",
      );
    } catch {
      return undefined;
    }
  };
  const { whole, parts } = errorParts(error);
  const asItIs = whole === undefined ? undefined : json(whole);
  if (asItIs !== undefined) return asItIs;
  // Halving the kept length finds a record that fits in at most 17 tries.
  for (let max = ERROR_TEXT_MAX; max >= 1; max = Math.floor(max / 2)) {
    const shortened = Object.fromEntries(Object.entries(parts).map(([key, text]) => [key, cut(text, max)]));
    const text = json(shortened);
    if (text !== undefined) return text;
  }
  return json({ message: "" }) ?? "{}";
}
