/**
 * Checks done before anything is sent: JSON payloads must be representable in JSONB and within the
 * size limit, text must not hold NUL (PostgreSQL text cannot). A failure is a ValidationError naming
 * the field, and nothing is written.
 */

import { ValidationError } from "./errors.js";

export interface PayloadLimits {
  /** Largest serialized JSON value per field, in bytes (default 4 MiB). */
  jsonBytes: number;
}

export const DEFAULT_LIMITS: Readonly<PayloadLimits> = Object.freeze({ jsonBytes: 4 * 1024 * 1024 });

/**
 * Serializes `value` for a JSONB parameter. Rejects what JSON cannot hold faithfully: BigInt,
 * functions, symbols, cycles, NaN and ±Infinity (JSON.stringify would quietly write null), and
 * `undefined` at the top level; `\u0000` in any string (JSONB refuses it). Dates become ISO strings.
 */
export function toJson(value: unknown, field: string, limits: PayloadLimits = DEFAULT_LIMITS): string {
  if (value === undefined)
    throw new ValidationError(`${field} is undefined; use null for "no value"`, { field });
  const seen = new Set<object>();
  const check = (v: unknown, path: string): void => {
    switch (typeof v) {
      case "bigint":
        throw new ValidationError(`${path} is a BigInt, which JSON cannot hold; convert it to a string`, {
          field,
        });
      case "function":
      case "symbol":
        throw new ValidationError(`${path} is a ${typeof v}, which JSON cannot hold`, { field });
      case "number":
        if (!Number.isFinite(v))
          throw new ValidationError(`${path} is ${v}, which JSON cannot hold`, { field });
        return;
      case "string":
        if (v.includes("\u0000")) throw new ValidationError(`${path} contains a NUL character`, { field });
        return;
      case "object": {
        if (v === null || v instanceof Date) return;
        if (v instanceof Map || v instanceof Set) {
          throw new ValidationError(`${path} is a ${v.constructor.name}, which JSON would store as {}`, {
            field,
          });
        }
        if (seen.has(v)) throw new ValidationError(`${path} contains a cycle`, { field });
        const toJSON = (v as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === "function") {
          check(toJSON.call(v), path);
          return;
        }
        seen.add(v);
        if (Array.isArray(v)) {
          for (const [i, item] of v.entries()) check(item, `${path}[${i}]`);
        } else {
          for (const [key, item] of Object.entries(v)) {
            if (key.includes("\u0000"))
              throw new ValidationError(`${path} has a key with a NUL character`, { field });
            check(item, `${path}.${key}`);
          }
        }
        seen.delete(v);
        return;
      }
      default:
        return;
    }
  };
  check(value, field);
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.jsonBytes) {
    throw new ValidationError(`${field} is ${bytes} bytes of JSON, over the limit of ${limits.jsonBytes}`, {
      field,
    });
  }
  return text;
}

/** Same as toJson, but `undefined` and `null` both mean SQL NULL. */
export function toJsonOrNull(value: unknown, field: string, limits?: PayloadLimits): string | null {
  return value === undefined || value === null ? null : toJson(value, field, limits);
}

/** A non-empty string without NUL, at most `maxLength` characters. */
export function checkText(value: unknown, field: string, maxLength = 255): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new ValidationError(`${field} must be a non-empty string`, { field });
  }
  if (value.length > maxLength) {
    throw new ValidationError(`${field} is ${value.length} characters, over the limit of ${maxLength}`, {
      field,
    });
  }
  if (value.includes("\u0000")) throw new ValidationError(`${field} contains a NUL character`, { field });
  return value;
}
