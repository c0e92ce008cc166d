/**
 * The World's values as JSON, for flowstore's JSON columns and job payloads: bytes (a Uint8Array, as
 * every serialized payload is) become `{"$b": base64}` and dates `{"$d": ISO}`. An object key that
 * starts with `$` gains one more (`$parentRunId` is kept as `$$parentRunId`), so no value of the
 * caller's can pass for a tag.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function encode(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array)
    return { $b: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  if (value instanceof Date) return { $d: value.toISOString() };
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : encode(item)));
  if (typeof value === "object") {
    const out: Record<string, Json> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key.startsWith("$") ? `$${key}` : key] = encode(item);
    }
    return out;
  }
  return value as Json;
}

export function decode(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(decode);
  const entries = Object.entries(value);
  if (entries.length === 1) {
    const [key, item] = entries[0] as [string, unknown];
    if (key === "$b" && typeof item === "string") return new Uint8Array(Buffer.from(item, "base64"));
    if (key === "$d" && typeof item === "string") return new Date(item);
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries) out[key.startsWith("$") ? key.slice(1) : key] = decode(item);
  return out;
}

/** Decodes a value that was written as bytes; anything else (none, or legacy JSON) as it is. */
export function decodeOptional(value: unknown): unknown {
  return value === null || value === undefined ? undefined : decode(value);
}
