/**
 * Waiting in tests for what happens in the background: a condition to hold, nothing to go wrong, a
 * statement to have been sent, or a session to wait for a lock.
 */

import type { Logger, Store } from "../../src/index.js";

/**
 * Resolves once the wall clock has moved to a later millisecond. PGlite's clock counts whole
 * milliseconds, so rows ordered by the time they were written need this between them to be told apart.
 */
export async function nextMillisecond(): Promise<void> {
  const start = Date.now();
  while (Date.now() <= start) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** Resolves when `check` returns true, polling every 20 ms; fails after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Collects unhandled rejections while `fn` runs (and for `settleMs` after). */
export async function unhandledDuring(fn: () => Promise<void>, settleMs = 300): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}

/** A logger that keeps the SQL of every statement a store logs (open it with `logStatements: true`). */
export function statementLog(): Logger & { sql: string[] } {
  const sql: string[] = [];
  const keep = (entry: Record<string, unknown>) => {
    if (typeof entry.sql === "string") sql.push(entry.sql);
  };
  return { sql, debug: keep, info: keep, warn: keep, error: keep };
}

/**
 * Sessions of this database waiting for a lock (other than the one asking). On Citus a statement that
 * waits does so on a worker, its coordinator's session waiting on the worker's answer: there the
 * cluster's wait graph says who waits (citus_lock_waits, each waiting session once).
 */
export async function waitingOnLocks(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    process.env.FLOWSTORE_TEST_POSTGRES === "citus"
      ? "select count(distinct waiting_gpid)::int as n from citus_lock_waits"
      : `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
  );
  return rows[0]?.n ?? 0;
}

/** A logger that keeps the message of each warning (and error), and drops the rest. */
export function warningLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const ignore = () => {};
  return {
    warnings,
    debug: ignore,
    info: ignore,
    warn: (_entry, message) => warnings.push(String(message)),
    error: (_entry, message) => warnings.push(String(message)),
  };
}
