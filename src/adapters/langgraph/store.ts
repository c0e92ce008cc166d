/**
 * FlowstoreStore: LangGraph's long-term memory (BaseStore) on a flowstore store.
 *
 * An item is a JSON value under a namespace (labels) and a key. Namespace labels follow
 * InMemoryStore's rules; a batch reads first and then applies its puts (the last put of a key wins),
 * as InMemoryStore does. Gets go in one statement, the puts in another; searches filter in SQL and
 * list namespaces by a skip scan of the primary key. Results come in byte order of the namespace
 * (labels joined by ".") and then of the key; a search with a query ranks them (store-search.ts):
 * semantically where an `index` is set, as LangGraph's PostgresStore does, by full-text rank where not.
 */

import {
  BaseStore,
  type GetOperation,
  type Item,
  type ListNamespacesOperation,
  type Operation,
  type OperationResults,
  type PutOperation,
  type SearchItem,
  type SearchOperation,
} from "@langchain/langgraph-checkpoint";
import { ValidationError } from "../../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { DEFAULT_TRANSACTION_RETRIES, withTransactionRetries } from "../../db/driver.js";
import type { Store } from "../../index.js";
import { checkScope, quotedSchema, requiredText } from "./names.js";
import {
  checkIndex,
  embedQuery,
  embedTexts,
  type FieldText,
  fieldTexts,
  type StoreIndex,
  type StoreIndexConfig,
  vectorText,
} from "./store-index.js";
import { checkKey, checkNamespace, matches, pageNumber, SEPARATOR, valueJson } from "./store-input.js";
import { checkRanking, type SearchRanking, type SearchStatement, searchSql } from "./store-search.js";
import {
  deleteManySql,
  filterConditions,
  getManySql,
  namespacesSql,
  type Param,
  upsertManySql,
} from "./store-sql.js";
import { replaceVectorsSql, setupVectors, type VectorSql } from "./store-vectors.js";

export interface FlowstoreStoreOptions {
  /** The flowstore store that holds the items (migrated: `openStore()` does it). */
  store: Store;
  /** Keeps this store's items apart from other stores' on the same flowstore store (default "default"). */
  scope?: string;
  /**
   * Semantic search, as PostgresStore's `index`: items' fields embedded when put, searches with a
   * `query` ranked by similarity. Needs pgvector (on the embedded store, @electric-sql/pglite-pgvector).
   */
  index?: StoreIndexConfig;
  /** The text search configuration of searches with a query and no index (default "english"). */
  textSearchLanguage?: string;
}

const STORE_KEYS = optionKeys<FlowstoreStoreOptions>({
  store: true,
  scope: true,
  index: true,
  textSearchLanguage: true,
});

/** What `search` takes: BaseStore's options and PostgresStore's ranking options. */
export interface FlowstoreSearchOptions extends SearchRanking {
  filter?: Record<string, unknown>;
  query?: string;
  limit?: number;
  offset?: number;
}

const SEARCH_KEYS = optionKeys<FlowstoreSearchOptions>({
  filter: true,
  query: true,
  limit: true,
  offset: true,
  mode: true,
  similarityThreshold: true,
  vectorWeight: true,
  distanceMetric: true,
});

/** A search operation as `search` passes it to `batch`, with its ranking options. */
type RankedSearch = SearchOperation & { ranking?: SearchRanking };

/** A put of a batch, checked: its value as JSON, or null to delete the item; its texts to embed. */
interface ItemPut {
  namespace: string;
  key: string;
  json: string | null;
  texts: FieldText[];
}

interface ItemRow {
  namespace: string;
  key: string;
  value: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

export class FlowstoreStore extends BaseStore {
  readonly scope: string;
  private readonly store: Store;
  private readonly q: string;
  private readonly index: StoreIndex | undefined;
  private readonly language: string;
  private vectors: Promise<VectorSql> | undefined;

  constructor(options: FlowstoreStoreOptions) {
    super();
    refuseUnknownKeys(options, STORE_KEYS);
    this.store = options.store;
    this.scope = checkScope(options.scope);
    this.q = quotedSchema(options.store);
    this.index = options.index === undefined ? undefined : checkIndex(options.index);
    this.language = requiredText(options.textSearchLanguage ?? "english", "textSearchLanguage");
  }

  /**
   * Makes what the index needs (pgvector, the vectors' table and its index) where it is not yet; a
   * store without an index needs nothing. Called by the first batch that needs it, or ahead of it.
   */
  async setup(): Promise<void> {
    await this.vectorSql();
  }

  private vectorSql(): Promise<VectorSql> {
    if (!this.index) throw new ValidationError("this FlowstoreStore has no index", { field: "index" });
    this.vectors ??= setupVectors(this.store, this.q, this.index).catch((error) => {
      this.vectors = undefined; // tried again by the next call
      throw error;
    });
    return this.vectors;
  }

