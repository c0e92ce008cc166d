/**
 * The S3 backend against s3rver, a real S3 HTTP server on 127.0.0.1 (no mocked SDK). Every request
 * s3rver receives is recorded, so the tests can see multipart uploads and their aborts happen.
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3BlobBackend, S3BlobError, s3 } from "../../src/blobs/s3.js";
import { BlobError, type Logger, NotFoundError, type Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { type LocalS3, startLocalS3 } from "../support/local-s3.js";

const MiB = 1024 * 1024;
const BUCKET = "flowstore-test";
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

let local: LocalS3;
let endpoint: string;
const requests: string[] = [];
const backends: S3BlobBackend[] = [];

beforeAll(async () => {
  local = await startLocalS3([BUCKET]);
  endpoint = local.endpoint;
  local.server.httpServer.on("request", (request) => requests.push(`${request.method} ${request.url}`));
});

afterAll(async () => {
  for (const backend of backends) backend.close();
  await local?.close();
});

function backend(options: { bucket?: string; prefix?: string } = {}): S3BlobBackend {
  const made = s3({
    endpoint,
    region: "us-east-1",
    bucket: options.bucket ?? BUCKET,
    credentials: local.credentials,
    forcePathStyle: true,
    prefix: options.prefix ?? `${randomBytes(4).toString("hex")}/`,
  });
  backends.push(made);
  return made;
}

/** Object names under the backend's prefix. */
async function objects(b: S3BlobBackend): Promise<string[]> {
  const prefix = b.objectKey("");
  const listed = await b.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? "");
}

async function readAll(stream: Readable): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

async function* inPieces(data: Uint8Array, size = 1_000_003): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

/**
 * s3rver does not implement AbortMultipartUpload (it answers 405), so the backend logs that it could
 * not abort; the tests check the abort was sent and keep the warning out of the output.
 */
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Requests recorded while `fn` ran. */
async function recording(fn: () => Promise<unknown>): Promise<string[]> {
  const from = requests.length;
  await fn();
  return requests.slice(from);
}

async function metadataRows(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(`select count(*)::int as n from ${store.schema}.blobs`);
  return rows[0]?.n ?? -1;
}

