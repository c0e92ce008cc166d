/**
 * The arguments of `applyHistoryTransaction`, checked as the SDK's own MemorySession checks them and
 * refused with its messages before anything is read or written: the envelope read once (a getter that
 * throws says nothing of what it threw), an operation id that is not blank, a transaction of exactly the
 * fields of its type, and items of plain data only (plainCopy), each an object.
 */

import { createHash } from "node:crypto";
import type { AgentInputItem, SessionHistoryTransaction } from "@openai/agents-core";
import { ValidationError } from "../../index.js";
import { decodeItem, encodeItem, isPlainObject, plainCopy, structurallyEqual } from "./items.js";

export const MESSAGES = {
  args: "Session history transaction arguments are invalid.",
  operationId: "Session history transaction operationId must be a non-empty string.",
  transaction: "Session history transaction must be an object.",
  items: "Session history transaction items contain invalid or unsupported data.",
  append: "Session history append transaction fields are invalid.",
  suffix: "Session history suffix transaction fields are invalid.",
  type: "Unsupported session history transaction type.",
  reused: "Session history operation was already applied with a different transaction.",
  mismatch: "Session history suffix no longer matches the transaction precondition.",
} as const;

const refuse = (message: string): never => {
  throw new ValidationError(message, { field: "transaction" });
};

/** Plain copies of items, each an object, or the SDK's refusal. */
function itemsOf(value: unknown): AgentInputItem[] {
  try {
    const copy = plainCopy(value, "items");
    if (!Array.isArray(copy) || !copy.every(isPlainObject)) throw new Error("not items");
    return copy as AgentInputItem[];
  } catch {
    return refuse(MESSAGES.items);
  }
}

function hasExactly(record: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(record);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(record, key));
}

/** The operation id and a checked copy of the transaction. */
export function checkTransactionArgs(args: unknown): {
  operationId: string;
  transaction: SessionHistoryTransaction;
} {
  let operationId: unknown;
  let transaction: unknown;
  try {
    if (!args || typeof args !== "object") throw new Error("no arguments");
    operationId = Reflect.get(args, "operationId");
    transaction = Reflect.get(args, "transaction");
  } catch {
    return refuse(MESSAGES.args);
  }
  if (typeof operationId !== "string" || !operationId.trim()) return refuse(MESSAGES.operationId);
  if (!transaction || typeof transaction !== "object") return refuse(MESSAGES.transaction);
  let record: Record<string, unknown>;
  try {
    // What structuredClone refuses (a Proxy, above all) is refused too, as the SDK's session does.
    structuredClone(transaction);
    const copy = plainCopy(transaction, "transaction");
    if (!isPlainObject(copy)) throw new Error("not an object");
    record = copy;
  } catch {
    return refuse(MESSAGES.items);
  }
  if (record.type === "append_items") {
    if (!hasExactly(record, ["type", "items"]) || !Array.isArray(record.items))
      return refuse(MESSAGES.append);
    return { operationId, transaction: { type: "append_items", items: itemsOf(record.items) } };
  }
  if (record.type !== "replace_suffix") return refuse(MESSAGES.type);
  if (
    !hasExactly(record, ["type", "expectedSuffix", "replacement"]) ||
    !Array.isArray(record.expectedSuffix) ||
    !Array.isArray(record.replacement)
  ) {
    return refuse(MESSAGES.suffix);
  }
  return {
    operationId,
    transaction: {
      type: "replace_suffix",
      expectedSuffix: itemsOf(record.expectedSuffix),
      replacement: itemsOf(record.replacement),
    },
  };
}

/**
 * What agent_session_operations keeps of an applied transaction, to know a retry of it: its JSON text,
 * or, when that is over `above` (the store's offloadAbove), the SHA-256 of its canonical JSON (keys
 * sorted), `{"sha256": ...}`, so that a transaction of big items does not keep them a second time in
 * its record. No checked transaction has that shape: each has a `type`.
 */
export function transactionRecord(transaction: SessionHistoryTransaction, above: number | undefined): string {
  const text = encodeItem(transaction);
  if (above === undefined || Buffer.byteLength(text) <= above) return text;
  return JSON.stringify({ sha256: canonicalDigest(text) });
}

/** Whether `transaction` is the one `record` was kept for, keys compared in any order, as the SDK does. */
export function isRecorded(record: string, transaction: SessionHistoryTransaction): boolean {
  const text = encodeItem(transaction);
  const kept = JSON.parse(record) as Record<string, unknown>;
  if (typeof kept.sha256 === "string" && kept.type === undefined)
    return kept.sha256 === canonicalDigest(text);
  return structurallyEqual(decodeItem(record), decodeItem(text));
}

/** The SHA-256 of JSON text written again with every object's keys sorted: one digest per content. */
function canonicalDigest(text: string): string {
  const canonical = JSON.stringify(JSON.parse(text), (_key, value) =>
    isPlainObject(value) && !Array.isArray(value)
      ? Object.fromEntries(
          Object.keys(value)
            .sort()
            .map((key) => [key, value[key]]),
        )
      : value,
  );
  return createHash("sha256").update(canonical).digest("hex");
}
