/**
 * The statement of a FlowstoreStore search. Without a query, items under the prefix that pass the
 * filter, in order of namespace and key. With one, ranked as LangGraph's PostgresStore ranks them:
 * - `vector` (the default where an index is set): by the similarity of an item's nearest embedded field
 *   to the query's vector, computed exactly over the prefix's vectors (the same results as
 *   PostgresStore's, which also reads them all);
 * - `text` (the default without an index): PostgreSQL's full-text rank of the value, among the items
 *   whose value matches the query's words or holds the query itself;
 * - `hybrid`: `vectorWeight` of the first plus the rest of the second, among the items whose value
 *   matches the query's words or whose similarity reaches `similarityThreshold` (default 0).
 * Ties go by namespace and key (text: by the latest update first, as PostgresStore).
 */

import { ValidationError } from "../../core/errors.js";
import { checkOneOf } from "../../core/input.js";
import { type DistanceMetric, METRICS } from "./store-index.js";
import { filterConditions, type Param } from "./store-sql.js";
import type { VectorSql } from "./store-vectors.js";

export type SearchMode = "auto" | "vector" | "text" | "hybrid";

/** What PostgresStore's `search` takes beyond BaseStore's options. */
export interface SearchRanking {
  /** How a query ranks (default auto: vector where an index is set, else text). */
  mode?: SearchMode;
  /** Items whose score is below this are left out (vector and hybrid). */
  similarityThreshold?: number;
  /** The vector similarity's share of a hybrid score, 0 to 1 (default 0.7). */
  vectorWeight?: number;
  /** The metric of a vector search (default the index's). */
  distanceMetric?: DistanceMetric;
}

export interface SearchStatement {
  scope: string;
  q: string;
  /** The labels of the prefix joined by ".", or "" for every namespace. */
  prefix: string;
  filter: Record<string, unknown> | undefined;
  limit: number;
  offset: number;
  /** The query and how it ranks, when there is one. */
  query?: {
    text: string;
    mode: "vector" | "text" | "hybrid";
    /** The query's vector, as pgvector's text, for vector and hybrid. */
    vector?: string;
    metric: DistanceMetric;
    language: string;
    threshold?: number;
    weight: number;
  };
  vectors?: VectorSql;
}

/** The namespace itself, or one below it: "a.b" and "a.b.*", which sort from "a.b." to "a.b/". */
function underPrefix(column: string, prefix: string, param: Param): string {
  return `(${column} = ${param(prefix)} or (${column} >= ${param(`${prefix}.`)} and ${column} < ${param(`${prefix}/`)}))`;
}

