/**
 * How the node-postgres driver hands a statement to pg: its query (sendStatement) and its arrays of
 * bytes (withBinaryByteArrays).
 */

import pg from "pg";

/**
 * Arrays of bytes as node-postgres parameters in PostgreSQL's binary array format. node-postgres sends
 * a Buffer parameter as binary, but an array of them as an array literal with each element in hex:
 * twice the bytes on the wire, a hex string built on the event loop while the statement holds its
 * connection, and a server that parses the literal character by character (a 20 MB value cost about
 * 1 s of the server's time that way, against 0.3 s in binary). In binary format each element travels
 * as it is, behind its length.
 */

/** The type of a `bytea[]` array's elements (pg_type.oid of bytea), which the server checks. */
const BYTEA_OID = 17;
/** ndim, flags (has nulls), element type, then for the one dimension its length and lower bound. */
const HEADER_BYTES = 20;

type Bytes = ArrayBufferView;

const isBytes = (value: unknown): value is Bytes => ArrayBuffer.isView(value);

/** A flat array of byte values and nulls, with at least one byte value: a `bytea[]` parameter. */
function isByteArray(value: unknown): value is readonly (Bytes | null | undefined)[] {
  if (!Array.isArray(value) || value.length === 0) return false;
  let bytes = false;
  for (const item of value) {
    if (isBytes(item)) bytes = true;
    else if (item !== null && item !== undefined) return false;
  }
  return bytes;
}

/** One `bytea[]` value in binary format: one copy of its elements, no text. */
function binaryByteArray(items: readonly (Bytes | null | undefined)[]): Buffer {
  let size = HEADER_BYTES;
  let nulls = 0;
  for (const item of items) {
    size += 4 + (item ? item.byteLength : 0);
    if (!item) nulls = 1;
  }
  const out = Buffer.allocUnsafe(size);
  out.writeInt32BE(1, 0);
  out.writeInt32BE(nulls, 4);
  out.writeUInt32BE(BYTEA_OID, 8);
  out.writeInt32BE(items.length, 12);
  out.writeInt32BE(1, 16);
  let at = HEADER_BYTES;
  for (const item of items) {
    if (!item) {
      out.writeInt32BE(-1, at);
      at += 4;
      continue;
    }
    out.writeInt32BE(item.byteLength, at);
    out.set(new Uint8Array(item.buffer, item.byteOffset, item.byteLength), at + 4);
    at += 4 + item.byteLength;
  }
  return out;
}

/**
 * The parameters with each flat array of byte values (a `bytea[]` parameter) in binary format; the
 * others as they were. An array of bytes is only ever sent for a `bytea[]` parameter: the text form
 * node-postgres would make of it is a bytea literal.
 */
export function withBinaryByteArrays(values: readonly unknown[] | undefined): unknown[] | undefined {
  if (!values?.some(isByteArray)) return values as unknown[] | undefined;
  return values.map((value) => (isByteArray(value) ? binaryByteArray(value) : value));
}

/**
 * A statement sent through node-postgres without pg's copy of its query config. pg copies the config
 * object of every query (utils.normalizeQueryConfig: Object.getOwnPropertyDescriptors, then
 * Object.defineProperties on a new object), about 2 µs a call in a loop of its own and three times
 * that among a store's other work, where a sampled profile found it the largest single part of pg's own
 * work for a statement; then it wraps the answer in two promises. A Query made from the text alone is
 * not copied: its name and the parsers of its result's columns are set on it after, and it runs with a
 * callback, answered by one promise of ours.
 *
 * Only on the store's own pools, whose pg is this module's (a Query of this pg run on a client of
 * another copy of pg, a user's pool, may not fit that copy's connection), and only where this pg's
 * Query keeps its result's parsers where this module sets them (checked once, below): elsewhere the
 * config object, as pg documents it.
 */

/** The parsers of a result's columns by type, as pg's `types` option takes them. */
export interface ResultTypes {
  getTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown;
}

type Runner = Pick<pg.Pool | pg.PoolClient, "query">;
type Answer = pg.QueryResult | pg.QueryResult[];
/** A Query as this module sets it up: its name, and the parsers its result reads its columns with. */
type MadeQuery = pg.Query & { name?: string; types?: ResultTypes; _result?: { _types?: unknown } };
/** A runner's query(submittable, callback), which pg's Pool and Client both take. */
type RunWithCallback = (query: pg.Query, callback: (error: Error | null, answer: Answer) => void) => void;

/** Whether a Query made from its text takes its result's parsers after (pg 8's Query and Result). */
const TYPES_SETTABLE = (() => {
  try {
    const types: ResultTypes = { getTypeParser: pg.types.getTypeParser };
    const given = new pg.Query({ text: "select 1", types } as pg.QueryConfig) as MadeQuery;
    const made = new pg.Query("select 1") as MadeQuery;
    return given._result?._types === types && made._result !== undefined && "_types" in made._result;
  } catch {
    return false;
  }
})();

/** Runs `text` on `runner`, named `name` when prepared, its result's columns read by `types`. */
export function sendStatement(
  runner: Runner,
  text: string,
  name: string | undefined,
  values: unknown[] | undefined,
  types: ResultTypes,
  ownPool: boolean,
): Promise<Answer> {
  if (!ownPool || !TYPES_SETTABLE) {
    return runner.query({ text, name, values, types } as pg.QueryConfig) as Promise<Answer>;
  }
  return new Promise((resolve, reject) => {
    const query = new pg.Query(text, values) as MadeQuery;
    query.name = name;
    query.types = types;
    (query._result as { _types?: unknown })._types = types;
    (runner.query as unknown as RunWithCallback).call(runner, query, (error, answer) =>
      error ? reject(error) : resolve(answer),
    );
  });
}