  /**
   * As BaseStore's search, also taking PostgresStore's ranking options: `mode` (auto, vector, text or
   * hybrid), `similarityThreshold`, `vectorWeight` and `distanceMetric`.
   */
  override async search(
    namespacePrefix: string[],
    options: FlowstoreSearchOptions = {},
  ): Promise<SearchItem[]> {
    refuseUnknownKeys(options, SEARCH_KEYS);
    const { filter, limit = 10, offset = 0, query, ...ranking } = options;
    checkRanking(ranking);
    const op: RankedSearch = { namespacePrefix, filter, limit, offset, query, ranking };
    const [items] = await this.batch([op]);
    return items as SearchItem[];
  }

  /**
   * Every operation is checked before any is sent, so a batch holding one bad operation sends
   * nothing; then the reads go at once, and the puts after them.
   */
  async batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>> {
    const results: unknown[] = operations.map(() => null);
    const gets: [number, GetOperation, string, string][] = [];
    const reads: (() => Promise<void>)[] = [];
    const puts = new Map<string, ItemPut>();
    operations.forEach((op, i) => {
      if ("namespacePrefix" in op) {
        if (op.namespacePrefix.length > 0) checkNamespace(op.namespacePrefix);
        const search = this.searchItems(op as RankedSearch);
        reads.push(async () => {
          results[i] = await search();
        });
      } else if ("matchConditions" in op) {
        const list = this.listNamespacesOf(op);
        reads.push(async () => {
          results[i] = await list();
        });
      } else if ("value" in op) {
        const namespace = checkNamespace(op.namespace);
        const key = checkKey(op.key);
        const json = op.value === null ? null : valueJson(op.value);
        puts.set(`${namespace}\u0000${key}`, { namespace, key, json, texts: this.textsOf(op) });
      } else if ("key" in op && "namespace" in op) {
        gets.push([i, op, checkNamespace(op.namespace), checkKey(op.key)]);
      }
    });
    if (gets.length > 0) reads.push(() => this.getMany(gets, results));
    await Promise.all(reads.map((read) => read()));
    if (puts.size > 0) await this.putMany([...puts.values()]);
    return results as OperationResults<Op>;
  }

  /** The texts a put gives the index: its `index` fields (false: none), else the index's. */
  private textsOf(op: PutOperation): FieldText[] {
    const fields = op.index;
    if (
      fields !== undefined &&
      fields !== false &&
      !(Array.isArray(fields) && fields.every((f) => typeof f === "string"))
    ) {
      throw new ValidationError("a put's index must be false or a list of field paths", { field: "index" });
    }
    if (!this.index || op.value === null || fields === false) return [];
    return fieldTexts(op.value, fields ?? this.index.fields);
  }

  /** Deletes every item of this store's scope, locking them in key order as batches do. */
  async clear(): Promise<void> {
    const sql = `delete from ${this.q}.langgraph_store s where s.scope = $1 and (s.namespace, s.key) in (
      select namespace, key from ${this.q}.langgraph_store where scope = $1 order by namespace, key for update)`;
    await withTransactionRetries(() => this.store.query(sql, [this.scope]), DEFAULT_TRANSACTION_RETRIES);
  }

  private async getMany(gets: [number, GetOperation, string, string][], results: unknown[]): Promise<void> {
    const { rows } = await this.store.query<Omit<ItemRow, "namespace" | "key"> & { n: number }>(
      getManySql(this.q),
      [this.scope, gets.map(([, , namespace]) => namespace), gets.map(([, , , key]) => key)],
      { prepare: true },
    );
    for (const row of rows) {
      const [i, op] = gets[row.n - 1] as [number, GetOperation, string, string];
      results[i] = {
        value: row.value,
        key: op.key,
        namespace: [...op.namespace],
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      } satisfies Item;
    }
  }

  /**
   * Applies a batch's puts, retried if it still loses a deadlock (with a writer that is not a batch,
   * such as `clear`). See store-sql.ts for the lock order that keeps batches from deadlocking.
   */
  private async putMany(puts: ItemPut[]): Promise<void> {
    if (this.index) return this.putIndexed(puts);
    const deletes = puts.filter((put) => put.json === null);
    if (deletes.length === 0) {
      const values = [this.scope, ...keysOf(puts), puts.map((put) => put.json)];
      await withTransactionRetries(
        () => this.store.query(upsertManySql(this.q), values, { prepare: true }),
        DEFAULT_TRANSACTION_RETRIES,
      );
    } else if (deletes.length === puts.length) {
      const values = [this.scope, ...keysOf(deletes)];
      await withTransactionRetries(
        () => this.store.query(deleteManySql(this.q), values, { prepare: true }),
        DEFAULT_TRANSACTION_RETRIES,
      );
    } else {
      await this.store.transaction((tx) => this.writeItems(tx, puts, deletes));
    }
  }

  /** Upserts the puts (a placeholder for those deleted, to lock in key order) and deletes the deleted. */
  private async writeItems(tx: Pick<Store, "query">, puts: ItemPut[], deletes: ItemPut[]): Promise<void> {
    const upserts = [this.scope, ...keysOf(puts), puts.map((put) => put.json ?? "null")];
    await tx.query(upsertManySql(this.q), upserts, { prepare: true });
    if (deletes.length > 0)
      await tx.query(deleteManySql(this.q), [this.scope, ...keysOf(deletes)], { prepare: true });
  }

