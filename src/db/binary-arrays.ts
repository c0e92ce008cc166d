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
