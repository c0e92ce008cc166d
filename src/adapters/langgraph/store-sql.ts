/**
 * The statements of FlowstoreStore, and the translation of a search's `filter` into SQL with the
 * meaning LangGraph's InMemoryStore gives it (`compareValues`): strict equality on top-level keys,
 * and the operators $eq, $ne, $gt, $gte, $lt, $lte, $in and $nin. `$1` is always the store's scope.
 */

import { filterJson } from "./names.js";

/** Adds a value to the statement's parameters and returns its `$n`. */
export type Param = (value: unknown) => string;

const OPERATORS = new Set(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"]);
const COMPARISONS: Record<string, string> = { $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" };

/** As compareValues: an object whose keys are all operators (so also `{}` and `[]`) holds operators. */
function isFilterOperators(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.keys(value).every((key) => OPERATORS.has(key));
}

/** A value JSON keeps as it is, so that strict equality with it can be decided in SQL. */
function isJsonScalar(value: unknown): value is string | number | boolean | null {
  return (
    value === null ||
    typeof value === "string" ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  );
}

/**
 * `item.value[key] === expected`: a missing key is undefined; objects and arrays are never strictly
 * equal to what a store read back (nor NaN to anything), so a filter on one matches nothing.
 */
function strictEqual(key: string, expected: unknown, param: Param, negate: boolean): string {
  if (expected !== undefined && !isJsonScalar(expected)) return negate ? "true" : "false";
  const k = keyParam(key, param);
  if (expected === undefined) return negate ? `(value ? ${k})` : `not (value ? ${k})`;
  const v = param(filterJson(expected));
  return negate ? `(value -> ${k}) is distinct from ${v}::jsonb` : `(value -> ${k}) = ${v}::jsonb`;
}

/** A key of the filter, sent as text, which holds neither a NUL nor a lone surrogate (see filterJson). */
function keyParam(key: string, param: Param): string {
  filterJson(key);
  return param(key);
}

/** `Array.isArray(list) && list.includes(item.value[key])`. */
function includes(key: string, list: unknown[], param: Param): string {
  const scalars = list.filter(isJsonScalar);
  if (scalars.length === 0 && !list.includes(undefined)) return "false";
  const k = keyParam(key, param);
  const parts: string[] = [];
  if (scalars.length > 0) {
    parts.push(
      `((value ? ${k}) and ${param(filterJson(scalars))}::jsonb @> jsonb_build_array(value -> ${k}))`,
    );
  }
  // A hole or an undefined in the list matches a missing key.
  if (list.includes(undefined)) parts.push(`not (value ? ${k})`);
  return `(${parts.join(" or ")})`;
}

function operator(q: string, key: string, op: string, operand: unknown, param: Param): string {
  switch (op) {
    case "$eq":
      return strictEqual(key, operand, param, false);
    case "$ne":
      return strictEqual(key, operand, param, true);
    case "$in":
      return Array.isArray(operand) ? includes(key, operand, param) : "false";
    case "$nin":
      return Array.isArray(operand) ? `not ${includes(key, operand, param)}` : "true";
    default: {
      // Number(item) against Number(operand); NaN on either side compares false.
      let number: number;
      try {
        number = Number(operand);
      } catch {
        return "false";
      }
      if (Number.isNaN(number)) return "false";
      return `${q}.langgraph_number(value -> ${keyParam(key, param)}) ${COMPARISONS[op]} ${param(number)}::float8`;
    }
  }
}

/** The conditions a search's filter puts on `value`, all of which must hold. */
export function filterConditions(
  q: string,
  filter: Record<string, unknown> | undefined,
  param: Param,
): string[] {
  if (filter === undefined || filter === null) return [];
  return Object.entries(filter).map(([key, expected]) => {
    if (!isFilterOperators(expected)) return strictEqual(key, expected, param, false);
    const ops = Object.entries(expected).map(([op, operand]) => operator(q, key, op, operand, param));
    return ops.length > 0 ? `(${ops.join(" and ")})` : "true";
  });
}

/** The items of many gets: the n-th of ($2 namespaces, $3 keys). */
export const getManySql = (q: string) => `select k.n, s.value, s.created_at, s.updated_at
from unnest($2::text[], $3::text[]) with ordinality as k(namespace, key, n)
join ${q}.langgraph_store s on s.scope = $1 and s.namespace = k.namespace and s.key = k.key`;

/*
 * A batch's puts lock their rows in one order, by primary key, whatever order the batch names them in:
 * two batches sharing keys then wait for each other and never deadlock. A delete and an insert are two
 * passes over the table, which would lock in two orders; so a batch with both first upserts every key
 * it names in key order (those it deletes with a placeholder), which locks each key, existing or not,
 * and then deletes its deleted keys, which it already holds, in the same transaction.
 */

/** Creates or replaces items ($2 namespaces, $3 keys, $4 values as JSON), keeping an item's created_at. */
export const upsertManySql = (
  q: string,
) => `insert into ${q}.langgraph_store as s (scope, namespace, key, value)
select $1, u.namespace, u.key, u.value::jsonb
from unnest($2::text[], $3::text[], $4::text[]) as u(namespace, key, value)
order by u.namespace collate "C", u.key collate "C"
-- The proposed row's time (its default, now()): Citus refuses a call of now() in a conflict clause.
on conflict (scope, namespace, key) do update set value = excluded.value, updated_at = excluded.updated_at`;

/** Deletes items ($2 namespaces, $3 keys), locking them in key order first. */
export const deleteManySql = (q: string) => `delete from ${q}.langgraph_store s
where s.scope = $1 and (s.namespace, s.key) in (
  select l.namespace, l.key from ${q}.langgraph_store l
  join unnest($2::text[], $3::text[]) as d(namespace, key) on l.namespace = d.namespace and l.key = d.key
  where l.scope = $1
  order by l.namespace, l.key
  for update of l
)`;

/**
 * The distinct namespaces of the scope, each found by one probe of the primary key from the last
 * (a skip scan), as label arrays `l`, for the caller to filter, cut and page.
 */
export const namespacesSql = (q: string, where: string, path: string) => `with recursive ns(namespace) as (
  select min(namespace) from ${q}.langgraph_store where scope = $1
  union all
  select (select min(s.namespace) from ${q}.langgraph_store s where s.scope = $1 and s.namespace > ns.namespace)
  from ns where ns.namespace is not null
), labels as (
  select string_to_array(namespace, '.') as l from ns where namespace is not null
)
select path from (select distinct ${path} as path from labels where ${where}) as found
order by array_to_string(path, '.') collate "C"`;