  /**
   * Puts with an index: the texts of every put embedded in one call, before any transaction, then the
   * items and their new vectors written in one (a deleted item's vectors go with it).
   */
  private async putIndexed(puts: ItemPut[]): Promise<void> {
    const index = this.index as StoreIndex;
    const sql = await this.vectorSql();
    const texts = puts.flatMap((put) => put.texts.map((text) => ({ put, ...text })));
    const vectors = await embedTexts(
      index,
      texts.map((t) => t.text),
    );
    const kept = puts.filter((put) => put.json !== null);
    const deletes = puts.filter((put) => put.json === null);
    const rows = [
      this.scope,
      texts.map((t) => t.put.namespace),
      texts.map((t) => t.put.key),
      texts.map((t) => t.field),
      vectors.map(vectorText),
    ];
    const [remove, insert] = replaceVectorsSql(this.q, sql);
    await withTransactionRetries(
      () =>
        this.store.transaction(async (tx) => {
          await this.writeItems(tx, puts, deletes);
          if (kept.length > 0) await tx.query(remove, [this.scope, ...keysOf(kept)], { prepare: true });
          if (texts.length > 0) await tx.query(insert, rows, { prepare: true });
        }),
      DEFAULT_TRANSACTION_RETRIES,
    );
  }

  /**
   * Items under a namespace prefix whose values pass the filter: in order of namespace and key, or
   * ranked by a query (store-search.ts). Checks the operation now; the query is embedded and the
   * search runs when the returned function is called.
   */
  private searchItems(op: RankedSearch): () => Promise<SearchItem[]> {
    const statement: SearchStatement = {
      scope: this.scope,
      q: this.q,
      prefix: op.namespacePrefix.join(SEPARATOR),
      filter: op.filter,
      limit: pageNumber(op.limit, "limit", 10) as number,
      offset: pageNumber(op.offset, "offset", 0) as number,
    };
    const ranking = op.ranking ?? {};
    let mode = ranking.mode ?? "auto";
    if (op.query !== undefined && op.query !== null && op.query !== "") {
      const text = requiredText(op.query, "query");
      if (mode === "auto") mode = this.index ? "vector" : "text";
      if (mode !== "text" && !this.index) {
        throw new ValidationError(
          `a ${mode} search needs the store's index (FlowstoreStore's index option)`,
          {
            field: "mode",
          },
        );
      }
      statement.query = {
        text,
        mode,
        metric: ranking.distanceMetric ?? this.index?.metric ?? "cosine",
        language: this.language,
        threshold: ranking.similarityThreshold,
        weight: ranking.vectorWeight ?? 0.7,
      };
    }
    filterConditions(this.q, op.filter, () => ""); // checks the filter now, before anything is sent
    return async () => {
      const query = statement.query;
      if (query && query.mode !== "text") {
        statement.vectors = await this.vectorSql();
        query.vector = vectorText(await embedQuery(this.index as StoreIndex, query.text));
      }
      const { text, values } = searchSql(statement);
      const { rows } = await this.store.query<ItemRow & { score: number | null }>(text, values, {
        prepare: true,
      });
      return rows.map((row) => ({
        value: row.value,
        key: row.key,
        namespace: row.namespace.split(SEPARATOR),
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        score: row.score === null ? undefined : Number(row.score),
      }));
    };
  }

  /**
   * Namespaces holding an item that meet every match condition (`*` matches any one label), cut to
   * `maxDepth` labels and deduplicated, in byte order of their labels joined by ".", then paged. Checks
   * the operation now; the listing runs when the returned function is called.
   */
  private listNamespacesOf(op: ListNamespacesOperation): () => Promise<string[][]> {
    const values: unknown[] = [this.scope];
    const param: Param = (value) => `$${values.push(value)}`;
    const where = (op.matchConditions ?? []).map((condition) => matches(condition, param));
    const maxDepth = pageNumber(op.maxDepth, "maxDepth", null);
    if (maxDepth === 0) throw new ValidationError("maxDepth must be 1 or more", { field: "maxDepth" });
    const path = maxDepth === null ? "l" : `l[1:${param(maxDepth)}::integer]`;
    const sql = namespacesSql(this.q, where.length > 0 ? where.join(" and ") : "true", path);
    const limit = pageNumber(op.limit, "limit", null);
    const offset = pageNumber(op.offset, "offset", 0);
    const text = `${sql} limit ${param(limit)} offset ${param(offset)}`;
    return async () => {
      const { rows } = await this.store.query<{ path: string[] }>(text, values);
      return rows.map((row) => row.path);
    };
  }
}

/** The namespaces and the keys of puts, as two arrays. */
function keysOf(list: ItemPut[]): [string[], string[]] {
  return [list.map((put) => put.namespace), list.map((put) => put.key)];
}
