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
