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
  const clean = (text: string) => text.replaceAll("\u0000", "\uFFFD").slice(0, 64 * 1024);
  if (error instanceof Error) {
    return toJson(
      {
        name: error.name,
        message: clean(error.message),
        ...(error.stack ? { stack: clean(error.stack) } : {}),
      },
      "error",
      limits,
    );
  }
  if (typeof error === "object" && error !== null && typeof (error as JobError).message === "string") {
    try {
      return toJson(error, "error", limits);
    } catch {
      return toJson({ message: clean((error as JobError).message) }, "error", limits);
    }
  }
  return toJson({ message: clean(String(error)) }, "error", limits);
}

export function leaseLost(ids: string[], action: string): LeaseLostError {
  const error = new LeaseLostError(
    `cannot ${action} job${ids.length > 1 ? "s" : ""} ${ids.join(", ")}: the lease is no longer held (it expired and the job was claimed again, or the job was cancelled)`,
  );
  return Object.assign(error, { lost: ids });
}
