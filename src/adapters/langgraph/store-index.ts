/**
 * The semantic index of FlowstoreStore, configured as LangGraph's PostgresStore configures its own
 * (`index: { dims, embed, fields, distanceMetric, indexType, hnsw, ivfflat }`): which texts of an item
 * are embedded, and the checks of what the embedder returns. The vectors are pgvector's.
 */

import { ValidationError } from "../../core/errors.js";
import { checkInteger, checkOneOf, optionKeys, refuseUnknownKeys } from "../../core/input.js";

/** LangChain's Embeddings, or a function from texts to their vectors. */
export interface Embeddings {
  embedDocuments(texts: string[]): Promise<number[][]>;
  embedQuery(text: string): Promise<number[]>;
}
export type EmbeddingsFunc = (texts: string[]) => Promise<number[][]>;
export type DistanceMetric = "cosine" | "l2" | "inner_product";
export type VectorIndexType = "hnsw" | "ivfflat";

export interface StoreIndexConfig {
  /** The length of every vector the embedder returns (at most 2,000: pgvector's index limit). */
  dims: number;
  /** Makes the vectors: LangChain Embeddings, or a function from texts to vectors. */
  embed: Embeddings | EmbeddingsFunc;
  /**
   * What of a value is embedded, each a path: `title`, `a.b`, `tags[0]`, `tags[-1]` (the last),
   * `sections[*].text` (each one); `$` (the default) is the whole value as JSON. An item is ranked by
   * its nearest field.
   */
  fields?: string[];
  /** How nearness is measured (default cosine); the score is the similarity, higher nearer. */
  distanceMetric?: DistanceMetric;
  /** The approximate index pgvector keeps for queries of your own (default hnsw). */
  indexType?: VectorIndexType;
  hnsw?: { m?: number; efConstruction?: number };
  ivfflat?: { lists?: number };
  /** Makes the index for every metric, not only distanceMetric's. */
  createAllMetricIndexes?: boolean;
}

/** The checked configuration. */
export interface StoreIndex {
  dims: number;
  embed: StoreIndexConfig["embed"];
  fields: string[];
  metric: DistanceMetric;
  indexType: VectorIndexType;
  /** The `with (...)` of the index. */
  indexParameters: string;
  metrics: readonly DistanceMetric[];
}

const INDEX_KEYS = optionKeys<StoreIndexConfig>({
  dims: true,
  embed: true,
  fields: true,
  distanceMetric: true,
  indexType: true,
  hnsw: true,
  ivfflat: true,
  createAllMetricIndexes: true,
});
export const METRICS: readonly DistanceMetric[] = ["cosine", "l2", "inner_product"];
const MAX_DIMS = 2000;

/** An optional integer setting: `fallback` when unset, else checked by checkInteger. */
function integerOr(value: unknown, field: string, fallback: number, max: number): number {
  return value === undefined ? fallback : checkInteger(value, field, 1, max);
}

/** An optional choice: `fallback` when unset, else checked by checkOneOf. */
function oneOrDefault<T extends string>(
  value: unknown,
  allowed: readonly T[],
  field: string,
  fallback: T,
): T {
  return value === undefined ? fallback : checkOneOf(value, allowed, field);
}

/** Checks an `index` option, refusing what PostgresStore would fail on later, or ignore. */
export function checkIndex(config: StoreIndexConfig): StoreIndex {
  if (typeof config !== "object" || config === null) {
    throw new ValidationError("index must be an object: { dims, embed, fields }", { field: "index" });
  }
  refuseUnknownKeys(config, INDEX_KEYS, "index");
  const dims = checkInteger(config.dims, "index.dims", 1, MAX_DIMS);
  const embed = config.embed;
  const embeds =
    typeof embed === "function" ||
    (typeof embed === "object" && embed !== null && typeof embed.embedDocuments === "function");
  if (!embeds) {
    throw new ValidationError("index.embed must be a function of texts, or LangChain Embeddings", {
      field: "index.embed",
    });
  }
  const fields = config.fields ?? ["$"];
  if (
    !Array.isArray(fields) ||
    fields.length === 0 ||
    !fields.every((f) => typeof f === "string" && f !== "")
  ) {
    throw new ValidationError("index.fields must be a non-empty list of paths", { field: "index.fields" });
  }
  const metric = oneOrDefault(config.distanceMetric, METRICS, "index.distanceMetric", "cosine");
  const indexType = oneOrDefault(config.indexType, ["hnsw", "ivfflat"] as const, "index.indexType", "hnsw");
  let indexParameters: string;
  if (indexType === "hnsw") {
    refuseUnknownKeys(config.hnsw ?? {}, optionKeys({ m: true, efConstruction: true }), "index.hnsw");
    const m = integerOr(config.hnsw?.m, "index.hnsw.m", 16, 100);
    const ef = integerOr(config.hnsw?.efConstruction, "index.hnsw.efConstruction", 200, 1000);
    indexParameters = `m = ${m}, ef_construction = ${ef}`;
  } else {
    refuseUnknownKeys(config.ivfflat ?? {}, optionKeys({ lists: true }), "index.ivfflat");
    indexParameters = `lists = ${integerOr(config.ivfflat?.lists, "index.ivfflat.lists", 100, 32768)}`;
  }
  const metrics = config.createAllMetricIndexes === true ? METRICS : [metric];
  return { dims, embed, fields, metric, indexType, indexParameters, metrics };
}

