/**
 * FlowstoreStore: LangGraph's long-term memory (BaseStore) on a flowstore store.
 *
 * An item is a JSON value under a namespace (labels) and a key. Namespace labels follow
 * InMemoryStore's rules; a batch reads first and then applies its puts (the last put of a key wins),
 * as InMemoryStore does. Gets go in one statement, the puts in another; searches filter in SQL and
 * list namespaces by a skip scan of the primary key. Results come in byte order of the namespace
 * (labels joined by ".") and then of the key.
 */

import {
  BaseStore,
  type GetOperation,
  InvalidNamespaceError,
  type Item,
  type ListNamespacesOperation,
  type MatchCondition,
  type Operation,
  type OperationResults,
  type SearchItem,
  type SearchOperation,
  validateNamespace,
} from "@langchain/langgraph-checkpoint";
import { ValidationError } from "../../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { hasLoneSurrogate, jsonbRefuses } from "../../core/payload.js";
import { DEFAULT_TRANSACTION_RETRIES, withTransactionRetries } from "../../db/driver.js";
import type { Store } from "../../index.js";
import { checkScope, quotedSchema, requiredText } from "./names.js";
import {
  deleteManySql,
  filterConditions,
  getManySql,
  namespacesSql,
  type Param,
  upsertManySql,
} from "./store-sql.js";

export interface FlowstoreStoreOptions {
  /** The flowstore store that holds the items (migrated: `openStore()` does it). */
  store: Store;
  /** Keeps this store's items apart from other stores' on the same flowstore store (default "default"). */
  scope?: string;
}

const STORE_KEYS = optionKeys<FlowstoreStoreOptions>({ store: true, scope: true });

/** A put of a batch, checked: its value as JSON, or null to delete the item. */
interface ItemPut {
  namespace: string;
  key: string;
  json: string | null;
}

interface ItemRow {
  namespace: string;
  key: string;
  value: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const SEPARATOR = ".";

/**
 * As InMemoryStore checks every namespace an operation names (the root "langgraph" allowed), and also
 * refuses a lone surrogate, as it refuses NUL: text would hold it as U+FFFD, so two labels would name
 * one namespace.
 */
function checkNamespace(namespace: string[]): string {
  validateNamespace(namespace, { allowReservedRoot: true });
  namespace.forEach(checkLabel);
  return namespace.join(SEPARATOR);
}

function checkLabel(label: string): void {
  if (hasLoneSurrogate(label)) {
    throw new InvalidNamespaceError(
      "Namespace labels cannot contain a lone surrogate (half of a UTF-16 pair), which text cannot hold.",
    );
  }
}

function checkKey(key: unknown): string {
  return requiredText(key, "key", true);
}

/** A value as stored: JSON, which PostgreSQL's jsonb holds only without NUL in its strings. */
function valueJson(value: unknown): string {
  if (typeof value !== "object" || value === null) {
    throw new ValidationError("an item's value must be an object, or null to delete", { field: "value" });
  }
  const json = JSON.stringify(value);
  const refused = jsonbRefuses(json);
  if (refused === "NUL") {
    throw new ValidationError("an item's value cannot hold NUL (\\u0000) in a string", { field: "value" });
  }
  if (refused) {
    throw new ValidationError("an item's value cannot hold a lone surrogate (half of a UTF-16 pair)", {
      field: "value",
    });
  }
  return json;
}

function pageNumber(value: number | undefined, field: string, fallback: number | null): number | null {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new ValidationError(`${field} must be an integer, 0 or more`, { field });
  }
  return value;
}

export class FlowstoreStore extends BaseStore {
  readonly scope: string;
  private readonly store: Store;
  private readonly q: string;

