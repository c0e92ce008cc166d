/**
 * The vectors of FlowstoreStore's semantic index: a table of its own (`langgraph_store_vectors`, a row
 * per embedded field of an item, removed with the item), made by `setup()` rather than by a migration,
 * because it needs pgvector, which a store without an index neither needs nor creates, and the length
 * of its vectors is the index's. pgvector's names are written with its schema, wherever it is installed.
 */

import { ValidationError } from "../../core/errors.js";
import type { Store } from "../../index.js";
import type { DistanceMetric, StoreIndex } from "./store-index.js";

/** pgvector's operator for a metric (its distance), and the index's operator class. */
const DISTANCE: Record<DistanceMetric, { operator: string; opclass: string }> = {
  cosine: { operator: "<=>", opclass: "vector_cosine_ops" },
  l2: { operator: "<->", opclass: "vector_l2_ops" },
  inner_product: { operator: "<#>", opclass: "vector_ip_ops" },
};

/** The vectors' SQL: where pgvector is, and the expressions a search ranks by. */
export interface VectorSql {
  /** The vector type, `ext.vector`. */
  type: string;
  /** The similarity of an item's nearest field, higher nearer (`embedding` its rows' column). */
  score(metric: DistanceMetric, embedding: string, query: string): string;
}

function vectorSql(ext: string): VectorSql {
  const distance = (metric: DistanceMetric, embedding: string, query: string) =>
    `(${embedding} operator(${ext}.${DISTANCE[metric].operator}) ${query}::${ext}.vector)`;
  return {
    type: `${ext}.vector`,
    score(metric, embedding, query) {
      const d = distance(metric, embedding, query);
      // As PostgresStore scores: cosine 1 - distance, l2 1 / (1 + distance); pgvector's <#> is the
      // inner product negated, so its similarity is the product itself.
      if (metric === "cosine") return `(1 - min(${d}))`;
      if (metric === "l2") return `(1 / (1 + min(${d})))`;
      return `(-min(${d}))`;
    },
  };
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Makes the vectors' table and its indexes where they are not, under an advisory lock so that two
 * processes setting up at once do not collide; refuses an index whose dims differ from the table's.
 * Returns the SQL of pgvector's names.
 */
export async function setupVectors(store: Store, q: string, index: StoreIndex): Promise<VectorSql> {
  if (store.driver.capabilities.distributed) {
    throw new ValidationError(
      "FlowstoreStore's semantic index is not available on a distributed (Citus) store: search without index",
      { field: "index" },
    );
  }
  return store.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock(hashtext($1))", [`${q}.langgraph_store_vectors`]);
    const ext = quote(await vectorSchema(tx));
    const vectors = `${q}.langgraph_store_vectors`;
    await tx.query(`create table if not exists ${vectors} (
      scope text collate "C" not null,
      namespace text collate "C" not null,
      key text collate "C" not null,
      field text collate "C" not null,
      embedding ${ext}.vector(${index.dims}) not null,
      primary key (scope, namespace, key, field),
      foreign key (scope, namespace, key) references ${q}.langgraph_store on delete cascade)`);
    const { rows } = await tx.query<{ dims: number }>(
      `select atttypmod as dims from pg_attribute where attrelid = $1::regclass and attname = 'embedding'`,
      [vectors],
    );
    const dims = rows[0]?.dims;
    if (dims !== index.dims) {
      throw new ValidationError(
        `this store's semantic index holds vectors of ${dims} dimensions; index.dims is ${index.dims} (one length per store: drop ${vectors} to change it)`,
        { field: "index.dims" },
      );
    }
    for (const metric of index.metrics) {
      const name = `langgraph_store_vectors_${metric}_${index.indexType}`;
      await tx.query(`create index if not exists ${name} on ${vectors}
        using ${index.indexType} (embedding ${ext}.${DISTANCE[metric].opclass}) with (${index.indexParameters})`);
    }
    return vectorSql(ext);
  });
}

/** The schema pgvector is installed in, installing it where it is available but not yet created. */
async function vectorSchema(tx: Pick<Store, "query">): Promise<string> {
  const installed = `select n.nspname as schema from pg_extension e
    join pg_namespace n on n.oid = e.extnamespace where e.extname = 'vector'`;
  const found = (await tx.query<{ schema: string }>(installed)).rows[0];
  if (found) return found.schema;
  const { rows } = await tx.query("select 1 from pg_available_extensions where name = 'vector'");
  if (rows.length === 0) {
    throw new ValidationError(
      "FlowstoreStore's index needs pgvector, which this database does not have: on PostgreSQL install pgvector (the `vector` extension) on the server; on the embedded store install @electric-sql/pglite-pgvector beside flowstore",
      { field: "index" },
    );
  }
  try {
    await tx.query("create extension if not exists vector");
  } catch (error) {
    throw new ValidationError(
      `FlowstoreStore's index needs pgvector, and this role may not create it (${(error as Error).message}): ask the database's owner to run \`create extension vector\``,
      { field: "index", cause: error },
    );
  }
  return ((await tx.query<{ schema: string }>(installed)).rows[0] as { schema: string }).schema;
}

/**
 * Replacing the vectors of a batch's items: the delete of their vectors ($2 namespaces, $3 keys), and
 * the insert of the new rows ($2 namespaces, $3 keys, $4 fields, $5 vectors as pgvector's text).
 */
export function replaceVectorsSql(q: string, sql: VectorSql): [remove: string, insert: string] {
  return [
    `delete from ${q}.langgraph_store_vectors v using unnest($2::text[], $3::text[]) as k(namespace, key)
     where v.scope = $1 and v.namespace = k.namespace and v.key = k.key`,
    `insert into ${q}.langgraph_store_vectors (scope, namespace, key, field, embedding)
     select $1, r.namespace, r.key, r.field, r.embedding::${sql.type}
     from unnest($2::text[], $3::text[], $4::text[], $5::text[]) as r(namespace, key, field, embedding)`,
  ];
}
