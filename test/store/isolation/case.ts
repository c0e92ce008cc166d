/**
 * One public call, as the isolation-level suite runs it: what it needs committed beforehand, the call
 * inside a transaction that has already taken its snapshot (with its own checks), and what must be
 * committed after.
 */
import type { IsolationLevel, Store, Transaction } from "../../../src/index.js";

/** Over this many bytes, values go to the blob store: the calls that write them are tried big. */
export const OFFLOAD_ABOVE = 4096;

/** A JSON value past OFFLOAD_ABOVE. */
export const big = (tag: string) => ({ tag, text: tag.repeat(OFFLOAD_ABOVE) });

/** Where a case runs: the transaction's level, and whether the driver has connections besides it. */
export interface Where {
  level: IsolationLevel;
  concurrent: boolean;
}

export interface CallCase<F = unknown> {
  /** The call, as `area.method`. */
  call: string;
  /** Rows the call works on, committed before the transaction. */
  prepare?: (store: Store) => Promise<F>;
  /**
   * The call inside the transaction, with checks of what it returns (and reads back); "refused" when
   * it checked that the call was refused instead.
   */
  run: (tx: Transaction, fixture: F, on: Where) => Promise<unknown>;
  /** What the committed transaction left, read outside it. */
  after?: (store: Store, fixture: F) => Promise<void>;
}

/** A case with its fixture's type checked, listed among cases of other fixture types. */
export function call<F>(c: CallCase<F>): CallCase<unknown> {
  return c as CallCase<unknown>;
}

/** A run in status running, committed. */
export async function running(store: Store): Promise<string> {
  return (await store.executions.start({ name: "isolation", status: "running" })).execution.id;
}

/** A name no other case uses. */
let counter = 0;
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}`;
}
