/**
 * The executions an area deletes what it owns for: a batch of ids, or every id a query selects (as
 * `id`). Retention deletes for a batch of a few hundred runs at a time; retention by partition for all
 * the runs of a range at once, which the server then joins as it sees fit (a hash join over a small
 * table, an index probe per run over a large one) rather than probing once per id whatever the table.
 */

import { idBatch } from "./planned-few.js";

export type ExecutionIds = readonly string[] | { readonly select: string };

/** `expression` among `ids`, as SQL, and its parameters (numbered from `$n`). */
export function amongIds(
  expression: string,
  ids: ExecutionIds,
  n = 1,
  type: "uuid" | "text" = "uuid",
): { sql: string; params: unknown[] } {
  if (Array.isArray(ids)) return { sql: `${expression} = any(${idBatch(n, type)})`, params: [ids] };
  const { select } = ids as { select: string };
  return { sql: `${expression} in (select ids.id::${type} from (${select}) ids)`, params: [] };
}
