/** The queue's own argument checks (leases), and the error its lease operations throw. */

import { LeaseLostError, ValidationError } from "../core/errors.js";
import { isUuid } from "../core/ids.js";
import type { Lease } from "./types.js";

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

export function leaseLost(ids: string[], action: string): LeaseLostError {
  const error = new LeaseLostError(
    `cannot ${action} job${ids.length > 1 ? "s" : ""} ${ids.join(", ")}: the lease is no longer held (it expired and the job was claimed again, or the job was cancelled)`,
  );
  return Object.assign(error, { lost: ids });
}
