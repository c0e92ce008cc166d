/**
 * Blob content in S3 or any S3-compatible server (MinIO, s3rver, R2...). `flowstore/s3`:
 *
 *   const store = await openStore({ blobs: s3({ endpoint, region, bucket, credentials, forcePathStyle: true }) });
 *
 * The metadata row stays in PostgreSQL. Each put uploads to an object named by the blob's id (never by
 * its key), so an upload that fails, or whose transaction rolls back, cannot overwrite what a key points
 * to. Objects above `partSize` go as multipart uploads, aborted when anything fails. Objects are named
 * `<prefix><store namespace>/<id>`: collectGarbage() lists its own store's namespace for objects no
 * table names, so stores (other schemas, other databases) can share a bucket and prefix.
 */

import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type {
  BlobBackend,
  BlobContent,
  BlobIO,
  BlobWriteRequest,
  ListedContent,
} from "../core/blob-backend.js";
import { BlobError, StoreError, ValidationError } from "../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkGraceMs } from "./postgres.js";

const MIN_PART_SIZE = 5 * 1024 * 1024;

export interface S3BlobOptions {
  bucket: string;
  /** Default: AWS_REGION, else us-east-1. */
  region?: string;
  /** For MinIO and other S3-compatible servers: `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** Default: the AWS SDK's chain (environment, profile, instance role). */
  credentials?: S3ClientConfig["credentials"];
  /** Path-style URLs (`endpoint/bucket/key`), which most self-hosted servers need. */
  forcePathStyle?: boolean;
  /** Bytes per multipart part and the single-request threshold (default and minimum 5 MiB). */
  partSize?: number;
  /** Parts uploaded at once (default 4); memory is about queueSize × partSize. */
  queueSize?: number;
  /** Prepended to every object name: `flowstore/` keeps the bucket shareable (default none). */
  prefix?: string;
  /** How long an uploaded object may stay pending before collectGarbage() removes it (default 1 day). */
  orphanGraceMs?: number;
  /** Your own client instead of one built from the options above (never destroyed by us). */
  client?: S3Client;
}

/** A failed S3 request: `s3Code` is S3's error code (`NoSuchBucket`, `AccessDenied`...). */
export class S3BlobError extends BlobError {
  readonly s3Code: string;
  readonly httpStatus: number | undefined;

  constructor(message: string, options: { cause: unknown; s3Code: string; httpStatus?: number }) {
    super(message, { cause: options.cause });
    this.s3Code = options.s3Code;
    this.httpStatus = options.httpStatus;
  }
}

export interface S3BlobBackend extends BlobBackend {
  readonly client: S3Client;
  readonly bucket: string;
  /**
   * The object name of content `id` of the store whose namespace is given: `<prefix><namespace>/<id>`
   * (`<prefix><id>` without one, as objects were named before stores had namespaces).
   */
  objectKey(id: string, namespace?: string): string;
  /** Closes the client's connections (a client you passed in is left alone). */
  close(): void;
}

// A misspelt forcePathStyle or endpoint would send every blob to AWS instead of the server meant.
const S3_KEYS = optionKeys<S3BlobOptions>({
  bucket: true,
  region: true,
  endpoint: true,
  credentials: true,
  forcePathStyle: true,
  partSize: true,
  queueSize: true,
  prefix: true,
  orphanGraceMs: true,
  client: true,
});

export function s3(options: S3BlobOptions): S3BlobBackend {
  if (typeof options === "object" && options !== null) refuseUnknownKeys(options, S3_KEYS);
  if (typeof options.bucket !== "string" || options.bucket === "") {
    throw new ValidationError("s3({ bucket }) is required", { field: "bucket" });
  }
  const partSize = options.partSize ?? MIN_PART_SIZE;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE) {
    throw new ValidationError("partSize must be an integer of at least 5 MiB (S3's minimum part size)", {
      field: "partSize",
    });
  }
  const ownClient = !options.client;
  const client =
    options.client ??
    new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? "us-east-1",
      endpoint: options.endpoint,
      credentials: options.credentials,
      forcePathStyle: options.forcePathStyle,
      // Checksums only where S3 requires them: streamed bodies otherwise go out with aws-chunked
      // framing, which several S3-compatible servers store verbatim.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  return new S3Backend(
    client,
    options.bucket,
    options.prefix ?? "",
    partSize,
    options.queueSize ?? 4,
    ownClient,
    checkGraceMs(options.orphanGraceMs),
  );
}

