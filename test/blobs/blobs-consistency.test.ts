/**
 * Blob puts and transactions (postgres backend): a retried transaction, a copy from one key to
 * another, puts in parallel in one transaction, and content that no committed row points to.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { DEFAULT_CHUNK_SIZE, postgresBlobs } from "../../src/blobs/postgres.js";
import { BlobError, type Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

async function* inPieces(data: Uint8Array, size = 300_007): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

/** Rejects if `work` has not settled within `ms`: a hang shows as a failure, not a timeout of the file. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([work, hung]).finally(() => clearTimeout(timer));
}

async function count(store: Store, table: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.${table}`,
  );
  return rows[0]?.n ?? -1;
}

/** The grace of the test of content left by a put that never committed. */
const GRACE_MS = 2_000;

const serializationFailure = `do $$ begin raise exception 'could not serialize access' using errcode = 'serialization_failure'; end $$`;

forEachDriver((driver) => {
  describe("blob puts and transactions", () => {
    it("a put in a transaction run again after a serialization failure stores the whole blob", async () => {
      const store = await driver.open();
      const data = randomBytes(2 * DEFAULT_CHUNK_SIZE + 11);
      const source = Readable.from(inPieces(data));
      let attempts = 0;
      await store.transaction(async (tx) => {
        await tx.blobs.put("retried", source);
        if (++attempts === 1) await tx.query(serializationFailure);
      });
      expect(attempts).toBe(2);
      expect(await store.blobs.head("retried")).toMatchObject({ size: data.length });
      expect((await store.blobs.get("retried")).equals(data)).toBe(true);
    });

    it("copies a blob by putting the stream of another", async () => {
      const store = await driver.open();
      const data = randomBytes(3 * DEFAULT_CHUNK_SIZE + 5);
      await store.blobs.put("original", data);
      await within(10_000, store.blobs.put("copy", await store.blobs.stream("original")));
      expect((await store.blobs.get("copy")).equals(data)).toBe(true);
      await store.transaction(async (tx) => {
        await tx.blobs.put("copy-in-tx", await tx.blobs.stream("original"));
      });
      expect((await store.blobs.get("copy-in-tx")).equals(data)).toBe(true);
    });

    if (driver.name === "postgres") {
      it("copies a blob on a pool of one connection", async () => {
        const store = await driver.open({ pool: { max: 1 } });
        const data = randomBytes(2 * DEFAULT_CHUNK_SIZE + 5);
        await store.blobs.put("original", data);
        await within(10_000, store.blobs.put("copy", await store.blobs.stream("original")));
        expect((await store.blobs.get("copy")).equals(data)).toBe(true);
      });
    }

    it("two puts in parallel in one transaction both commit", async () => {
      const store = await driver.open();
      // The first savepoint is released while the second is still open.
      const a = randomBytes(10);
      const b = randomBytes(2 * DEFAULT_CHUNK_SIZE + 1);
      await store.transaction(async (tx) => {
        await Promise.all([tx.blobs.put("a", inPieces(a)), tx.blobs.put("b", inPieces(b))]);
        await tx.kv.set("refs", "both", "a and b");
      });
      expect((await store.blobs.get("a")).equals(a)).toBe(true);
      expect((await store.blobs.get("b")).equals(b)).toBe(true);
    });

    it("content whose put never committed is collected after the grace period, not before", async () => {
      // A grace long enough that the first collection below comes before it, however loaded the machine
      // (400 ms was not, once, on PGlite in CI).
      const store = await driver.open({ blobs: postgresBlobs({ orphanGraceMs: GRACE_MS }) });
      const data = randomBytes(2 * DEFAULT_CHUNK_SIZE + 3);
      await expect(
        store.transaction(async (tx) => {
          await tx.blobs.put("rolled-back", data);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      // A put that stops midway, as a process that dies would: its chunks are stored, its row is not.
      let resume: () => void = () => {};
      const stalled = new Promise<void>((resolve) => {
        resume = resolve;
      });
      let written: () => void = () => {};
      const halfway = new Promise<void>((resolve) => {
        written = resolve;
      });
      async function* stalling(): AsyncGenerator<Uint8Array> {
        yield randomBytes(DEFAULT_CHUNK_SIZE);
        yield randomBytes(DEFAULT_CHUNK_SIZE);
        written();
        await stalled;
        yield randomBytes(1);
      }
      const interrupted = store.blobs.put("interrupted", stalling()).catch((e: unknown) => e);
      await halfway;
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await count(store, "blob_chunks")).toBeGreaterThanOrEqual(1);
      expect(await store.blobs.collectGarbage()).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 100));
      expect(await store.blobs.collectGarbage()).toBeGreaterThanOrEqual(1);
      expect(await count(store, "blob_chunks")).toBe(0);
      // The put, resumed after its content was collected, fails instead of committing a broken blob.
      resume();
      expect(await interrupted).toBeInstanceOf(BlobError);
      expect(await store.blobs.exists("interrupted")).toBe(false);
      expect(await store.blobs.exists("rolled-back")).toBe(false);
      await store.blobs.put("kept", data);
      await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 100));
      expect(await store.blobs.collectGarbage()).toBe(0);
      expect((await store.blobs.get("kept")).equals(data)).toBe(true);
    });
  });
});
