/**
 * Checks done before anything is sent: JSON payloads must be representable in JSONB and within the
 * size and nesting limits, text must not hold NUL (PostgreSQL text cannot) nor a lone surrogate (UTF-8
 * cannot: the driver would write U+FFFD, and two different keys would become one). A failure is a
 * ValidationError naming the field, and nothing is written.
 */

import { ValidationError } from "./errors.js";

export interface PayloadLimits {
  /** Largest serialized JSON value (or byte value: a step's output, a stream chunk) per field, in bytes (default 4 MiB). */
  jsonBytes: number;
  /**
   * Values over this many bytes (serialized JSON, or bytes) are kept in the blob store and referenced
   * from their row: event payloads, step outputs and execution state. Read back transparently, removed
   * with their run. Default: none (every value stays in its row).
   */
  offloadAbove?: number;
}

export const DEFAULT_LIMITS: Readonly<PayloadLimits> = Object.freeze({ jsonBytes: 4 * 1024 * 1024 });

/** The limits of a store's options, checked: whole numbers of bytes, offloadAbove at least 1 KiB. */
export function checkLimits(given: Partial<PayloadLimits> | undefined): PayloadLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  if (!Number.isSafeInteger(limits.jsonBytes) || limits.jsonBytes < 1) {
    throw new ValidationError("limits.jsonBytes must be a whole number of bytes, at least 1", {
      field: "limits.jsonBytes",
    });
  }
  const offload = limits.offloadAbove;
  if (offload !== undefined && (!Number.isSafeInteger(offload) || offload < 1024)) {
    // Below a kilobyte a blob's own row and chunk would outweigh the value they take out of the row.
    throw new ValidationError("limits.offloadAbove must be a whole number of bytes, at least 1024", {
      field: "limits.offloadAbove",
    });
  }
  return limits;
}

/**
 * The deepest JSON value accepted: arrays and objects nested at most this many levels (a scalar at the
 * top is depth 0). PostgreSQL has no fixed jsonb depth, only its stack limit (max_stack_depth), which
 * a few thousand levels can reach; 1,000 stays well inside it, and inside Node's own stack.
 */
export const MAX_JSON_DEPTH = 1000;

