/**
 * Codecs turn a value into the `{ payload, manifest }` pair durableState stores, and back, so users do
 * not hand-roll serialization:
 *
 *   await store.durableState.write({ persistenceId, version, ...codec.encode(value) });
 *   const value = codec.decode(await store.durableState.latest(persistenceId));
 *
 * The manifest names the payload's type; decoding a manifest the codec does not know is a
 * ValidationError naming it, never a silent misread.
 */

import { ValidationError } from "./errors.js";

export interface Encoded {
  payload: Uint8Array;
  manifest: string;
}

export interface Codec<T> {
  encode(value: T): Encoded;
  /** Throws a ValidationError when the manifest is not one this codec reads. */
  decode(encoded: Encoded): T;
}

/** The manifest the JSON codec writes unless given another. */
export const JSON_MANIFEST = "application/json";

/**
 * UTF-8 JSON. `manifest` is written with every payload and checked on read, so one codec per stored
 * type (`jsonCodec<Order>("Order")`) keeps a payload of one type from being read as another.
 */
export function jsonCodec<T>(manifest: string = JSON_MANIFEST): Codec<T> {
  return {
    encode(value) {
      const text = JSON.stringify(value);
      // JSON.stringify returns undefined for undefined, functions and symbols: nothing to store.
      if (text === undefined) {
        throw new ValidationError("the value cannot be represented as JSON", { field: "payload" });
      }
      return { payload: Buffer.from(text, "utf8"), manifest };
    },
    decode({ payload, manifest: found }) {
      if (found !== manifest) {
        throw new ValidationError(
          `unknown manifest ${JSON.stringify(found)}: this JSON codec reads ${JSON.stringify(manifest)}`,
          { field: "manifest" },
        );
      }
      return JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8"));
    },
  };
}