class S3Backend implements S3BlobBackend {
  readonly kind = "s3";
  readonly transactional = false;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    private readonly prefix: string,
    private readonly partSize: number,
    private readonly queueSize: number,
    private readonly ownClient: boolean,
    readonly orphanGraceMs: number,
  ) {}

  objectKey(id: string, namespace?: string): string {
    return namespace === undefined ? `${this.prefix}${id}` : `${this.prefix}${namespace}/${id}`;
  }

  locate(io: BlobIO, id: string): string {
    return this.objectKey(id, io.namespace);
  }

  async write(io: BlobIO, { id, source, contentType, signal }: BlobWriteRequest) {
    const Key = this.locate(io, id);
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key, Body: Readable.from(source), ContentType: contentType },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // We abort the multipart upload ourselves, so the error reported is the one that caused it.
      leavePartsOnError: true,
      abortController: controller,
    });
    try {
      signal?.throwIfAborted();
      await upload.done();
    } catch (error) {
      if (upload.uploadId) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: upload.uploadId }))
          .catch((abortError: unknown) =>
            io.logger.warn(
              { bucket: this.bucket, key: Key, uploadId: upload.uploadId, error: String(abortError) },
              "flowstore: could not abort an S3 multipart upload; a bucket lifecycle rule will have to",
            ),
          );
      }
      throw s3Error(error, `uploading ${Key}`);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    return { location: Key, chunkSize: null };
  }

  async *read(_io: BlobIO, content: BlobContent, start: number, end: number): AsyncIterable<Uint8Array> {
    const Key = content.location ?? this.objectKey(content.id);
    let body: AsyncIterable<Uint8Array>;
    let skip: number;
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key, Range: `bytes=${start}-${end}` }),
      );
      body = response.Body as unknown as AsyncIterable<Uint8Array>;
      // Some S3-compatible servers ignore the Range (or its end, as s3rver does for `bytes=0-0`): take
      // exactly the bytes asked for from whatever range came back.
      const served = /^bytes (\d+)-/.exec(response.ContentRange ?? "");
      skip = start - (served ? Number(served[1]) : 0);
    } catch (error) {
      throw s3Error(error, `reading ${Key}`);
    }
    let remaining = end - start + 1;
    try {
      for await (const received of body) {
        let piece = received;
        if (skip > 0) {
          const n = Math.min(skip, piece.length);
          piece = piece.subarray(n);
          skip -= n;
        }
        if (piece.length > remaining) piece = piece.subarray(0, remaining);
        remaining -= piece.length;
        if (piece.length > 0) yield piece;
        if (remaining === 0) return;
      }
    } catch (error) {
      throw s3Error(error, `reading ${Key}`);
    }
    if (remaining > 0) throw new BlobError(`reading ${Key}: the object ended ${remaining} bytes early`);
  }

  async list(io: BlobIO, after: string, max: number) {
    if (io.namespace === undefined) return { contents: [], more: false };
    const Prefix = this.objectKey("", io.namespace);
    try {
      const listed = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix,
          StartAfter: after === "" ? undefined : after,
          MaxKeys: max,
        }),
      );
      const contents: ListedContent[] = (listed.Contents ?? []).flatMap(({ Key, LastModified }) =>
        Key?.startsWith(Prefix)
          ? [{ name: Key.slice(Prefix.length), location: Key, modified: LastModified }]
          : [],
      );
      return { contents, more: listed.IsTruncated === true };
    } catch (error) {
      throw s3Error(error, `listing ${Prefix}`);
    }
  }

  async remove(_io: BlobIO, content: Pick<BlobContent, "id" | "location">): Promise<void> {
    const Key = content.location ?? this.objectKey(content.id);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (error) {
      throw s3Error(error, `deleting ${Key}`);
    }
  }

  close(): void {
    if (this.ownClient) this.client.destroy();
  }
}

/** An S3 service error becomes an S3BlobError carrying its code; anything else not ours a BlobError. */
function s3Error(error: unknown, doing: string): StoreError {
  if (error instanceof StoreError) return error;
  const e = error as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  const message = typeof e?.message === "string" ? e.message : String(error);
  if (e?.$metadata && typeof e.name === "string") {
    return new S3BlobError(`S3 ${e.name} ${doing}: ${message}`, {
      cause: error,
      s3Code: e.name,
      httpStatus: e.$metadata.httpStatusCode,
    });
  }
  return new BlobError(`${doing} failed: ${message}`, { cause: error });
}