  constructor(options: FlowstoreStoreOptions) {
    super();
    refuseUnknownKeys(options, STORE_KEYS);
    this.store = options.store;
    this.scope = checkScope(options.scope);
    this.q = quotedSchema(options.store);
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
        const search = this.searchItems(op);
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
        puts.set(`${namespace}\u0000${key}`, { namespace, key, json });
      } else if ("key" in op && "namespace" in op) {
        gets.push([i, op, checkNamespace(op.namespace), checkKey(op.key)]);
      }
    });
    if (gets.length > 0) reads.push(() => this.getMany(gets, results));
    await Promise.all(reads.map((read) => read()));
    if (puts.size > 0) await this.putMany([...puts.values()]);
    return results as OperationResults<Op>;
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
    const deletes = puts.filter((put) => put.json === null);
    const keys = (list: ItemPut[]) => [list.map((put) => put.namespace), list.map((put) => put.key)];
    if (deletes.length === 0) {
      const values = [this.scope, ...keys(puts), puts.map((put) => put.json)];
      await withTransactionRetries(
        () => this.store.query(upsertManySql(this.q), values, { prepare: true }),
        DEFAULT_TRANSACTION_RETRIES,
      );
    } else if (deletes.length === puts.length) {
      const values = [this.scope, ...keys(deletes)];
      await withTransactionRetries(
        () => this.store.query(deleteManySql(this.q), values, { prepare: true }),
        DEFAULT_TRANSACTION_RETRIES,
      );
    } else {
      const upserts = [this.scope, ...keys(puts), puts.map((put) => put.json ?? "null")];
      await this.store.transaction(async (tx) => {
        await tx.query(upsertManySql(this.q), upserts, { prepare: true });
        await tx.query(deleteManySql(this.q), [this.scope, ...keys(deletes)], { prepare: true });
      });
    }
  }

  /**
   * Items under a namespace prefix whose values pass the filter, in order of namespace and key. A
   * `query` (semantic search) needs embeddings, which this store does not keep: it is ignored, and
   * items come without a score, as from an InMemoryStore without an index. Checks the operation now;
   * the search runs when the returned function is called.
   */
  private searchItems(op: SearchOperation): () => Promise<SearchItem[]> {
    const values: unknown[] = [this.scope];
    const param: Param = (value) => `$${values.push(value)}`;
    const where = ["scope = $1"];
    if (op.namespacePrefix.length > 0) {
      const prefix = op.namespacePrefix.join(SEPARATOR);
      // The namespace itself, or one below it: "a.b" and "a.b.*", which sort from "a.b." to "a.b/".
      where.push(
        `(namespace = ${param(prefix)} or (namespace >= ${param(`${prefix}.`)} and namespace < ${param(`${prefix}/`)}))`,
      );
    }
    where.push(...filterConditions(this.q, op.filter, param));
    const limit = pageNumber(op.limit, "limit", 10);
    const offset = pageNumber(op.offset, "offset", 0);
    const sql = `select namespace, key, value, created_at, updated_at from ${this.q}.langgraph_store
       where ${where.join(" and ")}
       order by namespace, key
       limit ${param(limit)} offset ${param(offset)}`;
    return async () => {
      const { rows } = await this.store.query<ItemRow>(sql, values);
      return rows.map((row) => ({
        value: row.value,
        key: row.key,
        namespace: row.namespace.split(SEPARATOR),
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        score: undefined,
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

/** A match condition on the labels `l`: its labels at the start (prefix) or the end (suffix). */
function matches(condition: MatchCondition, param: Param): string {
  const { matchType, path } = condition;
  if (matchType !== "prefix" && matchType !== "suffix") {
    throw new ValidationError(`Unsupported match type: ${matchType}`, { field: "matchType" });
  }
  const parts = [`cardinality(l) >= ${param(path.length)}::integer`];
  path.forEach((label, i) => {
    if (label === "*") return;
    // Sent as text, a lone surrogate would match the labels holding U+FFFD.
    checkLabel(String(label));
    const at = matchType === "prefix" ? `${i + 1}` : `cardinality(l) - ${path.length - 1 - i}`;
    parts.push(`l[${at}] = ${param(String(label))}`);
  });
  return `(${parts.join(" and ")})`;
}