/** True when `text` holds a surrogate code unit that is not half of a pair. */
export function hasLoneSurrogate(text: string): boolean {
  // The engine's own test (ES2024), not a pattern run at each call: every name and key is checked so.
  return !(text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/**
 * An escape JSON.stringify writes for a NUL or a lone surrogate, both of which jsonb refuses (a pair it
 * writes as the character itself). After an odd run of backslashes it is text: an escaped backslash,
 * then "u0000".
 */
const REFUSED_ESCAPE = /(?<!\\)(?:\\\\)*\\u(0000|d[89a-f][0-9a-f]{2})/i;

/**
 * Whether `json` has a `\u` escape at all, which both patterns above need: most text has none, and a
 * search for two characters costs less than the patterns' look-behind at every backslash.
 */
function hasEscape(json: string): boolean {
  return json.includes("\\u") || json.includes("\\U");
}

/** What in JSON.stringify's output jsonb would refuse: a NUL, a lone surrogate, or nothing. */
export function jsonbRefuses(json: string): "NUL" | "lone surrogate" | undefined {
  const found = hasEscape(json) ? REFUSED_ESCAPE.exec(json) : null;
  if (!found) return undefined;
  return found[1] === "0000" ? "NUL" : "lone surrogate";
}

/** The reason `text` cannot be stored as PostgreSQL text, if any. */
function badCharacter(text: string, loneSurrogates: "refuse" | "escape" = "refuse"): string | undefined {
  if (text.includes("\u0000")) return "a NUL character";
  if (loneSurrogates === "refuse" && hasLoneSurrogate(text)) {
    return "a lone surrogate (half of a UTF-16 pair), which UTF-8 cannot hold";
  }
  return undefined;
}

export interface JsonOptions {
  /**
   * "refuse" (the default) throws on a lone surrogate; "escape" lets JSON.stringify write it as a
   * \uD800-\uDFFF escape, for a caller that replaces those escapes itself (a job's error is stored
   * whatever text it holds).
   */
  loneSurrogates?: "refuse" | "escape";
}

/**
 * Serializes `value` for a JSONB parameter. Rejects what JSON cannot hold faithfully: BigInt,
 * functions, symbols, cycles, NaN and ±Infinity (JSON.stringify would quietly write null), and
 * `undefined` at the top level; `\u0000` or a lone surrogate in any string or key (JSONB refuses
 * both); nesting deeper than MAX_JSON_DEPTH. Dates become ISO strings. The walk is bounded by the depth
 * limit, so no value can overflow the stack.
 */
export function toJson(
  value: unknown,
  field: string,
  limits: PayloadLimits = DEFAULT_LIMITS,
  options: JsonOptions = {},
): string {
  return serialized(value, field, limits, options, plainJson(value, 0, UNBOUNDED) > 0);
}

/**
 * toJson's text of `value`, or undefined where its strings and keys alone, each with its quotes, are
 * `maxLength` characters or more: found by the walk that checks the value, which stops there, before
 * any JSON is made. For a caller that wants a value's JSON whole only while it is short.
 */
export function toShortJson(
  value: unknown,
  field: string,
  limits: PayloadLimits,
  maxLength: number,
): string | undefined {
  const left = plainJson(value, 0, maxLength);
  if (left !== NOT_PLAIN && left <= 0) return undefined;
  return serialized(value, field, limits, {}, left !== NOT_PLAIN);
}

/**
 * toJson's text of a value plainJson walked (`plain`: it found nothing JSON.stringify would drop or
 * change; undefined, which that walk passes, is refused here). The common case costs one search of the
 * text for what jsonb refuses in strings and keys (JSON.stringify writes both as escapes); anything
 * found, or a value not plain, is walked again by explain(), which names where it is.
 */
function serialized(
  value: unknown,
  field: string,
  limits: PayloadLimits,
  options: JsonOptions,
  plain: boolean,
): string {
  if (value === undefined)
    throw new ValidationError(`${field} is undefined; use null for "no value"`, { field });
  if (plain) {
    const text = JSON.stringify(value);
    const refused = options.loneSurrogates === "escape" ? NUL_ESCAPE : REFUSED_ESCAPE;
    if (!hasEscape(text) || !refused.test(text)) return checkJsonSize(text, field, limits);
  }
  explain(value, field, options);
  return checkJsonSize(JSON.stringify(value), field, limits);
}

/** An escape JSON.stringify writes for a NUL (see REFUSED_ESCAPE). */
const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;

/** plainJson's answer for a value JSON.stringify would drop or change. */
const NOT_PLAIN = Number.NEGATIVE_INFINITY;
/**
 * plainJson's length for a walk that counts none: more than any JavaScript string holds, and a small
 * integer to V8, so that counting down from it stays integer arithmetic.
 */
const UNBOUNDED = 2 ** 30 - 1;

/**
 * Whether JSON.stringify keeps `v` as it is, strings aside: no value it drops or changes, not too deep.
 * Returns NOT_PLAIN where it would, else `left` less the length of `v`'s strings and keys with their
 * quotes; it stops once that is 0 or less (toShortJson's value too long), having looked no further.
 * An object with a toJSON of its own other than a Date's is left to explain(). A cycle keeps no set of
 * the objects above: it goes MAX_JSON_DEPTH deep and fails there, and explain() names it. Run on every
 * value written, so it is quick where values are plain: a plain object (of Object.prototype) can be no
 * Date, Map or Set, and its keys are walked without making an array of them (for...in; an inherited
 * key it also walks can only make it say NOT_PLAIN, and explain(), which walks own keys alone, decides).
 */
function plainJson(v: unknown, depth: number, left: number): number {
  switch (typeof v) {
    case "string":
      return left - v.length - 2;
    case "boolean":
    case "undefined":
      return left;
    case "number":
      return Number.isFinite(v) ? left : NOT_PLAIN;
    case "object": {
      if (v === null) return left;
      const plainObject = Object.getPrototypeOf(v) === Object.prototype;
      if (!plainObject && v instanceof Date) return left;
      if (depth >= MAX_JSON_DEPTH || (!plainObject && (v instanceof Map || v instanceof Set))) {
        return NOT_PLAIN;
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === "function") return NOT_PLAIN;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length && left > 0; i++) left = plainJson(v[i], depth + 1, left);
        return left;
      }
      const object = v as Record<string, unknown>;
      for (const key in object) {
        left = plainJson(object[key], depth + 1, left - key.length - 3);
        if (left <= 0) return left;
      }
      return left;
    }
    default:
      // bigint, function, symbol
      return NOT_PLAIN;
  }
}

