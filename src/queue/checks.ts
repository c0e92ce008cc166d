/** The queue's argument checks, and the errors its lease operations throw. */

import { LeaseLostError, ValidationError } from "../core/errors.js";
import { isUuid } from "../core/ids.js";
import { type PayloadLimits, toJson } from "../core/payload.js";
import type { Lease } from "./types.js";

export const MAX_INT = 2_147_483_647;

export function checkInteger(
  value: number | undefined,
  field: string,
  min: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > MAX_INT) {
    throw new ValidationError(`${field} must be an integer from ${min} to ${MAX_INT}, got ${value}`, {
      field,
    });
  }
  return value;
}

/**
 * A uuid[] parameter as its array literal. node-postgres escapes array elements one by one; UUIDs need
 * no escaping, and a value of any other length is refused, so no element can split into two.
 */
export function uuidArray(values: unknown[], field: string): string {
  for (const value of values) {
    if (typeof value !== "string" || value.length !== 36) {
      throw new ValidationError(`${field} must be a UUID`, { field });
    }
  }
  return `{${values.join(",")}}`;
}

export function checkLease(lease: Lease): Lease {
  if (!isUuid(lease?.id) || !isUuid(lease?.leaseToken)) {
    throw new ValidationError("a lease needs the job's id and leaseToken (UUIDs)", { field: "lease" });
  }
  return lease;
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

export function leaseLost(ids: string[], action: string): LeaseLostError {
  const error = new LeaseLostError(
    `cannot ${action} job${ids.length > 1 ? "s" : ""} ${ids.join(", ")}: the lease is no longer held (it expired and the job was claimed again, or the job was cancelled)`,
  );
  return Object.assign(error, { lost: ids });
}