/** A search's SQL and its parameters; `$1` is the scope. */
export function searchSql(search: SearchStatement): { text: string; values: unknown[] } {
  const values: unknown[] = [search.scope];
  const param: Param = (value) => `$${values.push(value)}`;
  const { q, query } = search;
  // An item's conditions: its parameters are added only to the statements that use them.
  const itemConditions = () => [
    ...(search.prefix === "" ? [] : [underPrefix("s.namespace", search.prefix, param)]),
    ...filterConditions(q, search.filter, param),
  ];
  const columns = "s.namespace, s.key, s.value, s.created_at, s.updated_at";
  if (query && query.mode !== "text") {
    // The items' vectors grouped and ranked, then the page's values read. A vector search reads the
    // vectors alone, of the items that pass the filter where there is one (which spares the distances
    // of those it leaves out); a hybrid one joins each item, whose value its score reads.
    const { score, having } = vectorRank(search, param);
    const near = ["v.scope = $1"];
    if (search.prefix !== "") near.push(underPrefix("v.namespace", search.prefix, param));
    let from = `${q}.langgraph_store_vectors v`;
    if (query.mode === "hybrid") {
      from += ` join ${q}.langgraph_store s on s.scope = v.scope and s.namespace = v.namespace and s.key = v.key`;
      near.push(...filterConditions(q, search.filter, param));
    } else if (search.filter && Object.keys(search.filter).length > 0) {
      near.push(`(v.namespace, v.key) in (select s.namespace, s.key from ${q}.langgraph_store s
        where ${["s.scope = $1", ...itemConditions()].join(" and ")})`);
    }
    // Grouped by the item's primary key where its value is read (as the score does in hybrid).
    const [item, groups] =
      query.mode === "hybrid" ? ["s", "s.scope, s.namespace, s.key"] : ["v", "v.namespace, v.key"];
    const ranked = `select ${item}.namespace, ${item}.key, ${score} as score from ${from}
      where ${near.join(" and ")}
      group by ${groups} ${having ? `having ${having}` : ""}
      order by score desc, ${item}.namespace, ${item}.key
      limit ${param(search.limit)} offset ${param(search.offset)}`;
    const text = `select ${columns}, r.score from (${ranked}) r
      join ${q}.langgraph_store s on s.scope = $1 and s.namespace = r.namespace and s.key = r.key
      order by r.score desc, s.namespace, s.key`;
    return { text, values };
  }
  let score = "null::float8";
  let order = "s.namespace, s.key";
  const where = ["s.scope = $1", ...itemConditions()];
  if (query) {
    const { rank, match } = fullText(query, param);
    // A text search also takes the values holding the query as it is (a word cut short, a symbol).
    where.push(`(${match} or s.value::text ilike ${param(likePattern(query.text))})`);
    score = rank;
    order = "score desc, s.updated_at desc, s.namespace, s.key";
  }
  const text = `select ${columns}, ${score} as score
    from ${q}.langgraph_store s where ${where.join(" and ")}
    order by ${order} limit ${param(search.limit)} offset ${param(search.offset)}`;
  return { text, values };
}

/** A query's full-text rank of an item's value, and its match; their parameters added when called. */
function fullText(query: NonNullable<SearchStatement["query"]>, param: Param) {
  const language = `${param(query.language)}::regconfig`;
  const words = `plainto_tsquery(${language}, ${param(query.text)})`;
  const document = `to_tsvector(${language}, s.value::text)`;
  return { rank: `ts_rank(${document}, ${words})`, match: `${document} @@ ${words}` };
}

/**
 * The score of a vector or hybrid search, over an item's vectors `v` (grouped by the item, whose
 * value it may read), and the condition it must meet to be ranked at all.
 */
function vectorRank(search: SearchStatement, param: Param): { score: string; having: string | null } {
  const query = search.query as NonNullable<SearchStatement["query"]>;
  if (!search.vectors) throw new Error("a vector search needs the index's vectors");
  const similarity = search.vectors.score(query.metric, "v.embedding", param(query.vector));
  const threshold = query.threshold === undefined ? null : param(query.threshold);
  if (query.mode === "vector") {
    return { score: similarity, having: threshold ? `${similarity} >= ${threshold}` : null };
  }
  const { rank, match } = fullText(query, param);
  const weight = param(query.weight);
  return {
    score: `${weight}::float8 * ${similarity} + (1 - ${weight}::float8) * ${rank}`,
    having: `(${match} or ${similarity} >= ${threshold ?? 0})`,
  };
}

/** The query as an ILIKE pattern matching it anywhere, its own % and _ taken as they are. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const MODES: readonly SearchMode[] = ["auto", "vector", "text", "hybrid"];

/** Checks a search's ranking options. */
export function checkRanking(ranking: SearchRanking): void {
  const { mode, similarityThreshold, vectorWeight, distanceMetric } = ranking;
  if (mode !== undefined) checkOneOf(mode, MODES, "mode");
  if (distanceMetric !== undefined) checkOneOf(distanceMetric, METRICS, "distanceMetric");
  if (similarityThreshold !== undefined && !Number.isFinite(similarityThreshold)) {
    throw new ValidationError("similarityThreshold must be a finite number", {
      field: "similarityThreshold",
    });
  }
  if (vectorWeight !== undefined && !(vectorWeight >= 0 && vectorWeight <= 1)) {
    throw new ValidationError("vectorWeight must be a number from 0 to 1", { field: "vectorWeight" });
  }
}
