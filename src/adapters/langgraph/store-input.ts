/** The checks of what FlowstoreStore's operations name: namespaces, keys, values, pages, conditions. */

import {
  InvalidNamespaceError,
  type MatchCondition,
  validateNamespace,
} from "@langchain/langgraph-checkpoint";
import { ValidationError } from "../../core/errors.js";
import { hasLoneSurrogate, jsonbRefuses } from "../../core/payload.js";
import { requiredText } from "./names.js";
import type { Param } from "./store-sql.js";

export const SEPARATOR = ".";

/**
 * As InMemoryStore checks every namespace an operation names (the root "langgraph" allowed), and also
 * refuses a lone surrogate, as it refuses NUL: text would hold it as U+FFFD, so two labels would name
 * one namespace.
 */
export function checkNamespace(namespace: string[]): string {
  validateNamespace(namespace, { allowReservedRoot: true });
  namespace.forEach(checkLabel);
  return namespace.join(SEPARATOR);
}

export function checkLabel(label: string): void {
  if (hasLoneSurrogate(label)) {
    throw new InvalidNamespaceError(
      "Namespace labels cannot contain a lone surrogate (half of a UTF-16 pair), which text cannot hold.",
    );
  }
}

export function checkKey(key: unknown): string {
  return requiredText(key, "key", true);
}

/** A value as stored: JSON, which PostgreSQL's jsonb holds only without NUL in its strings. */
export function valueJson(value: unknown): string {
  if (typeof value !== "object" || value === null) {
    throw new ValidationError("an item's value must be an object, or null to delete", { field: "value" });
  }
  const json = JSON.stringify(value);
  const refused = jsonbRefuses(json);
  if (refused === "NUL") {
    throw new ValidationError("an item's value cannot hold NUL (\\u0000) in a string", { field: "value" });
  }
  if (refused) {
    throw new ValidationError("an item's value cannot hold a lone surrogate (half of a UTF-16 pair)", {
      field: "value",
    });
  }
  return json;
}

export function pageNumber(value: number | undefined, field: string, fallback: number | null): number | null {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new ValidationError(`${field} must be an integer, 0 or more`, { field });
  }
  return value;
}

/** A match condition on the labels `l`: its labels at the start (prefix) or the end (suffix). */
export function matches(condition: MatchCondition, param: Param): string {
  const { matchType, path } = condition;
  if (matchType !== "prefix" && matchType !== "suffix") {
    throw new ValidationError(`Unsupported match type: ${matchType}`, { field: "matchType" });
  }
  const parts = [`cardinality(l) >= ${param(path.length)}::integer`];
  path.forEach((label, i) => {
    if (label === "*") return;
    // Sent as text, a lone surrogate would match the labels holding U+FFFD.
    checkLabel(String(label));
    const at = matchType === "prefix" ? `${i + 1}` : `cardinality(l) - ${path.length - 1 - i}`;
    parts.push(`l[${at}] = ${param(String(label))}`);
  });
  return `(${parts.join(" and ")})`;
}
