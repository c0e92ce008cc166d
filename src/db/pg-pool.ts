/** Tells a pg Pool of the user's by its shape, without loading node-postgres (an embedded store never needs it). */

import type pg from "pg";

/** True for a pg Pool from any copy of the pg module (instanceof fails across copies). */
export function isPgPool(value: unknown): value is pg.Pool {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as pg.Pool).connect === "function" &&
    typeof (value as pg.Pool).query === "function" &&
    typeof (value as pg.Pool).totalCount === "number"
  );
}

/** What handOverIdleAtOnce reads of pg-pool's own state (its fields since pg-pool 2). */
interface PoolInternals {
  _idle?: unknown;
  _pulseQueue?: unknown;
  ending?: boolean;
}

/**
 * Makes one of our own pools hand an idle client to a checkout at once. pg-pool hands it over on
 * process.nextTick, and Node runs those only once no promise callback is left to run: a statement
 * started inside a long chain of them (LangGraph runs all of a graph's nodes in one) went to the server
 * only when the chain ended, a whole round trip later than it could have. The pool's own hand-over
 * still follows and finds nothing to do; the first waiter is served first, as before. A pool without
 * these fields (another pg-pool) keeps its own way. Never applied to a user's pool.
 */
export function handOverIdleAtOnce(pool: pg.Pool): void {
  const internals = pool as unknown as PoolInternals;
  const pulse = internals._pulseQueue;
  if (!Array.isArray(internals._idle) || typeof pulse !== "function") return;
  const connect = pool.connect;
  pool.connect = function (this: pg.Pool, ...args: unknown[]) {
    // Read each time: pg-pool replaces the array as it drops clients.
    const idle = Array.isArray(internals._idle) && internals._idle.length > 0;
    const result = (connect as (...a: unknown[]) => unknown).apply(this, args);
    if (idle && !internals.ending) pulse.call(this);
    return result;
  } as typeof pool.connect;
}
