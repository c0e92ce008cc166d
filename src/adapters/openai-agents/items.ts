/**
 * A session's items as the store keeps them: JSON text, written from a checked copy of the item. The
 * copy takes what structuredClone would keep of plain data (plain objects, dense arrays, strings with
 * any character, finite numbers, booleans, null, bytes) and refuses anything else before a statement
 * is sent. Bytes (a Uint8Array) are written as `{"$flowstore.bytes": base64}` and read back as bytes.
 */

import { ValidationError } from "../../index.js";
import { refuseReserved } from "../../offload/index.js";

const BYTES_KEY = "$flowstore.bytes";
const MAX_DEPTH = 200;

/** Why a value cannot be kept, for the caller's error message. */
export class UnsupportedValue extends Error {}

function isIndex(key: string, length: number): boolean {
  if (!/^(0|[1-9]\d*)$/.test(key)) return false;
  const index = Number(key);
  return Number.isSafeInteger(index) && index < length;
}

/**
 * A copy of `value` made of plain data only, or an UnsupportedValue thrown: what JSON text can hold as
 * it is, and bytes. Own enumerable data properties only (no getters), string keys only.
 */
export function plainCopy(value: unknown, path = "item", depth = 0, ancestors = new Set<object>()): unknown {
  // undefined is kept as JSON keeps it: dropped from an object, null in an array.
  if (value === undefined || value === null || typeof value === "string" || typeof value === "boolean") {
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new UnsupportedValue(`${path} is ${value}, which JSON cannot hold`);
    return value;
  }
  if (typeof value !== "object")
    throw new UnsupportedValue(`${path} is a ${typeof value}, which JSON cannot hold`);
  if (value instanceof Uint8Array) {
    const keys = Reflect.ownKeys(value);
    if (
      keys.length !== value.length ||
      keys.some((key) => typeof key !== "string" || !isIndex(key, value.length))
    ) {
      throw new UnsupportedValue(`${path} is a Uint8Array with properties of its own`);
    }
    return new Uint8Array(value);
  }
  if (depth >= MAX_DEPTH) throw new UnsupportedValue(`${path} is nested more than ${MAX_DEPTH} levels deep`);
  if (ancestors.has(value)) throw new UnsupportedValue(`${path} contains a cycle`);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const keys = Reflect.ownKeys(value);
      const { length } = value;
      if (
        keys.length !== length + 1 ||
        keys.some((key) => key !== "length" && !(typeof key === "string" && isIndex(key, length)))
      ) {
        throw new UnsupportedValue(`${path} is a sparse array or has properties of its own`);
      }
      return value.map((_, index) => {
        const descriptor = Object.getOwnPropertyDescriptor(value, String(index));
        if (!descriptor?.enumerable || !("value" in descriptor)) {
          throw new UnsupportedValue(`${path}[${index}] is not a plain value`);
        }
        return plainCopy(descriptor.value, `${path}[${index}]`, depth + 1, ancestors);
      });
    }
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      throw new UnsupportedValue(
        `${path} is a ${value.constructor?.name ?? "class instance"}, not a plain object`,
      );
    }
    const copy: Record<string, unknown> = {};
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key !== "string") throw new UnsupportedValue(`${path} has a symbol key`);
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (!descriptor?.enumerable || !("value" in descriptor)) {
        throw new UnsupportedValue(`${path}.${key} is not a plain value (a getter, or not enumerable)`);
      }
      // undefined is dropped, as JSON drops it.
      if (descriptor.value !== undefined)
        copy[key] = plainCopy(descriptor.value, `${path}.${key}`, depth + 1, ancestors);
    }
    return copy;
  } finally {
    ancestors.delete(value);
  }
}

/** Whether a value is a plain object (an item is one). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/** An item's JSON text (of a plain copy): key order and every character kept. */
export function encodeItem(item: unknown): string {
  return JSON.stringify(item, (_key, value) =>
    value instanceof Uint8Array ? { [BYTES_KEY]: Buffer.from(value).toString("base64") } : value,
  );
}

export function decodeItem<T = unknown>(text: string): T {
  // A reviver costs a call per value: only text that holds bytes needs one.
  if (!text.includes(`"${BYTES_KEY}"`)) return JSON.parse(text) as T;
  return JSON.parse(text, (_key, value) => {
    if (isPlainObject(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === BYTES_KEY && typeof value[BYTES_KEY] === "string") {
        return new Uint8Array(Buffer.from(value[BYTES_KEY], "base64"));
      }
    }
    return value;
  }) as T;
}

/** The items' JSON texts, each checked (a plain object of plain data, within `maxBytes`), or a ValidationError. */
export function encodeItems(items: unknown, field: string, maxBytes: number): string[] {
  if (!Array.isArray(items)) throw new ValidationError(`${field} must be an array of items`, { field });
  return items.map((item, index) => {
    const path = `${field}[${index}]`;
    if (!isPlainObject(item))
      throw new ValidationError(`${path} must be an object (an AgentInputItem)`, { field });
    // A row whose item starts with this key is a reference to a blob (offloaded-items.ts).
    refuseReserved(item, path);
    let text: string;
    try {
      text = encodeItem(plainCopy(item, path));
    } catch (error) {
      if (error instanceof UnsupportedValue) throw new ValidationError(error.message, { field });
      throw error;
    }
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) {
      throw new ValidationError(`${path} is ${bytes} bytes of JSON, over the limit of ${maxBytes}`, {
        field,
      });
    }
    return text;
  });
}

/** Deep equality of plain data, keys in any order (as the SDK compares items). */
export function structurallyEqual(left: unknown, right: unknown): boolean {
  if (Object.is(left, right)) return true;
  if (left instanceof Uint8Array || right instanceof Uint8Array) {
    return (
      left instanceof Uint8Array &&
      right instanceof Uint8Array &&
      left.length === right.length &&
      left.every((byte, index) => byte === right[index])
    );
  }
  if (Array.isArray(left) || Array.isArray(right)) {
    return (
      Array.isArray(left) &&
      Array.isArray(right) &&
      left.length === right.length &&
      left.every((entry, index) => structurallyEqual(entry, right[index]))
    );
  }
  if (!isPlainObject(left) || !isPlainObject(right)) return false;
  const leftKeys = Object.keys(left).sort();
  const rightKeys = Object.keys(right).sort();
  return (
    leftKeys.length === rightKeys.length &&
    leftKeys.every((key, index) => key === rightKeys[index] && structurallyEqual(left[key], right[key]))
  );
}
