/** The queue's argument checks, and the errors its lease operations throw. */

import { LeaseLostError, ValidationError } from "../errors.js";
import { isUuid } from "../ids.js";
import { type PayloadLimits, toJson } from "../payload.js";
import type { JobError, Lease } from "./types.js";

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

/**
 * A handler's error as JSON that can always be stored: a failure must be recorded even when the error
 * holds what JSONB refuses (NUL characters, BigInts) or is huge.
 */
export function errorJson(error: unknown, limits: PayloadLimits): string {
  const max = 64 * 1024;
  // The first 64 Ki UTF-16 units, but never half a surrogate pair: a character cut in two goes whole.
  const clean = (text: string) => {
    const whole = text.replaceAll("\u0000", "\uFFFD");
    if (whole.length <= max) return whole;
    const split = /^[\uD800-\uDBFF][\uDC00-\uDFFF]$/.test(whole.slice(max - 1, max + 1));
    return whole.slice(0, split ? max - 1 : max);
  };
  // JSON.stringify writes a lone surrogate as a \uD800-\uDFFF escape, which jsonb refuses; a pair it
  // writes as is. So each such escape (after an even run of backslashes, or it is text, not an
  // escape) becomes U+FFFD, as a UTF-8 encoder would make it. Same length: the size check stands.
  const json = (value: unknown) =>
    toJson(value, "error", limits, { loneSurrogates: "escape" }).replace(
      /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/gi,
      "$1\\ufffd",
    );
  if (error instanceof Error) {
    return json({
      name: error.name,
      message: clean(error.message),
      ...(error.stack ? { stack: clean(error.stack) } : {}),
    });
  }
  if (typeof error === "object" && error !== null && typeof (error as JobError).message === "string") {
    try {
      return json(error);
    } catch {
      return json({ message: clean((error as JobError).message) });
    }
  }
  return json({ message: clean(String(error)) });
}

export function leaseLost(ids: string[], action: string): LeaseLostError {
  const error = new LeaseLostError(
    `cannot ${action} job${ids.length > 1 ? "s" : ""} ${ids.join(", ")}: the lease is no longer held (it expired and the job was claimed again, or the job was cancelled)`,
  );
  return Object.assign(error, { lost: ids });
}
