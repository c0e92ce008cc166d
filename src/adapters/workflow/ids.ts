/**
 * The World's ids and flowstore's. A run id is `wrun_` and a ULID, and a ULID is 128 bits, as a UUID
 * is: the run's execution id is the same 16 bytes, so each maps to the other with nothing stored.
 * Steps, waits and event ids are derived from what they are, so that two writers of the same step
 * name the same row and an event id needs no column of its own.
 */

import { createHash } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const DIGIT = new Map<string, number>();
for (const [i, c] of [...CROCKFORD].entries()) {
  DIGIT.set(c, i);
  DIGIT.set(c.toLowerCase(), i);
}

/** 16 bytes as the 26 characters of a ULID (Crockford base32 of 130 bits, the first two zero). */
export function encodeUlid(bytes: Uint8Array): string {
  let out = "";
  // Bit i of the 130 is bit (i - 2) of the bytes; each character takes the next five.
  for (let bit = 0; bit < 130; bit += 5) {
    let value = 0;
    for (let b = bit; b < bit + 5; b++) {
      const at = b - 2;
      value = (value << 1) | (at < 0 ? 0 : ((bytes[at >> 3] as number) >> (7 - (at & 7))) & 1);
    }
    out += CROCKFORD[value];
  }
  return out;
}

/** The 16 bytes of a ULID, or undefined when the text is not one. */
export function decodeUlid(text: string): Buffer | undefined {
  if (text.length !== 26) return undefined;
  const bytes = Buffer.alloc(16);
  for (let i = 0; i < 26; i++) {
    const digit = DIGIT.get(text[i] as string);
    if (digit === undefined) return undefined;
    for (let j = 4; j >= 0; j--) {
      const at = i * 5 + (4 - j) - 2;
      const set = (digit >> j) & 1;
      if (at < 0) {
        if (set) return undefined; // past 128 bits
      } else if (set) {
        bytes[at >> 3] = (bytes[at >> 3] as number) | (1 << (7 - (at & 7)));
      }
    }
  }
  return bytes;
}

function toUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll("-", ""), "hex");
}

const RUN_PREFIX = "wrun_";

/** The execution id of a run id, or undefined when the run id is not `wrun_` and a ULID. */
export function executionIdOf(runId: string): string | undefined {
  if (typeof runId !== "string" || !runId.startsWith(RUN_PREFIX)) return undefined;
  const bytes = decodeUlid(runId.slice(RUN_PREFIX.length));
  return bytes && toUuid(bytes);
}

/** The run id of an execution id. */
export function runIdOf(executionId: string): string {
  return RUN_PREFIX + encodeUlid(uuidBytes(executionId));
}

/** A UUID made from text by hashing it (the first 16 bytes of its SHA-256). */
export function hashedUuid(...parts: string[]): string {
  return toUuid(sha256Of(parts).subarray(0, 16));
}

/**
 * A UUIDv8 made from text, for the millisecond `ms`: that time in its first 48 bits, as a UUIDv7 has
 * it, then bits of the text's SHA-256. The same text and time make the same id, which sorts and
 * partitions by that time as the store's own ids do; its version (8) marks it as the owner of a stream
 * that belongs to no run, which store.prune() sweeps once its time is before the cut.
 */
export function passedStreamOwner(ms: number, ...parts: string[]): string {
  const bytes = Buffer.from(sha256Of(parts).subarray(0, 16));
  bytes.writeUIntBE(Math.max(0, Math.min(ms, 2 ** 48 - 1)), 0, 6);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80; // version 8
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80; // the RFC 9562 variant
  return toUuid(bytes);
}

/** The time a ULID was made: its first 48 bits; undefined when the text is not a ULID. */
export function ulidTime(text: string): number | undefined {
  return decodeUlid(text)?.readUIntBE(0, 6);
}

function sha256Of(parts: string[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\u0000");
  return hash.digest();
}

/**
 * Whom a stream belongs to. Streams are written for runs that do not exist yet, and for ids that are
 * no run at all (a health check's `wrun_hc_...`): a run's own id where there is one, so its streams go
 * when it is pruned, else a hash of the name.
 */
export function streamOwnerOf(runId: string): string {
  return executionIdOf(runId) ?? hashedUuid("stream", runId);
}

/** The task id of a run's step or wait: one row per (run, kind, correlation id). */
export function taskExecIdOf(executionId: string, kind: "step" | "wait", correlationId: string): string {
  return hashedUuid(executionId, kind, correlationId);
}

/**
 * An event's id: `wevt_` and a ULID whose time is the event's and whose 80 random bits are four bytes
 * of its run's id and its 48-bit sequence number. Events of a run sort by id as by sequence (the time
 * follows the sequence), and the id says which event it is.
 */
export function eventIdOf(executionId: string, sequence: number, createdAt: Date): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(Math.max(0, createdAt.getTime()), 0, 6);
  uuidBytes(executionId).copy(bytes, 6, 12, 16);
  bytes.writeUIntBE(sequence, 10, 6);
  return `wevt_${encodeUlid(bytes)}`;
}

/**
 * An event's id on the slot line (World spec 6 and later): `evnt_` and its position in its run's log,
 * zero-padded to 26 digits. A run's events are numbered 1, 2, 3... with no gap, in commit order (the
 * history's sequence), which is what the SDK's runtime reads out of every id it loads.
 */
export function slotEventId(sequence: number): string {
  return `evnt_${String(sequence).padStart(26, "0")}`;
}

const SLOT_ID = /^evnt_0{10}(\d{16})$/;

/** The position a slot-line event id names, or undefined when the text is not one. */
export function slotOfEventId(eventId: string): number | undefined {
  const slot = typeof eventId === "string" ? SLOT_ID.exec(eventId) : null;
  const n = slot ? Number(slot[1]) : 0;
  return n >= 1 && Number.isSafeInteger(n) ? n : undefined;
}

/** The sequence number an event id names for this run, or undefined when it names none of its events. */
export function sequenceOfEventId(executionId: string, eventId: string): number | undefined {
  const slot = slotOfEventId(eventId);
  if (slot !== undefined) return slot;
  if (typeof eventId !== "string" || !eventId.startsWith("wevt_")) return undefined;
  const bytes = decodeUlid(eventId.slice(5));
  if (!bytes?.subarray(6, 10).equals(uuidBytes(executionId).subarray(12, 16))) return undefined;
  return bytes.readUIntBE(10, 6);
}

/** The time of an event id, to check that it names the event found under its sequence number. */
export function timeOfEventId(eventId: string): number | undefined {
  return decodeUlid(eventId.slice(5))?.readUIntBE(0, 6);
}