/** A text to embed: the item's path it came from, and the text. */
export interface FieldText {
  field: string;
  text: string;
}

/**
 * The texts of a value at each path, in the order of the paths and then of the elements a path names;
 * blank ones left out. A path that names several texts names each as `path[i]`.
 */
export function fieldTexts(value: unknown, paths: string[]): FieldText[] {
  const texts: FieldText[] = [];
  for (const path of paths) {
    const found = path === "$" ? [JSON.stringify(value)] : textsAt(value, path.split("."));
    found.forEach((text, i) => {
      const trimmed = text.trim();
      if (trimmed !== "") texts.push({ field: found.length > 1 ? `${path}[${i}]` : path, text: trimmed });
    });
  }
  return texts;
}

const asText = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

function textsAt(value: unknown, parts: string[]): string[] {
  let current = value;
  for (let i = 0; i < parts.length; i++) {
    const match = /^([^[]*)(?:\[(\*|-?\d+)\])?$/.exec(parts[i] as string);
    if (!match) return [];
    const [, name, index] = match;
    if (name) current = isObject(current) ? current[name] : undefined;
    if (index === "*") {
      if (!Array.isArray(current)) return [];
      const rest = parts.slice(i + 1);
      return current.flatMap((element) =>
        element === null || element === undefined
          ? []
          : rest.length > 0
            ? textsAt(element, rest)
            : [asText(element)],
      );
    }
    if (index !== undefined) {
      if (!Array.isArray(current)) return [];
      const n = Number(index);
      current = current[n < 0 ? current.length + n : n];
    }
    if (current === null || current === undefined) return [];
  }
  return [asText(current)];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** The vectors of `texts`, checked: one per text, each of `dims` finite numbers. */
export async function embedTexts(index: StoreIndex, texts: string[]): Promise<number[][]> {
  if (texts.length === 0) return [];
  const { embed } = index;
  const vectors = typeof embed === "function" ? await embed(texts) : await embed.embedDocuments(texts);
  if (!Array.isArray(vectors) || vectors.length !== texts.length) {
    throw new ValidationError(
      `index.embed returned ${Array.isArray(vectors) ? vectors.length : "no"} vectors for ${texts.length} texts`,
      { field: "index.embed" },
    );
  }
  for (const vector of vectors) checkVector(index, vector);
  return vectors;
}

/** The vector of a search's query: embedQuery where the embedder has one. */
export async function embedQuery(index: StoreIndex, query: string): Promise<number[]> {
  const { embed } = index;
  if (typeof embed !== "function" && typeof embed.embedQuery === "function") {
    const vector = await embed.embedQuery(query);
    checkVector(index, vector);
    return vector;
  }
  return (await embedTexts(index, [query]))[0] as number[];
}

function checkVector(index: StoreIndex, vector: unknown): void {
  if (!Array.isArray(vector) || vector.length !== index.dims) {
    const got = Array.isArray(vector) ? `${vector.length}` : "not an array";
    throw new ValidationError(
      `index.embed must return vectors of ${index.dims} numbers (index.dims); got ${got}`,
      {
        field: "index.embed",
      },
    );
  }
  if (!vector.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw new ValidationError("index.embed returned a vector holding a value that is not a finite number", {
      field: "index.embed",
    });
  }
}

/** A vector as pgvector's text input. */
export const vectorText = (vector: number[]): string => `[${vector.join(",")}]`;
