/** Checks of the names the adapter stores: scopes, thread ids and the like, and the schema it reads. */

import type { Store } from "../../index.js";
import { hasLoneSurrogate } from "../../payload.js";

const MAX_SCOPE = 255;

/** A saver's or store's scope: a non-empty string of at most 255 characters, without NUL. */
export function checkScope(scope: unknown = "default"): string {
  if (typeof scope !== "string" || scope === "" || scope.length > MAX_SCOPE || scope.includes("\u0000")) {
    throw new Error(`scope must be a non-empty string of at most ${MAX_SCOPE} characters, without NUL`);
  }
  return scope;
}

/**
 * An id LangGraph passes (a thread id, a checkpoint id, a namespace): a string (a number is taken as
 * its text), never NUL nor a lone surrogate, which PostgreSQL text cannot hold (the driver would store
 * the surrogate as U+FFFD, and the id could not be found again). Empty only where `allowEmpty`.
 */
export function requiredText(value: unknown, field: string, allowEmpty = false): string {
  const text = typeof value === "number" && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== "string" || (text === "" && !allowEmpty)) {
    throw new Error(`"${field}" must be a ${allowEmpty ? "" : "non-empty "}string; got ${describe(value)}`);
  }
  if (text.includes("\u0000")) throw new Error(`"${field}" must not contain NUL`);
  if (hasLoneSurrogate(text))
    throw new Error(`"${field}" must not contain a lone surrogate (half of a UTF-16 pair)`);
  return text;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return typeof value === "string" ? JSON.stringify(value) : typeof value;
}

/** The store's schema quoted for SQL text (flowstore has already checked its name). */
export function quotedSchema(store: Store): string {
  return `"${store.schema.replaceAll('"', '""')}"`;
}