/** toJson's refusal of `value` as a ValidationError that names where it is (returns when none). */
function explain(value: unknown, field: string, options: JsonOptions): void {
  const seen = new Set<object>();
  const check = (v: unknown, path: string, depth: number): void => {
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
      case "string": {
        const bad = badCharacter(v, options.loneSurrogates);
        if (bad) throw new ValidationError(`${path} contains ${bad}`, { field });
        return;
      }
      case "object": {
        if (v === null || v instanceof Date) return;
        if (depth >= MAX_JSON_DEPTH) {
          throw new ValidationError(`${field} is nested more than ${MAX_JSON_DEPTH} levels deep`, { field });
        }
        if (v instanceof Map || v instanceof Set) {
          throw new ValidationError(`${path} is a ${v.constructor.name}, which JSON would store as {}`, {
            field,
          });
        }
        if (seen.has(v)) throw new ValidationError(`${path} contains a cycle`, { field });
        const toJSON = (v as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === "function") {
          check(toJSON.call(v), path, depth + 1);
          return;
        }
        seen.add(v);
        if (Array.isArray(v)) {
          for (const [i, item] of v.entries()) check(item, `${path}[${i}]`, depth + 1);
        } else {
          for (const [key, item] of Object.entries(v)) {
            const bad = badCharacter(key, options.loneSurrogates);
            if (bad) throw new ValidationError(`${path} has a key with ${bad}`, { field });
            check(item, `${path}.${key}`, depth + 1);
          }
        }
        seen.delete(v);
        return;
      }
      default:
        return;
    }
  };
  check(value, field, 0);
}

/** JSON text within the store's limit, or a ValidationError that says by how much it is over. */
export function checkJsonSize(text: string, field: string, limits: PayloadLimits = DEFAULT_LIMITS): string {
  // A UTF-16 unit is at most 3 bytes of UTF-8 (a pair of them 4): a text this short cannot be over.
  if (text.length * 3 <= limits.jsonBytes) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.jsonBytes) {
    throw new ValidationError(`${field} is ${bytes} bytes of JSON, over the limit of ${limits.jsonBytes}`, {
      field,
    });
  }
  return text;
}

/** A value bound for a pair of columns, one JSONB and one bytea: exactly one of them is set. */
export interface JsonOrBytes {
  json: string | null;
  bytes: Uint8Array | null;
}

/**
 * Bytes (a Uint8Array, Buffer included) as they are, anything else as JSON (see toJson); bytes are held
 * to the same size limit. Other binary shapes (an ArrayBuffer, a DataView, other typed arrays) are
 * refused: JSON would keep them as `{}` or as an object of indexes, not as bytes.
 */
export function toJsonOrBytes(
  value: unknown,
  field: string,
  limits: PayloadLimits = DEFAULT_LIMITS,
): JsonOrBytes {
  if (!(value instanceof Uint8Array)) {
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
      throw new ValidationError(`${field} holds binary data: give bytes as a Uint8Array`, { field });
    }
    return { json: toJson(value, field, limits), bytes: null };
  }
  if (value.byteLength > limits.jsonBytes) {
    throw new ValidationError(
      `${field} is ${value.byteLength} bytes, over the limit of ${limits.jsonBytes}`,
      {
        field,
      },
    );
  }
  return { json: null, bytes: value };
}

/** Same as toJson, but `undefined` and `null` both mean SQL NULL. */
export function toJsonOrNull(value: unknown, field: string, limits?: PayloadLimits): string | null {
  return value === undefined || value === null ? null : toJson(value, field, limits);
}

/**
 * A non-empty string without NUL or lone surrogates, at most `maxBytes` bytes of UTF-8. The limit is
 * in bytes because that is what an index entry holds: a btree entry is at most 2,704 bytes, and 1,024
 * characters of CJK text are 3,072.
 */
export function checkText(value: unknown, field: string, maxBytes = 255): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new ValidationError(`${field} must be a non-empty string`, { field });
  }
  // Every UTF-16 unit is at least one byte of UTF-8, so a long string is refused before it is measured.
  if (value.length > maxBytes) {
    throw new ValidationError(`${field} is over the limit of ${maxBytes} bytes (UTF-8)`, { field });
  }
  const bad = badCharacter(value);
  if (bad) throw new ValidationError(`${field} contains ${bad}`, { field });
  // A UTF-16 unit is at most 3 bytes of UTF-8: a text this short cannot be over, and is not measured.
  if (value.length * 3 <= maxBytes) return value;
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes > maxBytes) {
    throw new ValidationError(`${field} is ${bytes} bytes (UTF-8), over the limit of ${maxBytes}`, { field });
  }
  return value;
}
