/**
 * Retention's statements as the planner must see them to find their rows by index, whatever the pool's
 * plan settings (a pool of the user's plans for the values each time; the store's own pools plan once,
 * generically).
 *
 * A retention batch is a sliver of each table it touches: the rows of a few hundred executions, or what
 * aged past a cut since the last run. Left to see it plainly, the planner misjudged it both ways, on
 * tables of 100,000 rows: shown 500 ids in `= any($1)` on a table never analyzed, it read the table
 * whole, once per batch; shown no cut (`completed_at < $1` in a generic plan), it took a third of the
 * table to be older, and read and sorted it all; and it checked each row of a batch against executions
 * by hashing every execution. The helpers below keep each batch an index walk and per-row index probes.
 */

/**
 * The id array `$n`, read through a scalar subquery, so the planner cannot count the ids: it plans for a
 * few, as in a generic plan, and probes the index once per id however many the batch holds.
 */
export function idBatch(n: number, type: "uuid" | "text"): string {
  return `(select $${n}::${type}[])::${type}[]`;
}

/**
 * `column` before `cut` (an expression), written as a range from -infinity: where the planner cannot
 * see the cut (a generic plan) or knows nothing of the column (never analyzed), it takes a range for a
 * small part of the table, and walks the column's index from its start, where it takes a one-sided
 * `column < $1` for a third of the table. Where it sees the cut and knows the column, its estimate is
 * exact either way.
 */
export function beforeCut(column: string, cut: string, inclusive = false): string {
  return `${column} >= '-infinity' and ${column} ${inclusive ? "<=" : "<"} ${cut}`;
}

/**
 * Ends an EXISTS subquery that checks one row of a batch against another table: OFFSET 0 keeps the
 * planner from turning it into a join (or a hashed subquery), either of which it may choose to build by
 * reading the other table whole; so the check stays a probe of that table's index per row checked.
 */
export const PROBE = "offset 0";
