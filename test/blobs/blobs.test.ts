import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { DEFAULT_CHUNK_SIZE } from "../../src/blobs/postgres.js";
import { BlobError, NotFoundError, type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function readAll(stream: Readable): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

/** Yields `data` in pieces of odd sizes, so chunk boundaries never line up with them. */
async function* inPieces(data: Uint8Array, size = 300_007): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

/** Yields `bytes` bytes, then fails: a client that went away mid-upload. */
async function* interrupted(bytes: number): AsyncGenerator<Uint8Array> {
  yield randomBytes(bytes);
  throw new Error("connection reset by peer");
}

async function chunkRows(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.blob_chunks`,
  );
  return rows[0]?.n ?? -1;
}

forEachDriver((driver) => {
  describe("blobs (postgres backend)", () => {
    const sizes: Array<[string, number]> = [
      ["0 bytes", 0],
      ["1 byte", 1],
      ["exactly one chunk", DEFAULT_CHUNK_SIZE],
      ["one chunk plus one byte", DEFAULT_CHUNK_SIZE + 1],
      ["20 MiB", 20 * MiB],
    ];
    for (const [name, size] of sizes) {
      it(`round-trips ${name}, streamed in and out, compared by sha256`, async () => {
        const store = await driver.open();
        const data = randomBytes(size);
        const info = await store.blobs.put("blob", Readable.from(inPieces(data)), {
          contentType: "application/octet-stream",
        });
        expect(info).toMatchObject({ key: "blob", size, sha256: sha256(data), backend: "postgres" });
        expect(sha256(await readAll(await store.blobs.stream("blob")))).toBe(sha256(data));
        expect(await chunkRows(store)).toBe(Math.ceil(size / DEFAULT_CHUNK_SIZE));
      });
    }

    it("accepts bytes and async iterables, and get() returns the bytes", async () => {
      const store = await driver.open();
      const data = randomBytes(DEFAULT_CHUNK_SIZE + 3);
      await store.blobs.put("bytes", data);
      await store.blobs.put("iterable", inPieces(data, 65_537));
      expect((await store.blobs.get("bytes")).equals(data)).toBe(true);
      expect((await store.blobs.get("iterable")).equals(data)).toBe(true);
    });

    it("get() reads every chunk in order, an empty blob too, and refuses damaged content", async () => {
      const store = await driver.open();
      const data = randomBytes(DEFAULT_CHUNK_SIZE * 2 + 5);
      await store.blobs.put("chunks", data);
      await store.blobs.put("empty", new Uint8Array());
      expect((await store.blobs.get("chunks")).equals(data)).toBe(true);
      expect((await store.blobs.get("empty")).length).toBe(0);
      await store.query(
        `update ${store.schema}.blob_chunks set data = set_byte(data, 0, (get_byte(data, 0) + 1) % 256)
          where seq = 1 and blob_id = (select id from ${store.schema}.blobs where key = 'chunks')`,
      );
      await expect(store.blobs.get("chunks")).rejects.toBeInstanceOf(BlobError);
      await expect(store.blobs.get("none")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("reads byte ranges, inclusive of their end, across chunk boundaries", async () => {
      const store = await driver.open();
      const data = randomBytes(3 * DEFAULT_CHUNK_SIZE + 10);
      await store.blobs.put("r", inPieces(data));
      const ranges: Array<[number | undefined, number | undefined]> = [
        [0, 0],
        [DEFAULT_CHUNK_SIZE - 1, DEFAULT_CHUNK_SIZE],
        [10, 2 * DEFAULT_CHUNK_SIZE + 5],
        [DEFAULT_CHUNK_SIZE, 2 * DEFAULT_CHUNK_SIZE - 1],
        [data.length - 1, undefined],
        [undefined, 99],
        [3 * DEFAULT_CHUNK_SIZE + 5, data.length + 1000],
      ];
      for (const [start, end] of ranges) {
        const expected = data.subarray(start ?? 0, end === undefined ? undefined : end + 1);
        const got = await readAll(await store.blobs.stream("r", { start, end }));
        expect(got.equals(expected), `range ${start}-${end}`).toBe(true);
      }
      expect((await readAll(await store.blobs.stream("r", { start: data.length }))).length).toBe(0);
      await expect(store.blobs.stream("r", { start: -1 })).rejects.toBeInstanceOf(ValidationError);
    });

    it("heads, checks existence, lists by prefix and deletes", async () => {
      const store = await driver.open();
      for (const key of ["a/1", "a/2", "a%/x", "a_/y", "ab/3", "b/1"])
        await store.blobs.put(key, Buffer.from(key));
      const head = await store.blobs.head("a/1");
      expect(head).toMatchObject({
        key: "a/1",
        size: 3,
        sha256: sha256(Buffer.from("a/1")),
        contentType: null,
      });
      expect(head.createdAt).toBeInstanceOf(Date);
      expect(await store.blobs.exists("a/1")).toBe(true);
      expect(await store.blobs.exists("a/9")).toBe(false);
      expect((await store.blobs.list("a/")).items.map((b) => b.key)).toEqual(["a/1", "a/2"]);
      expect((await store.blobs.list("a%")).items.map((b) => b.key)).toEqual(["a%/x"]);
      expect((await store.blobs.list("a_")).items.map((b) => b.key)).toEqual(["a_/y"]);
      const first = await store.blobs.list("", { limit: 4 });
      const rest = await store.blobs.list("", { limit: 4, cursor: first.nextCursor });
      expect([...first.items, ...rest.items].map((b) => b.key)).toEqual([
        "a%/x",
        "a/1",
        "a/2",
        "a_/y",
        "ab/3",
        "b/1",
      ]);
      expect(rest.nextCursor).toBeNull();
      expect(await store.blobs.delete("a/1")).toBe(true);
      expect(await store.blobs.delete("a/1")).toBe(false);
      await expect(store.blobs.get("a/1")).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.blobs.head("a/1")).rejects.toBeInstanceOf(NotFoundError);
      expect(await chunkRows(store)).toBe(5);
    });

    it("replacing a blob drops the old chunks", async () => {
      const store = await driver.open();
      await store.blobs.put("k", randomBytes(2 * DEFAULT_CHUNK_SIZE + 1));
      const replacement = randomBytes(10);
      await store.blobs.put("k", replacement, { contentType: "text/plain" });
      expect((await store.blobs.get("k")).equals(replacement)).toBe(true);
      expect((await store.blobs.head("k")).contentType).toBe("text/plain");
      expect(await chunkRows(store)).toBe(1);
    });

    it("an interrupted stream upload leaves nothing readable, and the previous blob intact", async () => {
      const store = await driver.open();
      const failure = await store.blobs
        .put("fresh", interrupted(2 * DEFAULT_CHUNK_SIZE + 1))
        .catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(BlobError);
      expect((failure as BlobError).cause).toMatchObject({ message: "connection reset by peer" });
      expect(await store.blobs.exists("fresh")).toBe(false);
      await expect(store.blobs.get("fresh")).rejects.toBeInstanceOf(NotFoundError);
      const previous = randomBytes(1000);
      await store.blobs.put("kept", previous);
      const source = Readable.from(interrupted(DEFAULT_CHUNK_SIZE + 5));
      await expect(store.blobs.put("kept", source)).rejects.toBeInstanceOf(BlobError);
      expect((await store.blobs.get("kept")).equals(previous)).toBe(true);
      expect(await chunkRows(store)).toBe(1);
    });

    it("an aborted put stores nothing", async () => {
      const store = await driver.open();
      const controller = new AbortController();
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield randomBytes(DEFAULT_CHUNK_SIZE + 1);
        controller.abort();
        yield randomBytes(DEFAULT_CHUNK_SIZE + 1);
      }
      await expect(store.blobs.put("aborted", slow(), { signal: controller.signal })).rejects.toBeInstanceOf(
        BlobError,
      );
      expect(await store.blobs.exists("aborted")).toBe(false);
      expect(await chunkRows(store)).toBe(0);
    });

    it("a put inside a transaction commits with it, or vanishes with its rollback", async () => {
      const store = await driver.open();
      const data = randomBytes(DEFAULT_CHUNK_SIZE + 7);
      await expect(
        store.transaction(async (tx) => {
          await tx.blobs.put("rolled-back", data);
          expect(sha256(await tx.blobs.get("rolled-back"))).toBe(sha256(data));
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.blobs.exists("rolled-back")).toBe(false);
      await store.transaction(async (tx) => {
        await tx.kv.set("refs", "latest", "committed");
        await tx.blobs.put("committed", data);
        // A failed put is a savepoint rolled back alone: the transaction goes on.
        await expect(tx.blobs.put("broken", interrupted(10))).rejects.toBeInstanceOf(BlobError);
      });
      expect(sha256(await store.blobs.get("committed"))).toBe(sha256(data));
      expect(await store.blobs.exists("broken")).toBe(false);
      // Content of the rolled-back put no row points to is removed once past the grace period.
      await store.blobs.collectGarbage({ graceMs: 0 });
      expect(await chunkRows(store)).toBe(2);
    });

    it("rejects bad input before storing anything", async () => {
      const store = await driver.open();
      await expect(store.blobs.put("", Buffer.from("x"))).rejects.toBeInstanceOf(ValidationError);
      await expect(store.blobs.put("k", "text" as unknown as Uint8Array)).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.blobs.put("k".repeat(1025), Buffer.from("x"))).rejects.toBeInstanceOf(
        ValidationError,
      );
      async function* notBytes(): AsyncGenerator<unknown> {
        yield 42;
      }
      await expect(store.blobs.put("k", notBytes() as AsyncIterable<Uint8Array>)).rejects.toBeInstanceOf(
        ValidationError,
      );
      expect(await store.blobs.exists("k")).toBe(false);
    });
  });
});
