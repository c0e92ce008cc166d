/** Checks of the names the adapter stores: scopes, thread ids and the like, and the schema it reads. */

import { ValidationError } from "../../core/errors.js";
import { hasLoneSurrogate, jsonbRefuses } from "../../core/payload.js";
import type { Store } from "../../index.js";

const MAX_SCOPE = 255;

/** A saver's or store's scope: a non-empty string of at most 255 characters, without NUL. */
export function checkScope(scope: unknown = "default"): string {
  if (typeof scope !== "string" || scope === "" || scope.length > MAX_SCOPE || scope.includes("\u0000")) {
    throw new ValidationError(
      `scope must be a non-empty string of at most ${MAX_SCOPE} characters, without NUL`,
      { field: "scope" },
    );
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
    throw new ValidationError(
      `"${field}" must be a ${allowEmpty ? "" : "non-empty "}string; got ${describe(value)}`,
      { field },
    );
  }
  if (text.includes("\u0000")) throw new ValidationError(`"${field}" must not contain NUL`, { field });
  if (hasLoneSurrogate(text)) {
    throw new ValidationError(`"${field}" must not contain a lone surrogate (half of a UTF-16 pair)`, {
      field,
    });
  }
  return text;
}

/**
 * A filter's part (a key, a value, a list of values) as the JSON sent for it. A NUL or a lone
 * surrogate in it is refused before anything is sent: jsonb cannot hold either (so no stored JSON
 * holds it), and text would turn a lone surrogate into U+FFFD, which matches something else.
 */
export function filterJson(part: unknown): string {
  const json = JSON.stringify(part);
  const refused = jsonbRefuses(json);
  if (refused) {
    const what = refused === "NUL" ? "a NUL (\\u0000)" : "a lone surrogate (half of a UTF-16 pair)";
    throw new ValidationError(
      `"filter" holds ${what} in a key or a string, which PostgreSQL's jsonb cannot hold; filter on other values`,
      { field: "filter" },
    );
  }
  return json;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return typeof value === "string" ? JSON.stringify(value) : typeof value;
}

/** The store's schema quoted for SQL text (flowstore has already checked its name). */
export function quotedSchema(store: Store): string {
  return `"${store.schema.replaceAll('"', '""')}"`;
}