forEachDriver((driver) => {
  describe("blobs (s3 backend)", () => {
    it("puts small blobs in one request and reads them back", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b });
      for (const size of [0, 1, 5 * MiB]) {
        const data = randomBytes(size);
        const seen = await recording(() =>
          store.blobs.put(`small-${size}`, data, { contentType: "image/png" }),
        );
        expect(seen.some((r) => r.includes("?uploads"))).toBe(false);
        expect((await store.blobs.get(`small-${size}`)).equals(data)).toBe(true);
        expect(await store.blobs.head(`small-${size}`)).toMatchObject({
          size,
          sha256: sha256(data),
          contentType: "image/png",
          backend: "s3",
        });
      }
      expect(await objects(b)).toHaveLength(3);
    });

    it("uploads 20 MiB as a multipart upload, streamed, and round-trips it", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b });
      const data = randomBytes(20 * MiB);
      const seen = await recording(() => store.blobs.put("big", Readable.from(inPieces(data))));
      expect(seen.filter((r) => r.startsWith("POST") && r.includes("?uploads"))).toHaveLength(1);
      expect(seen.filter((r) => r.startsWith("PUT") && r.includes("partNumber="))).toHaveLength(4);
      expect((await store.blobs.head("big")).sha256).toBe(sha256(data));
      expect(sha256(await readAll(await store.blobs.stream("big")))).toBe(sha256(data));
    });

    it("reads ranges", async () => {
      const store = await driver.open({ blobs: backend() });
      const data = randomBytes(6 * MiB + 3);
      await store.blobs.put("r", data);
      for (const [start, end] of [
        [0, 0],
        [5 * MiB - 1, 5 * MiB + 1],
        [100, 6 * MiB + 2],
        [6 * MiB, 6 * MiB + 100],
      ] as const) {
        const got = await readAll(await store.blobs.stream("r", { start, end }));
        expect(got.equals(data.subarray(start, end + 1)), `range ${start}-${end}`).toBe(true);
      }
    });

    it("lists by prefix, deletes, and replaces, removing the unreachable objects", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b });
      for (const key of ["docs/a", "docs/b", "docs%/c", "img/d"])
        await store.blobs.put(key, Buffer.from(key));
      expect((await store.blobs.list("docs/")).items.map((i) => i.key)).toEqual(["docs/a", "docs/b"]);
      expect(await objects(b)).toHaveLength(4);
      expect(await store.blobs.delete("docs/a")).toBe(true);
      expect(await store.blobs.exists("docs/a")).toBe(false);
      await expect(store.blobs.get("docs/a")).rejects.toBeInstanceOf(NotFoundError);
      expect(await objects(b)).toHaveLength(3);
      await store.blobs.put("img/d", Buffer.from("new"));
      expect((await store.blobs.get("img/d")).toString()).toBe("new");
      expect(await objects(b)).toHaveLength(3);
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.blob_garbage`,
      );
      expect(rows[0]?.n).toBe(0);
    });

    it("an upload that fails midway leaves no object and no metadata, and aborts the multipart upload", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b, logger: quiet });
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(7 * MiB);
        yield randomBytes(4 * MiB);
        throw new Error("client went away");
      }
      let failure: unknown;
      const seen = await recording(async () => {
        failure = await store.blobs.put("half", failing()).catch((e: unknown) => e);
      });
      expect(failure).toBeInstanceOf(BlobError);
      expect(seen.some((r) => r.startsWith("POST") && r.includes("?uploads"))).toBe(true);
      expect(seen.some((r) => r.startsWith("PUT") && r.includes("partNumber=1"))).toBe(true);
      expect(seen.some((r) => r.startsWith("DELETE") && r.includes("uploadId="))).toBe(true);
      expect(seen.some((r) => r.startsWith("POST") && r.includes("uploadId="))).toBe(false);
      expect(await objects(b)).toEqual([]);
      expect(await store.blobs.exists("half")).toBe(false);
      expect(await metadataRows(store)).toBe(0);
    });

    it("an aborted upload stores nothing", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b, logger: quiet });
      const controller = new AbortController();
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield randomBytes(6 * MiB);
        controller.abort();
        yield randomBytes(6 * MiB);
      }
      await expect(store.blobs.put("aborted", slow(), { signal: controller.signal })).rejects.toBeInstanceOf(
        BlobError,
      );
      expect(await objects(b)).toEqual([]);
      expect(await metadataRows(store)).toBe(0);
    });

    it("turns S3 errors into BlobErrors carrying the S3 code, writing no metadata", async () => {
      const store = await driver.open({ blobs: backend({ bucket: "no-such-bucket" }) });
      const failure = await store.blobs.put("k", Buffer.from("x")).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(BlobError);
      expect(failure).toBeInstanceOf(S3BlobError);
      expect((failure as S3BlobError).s3Code).toBe("NoSuchBucket");
      expect((failure as S3BlobError).httpStatus).toBe(404);
      expect(await metadataRows(store)).toBe(0);
    });

    it("inside a transaction: metadata commits or rolls back with it; replaced objects go after commit", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b });
      await store.blobs.put("k", Buffer.from("v1"));
      const [first] = await objects(b);
      await expect(
        store.transaction(async (tx) => {
          await tx.blobs.put("k", Buffer.from("v2"));
          expect((await tx.blobs.get("k")).toString()).toBe("v2");
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect((await store.blobs.get("k")).toString()).toBe("v1");
      await store.transaction(async (tx) => {
        await tx.blobs.put("k", Buffer.from("v3"));
      });
      expect((await store.blobs.get("k")).toString()).toBe("v3");
      // The replaced v1 object is collected once the transaction is known to have committed.
      expect(await objects(b)).toContain(first);
      expect(await store.blobs.collectGarbage()).toBe(1);
      expect(await objects(b)).not.toContain(first);
      await expect(
        b.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: first as string })),
      ).rejects.toMatchObject({ name: "NotFound" });
    });

    it("still reads blobs written to PostgreSQL before S3 was configured", async () => {
      const plain = await driver.open();
      await plain.blobs.put("old", Buffer.from("in postgres"));
      const store = await driver.open({ schema: plain.schema, blobs: backend() });
      expect((await store.blobs.get("old")).toString()).toBe("in postgres");
      await store.blobs.put("old", Buffer.from("in s3"));
      expect((await store.blobs.head("old")).backend).toBe("s3");
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.blob_chunks`,
      );
      expect(rows[0]?.n).toBe(0);
    });
  });
});
