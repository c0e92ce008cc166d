/**
 * A local S3 for the tests: s3rver (the npm package, a real S3 HTTP server) on 127.0.0.1 at a free
 * port, keeping its objects in a fresh temporary directory, with the given buckets made, and an
 * `S3Client` pointed at it. `close()` destroys the client, stops the server and removes the directory.
 *
 * The client sends and checks checksums only WHEN_REQUIRED: by default the AWS SDK adds CRC
 * checksums to uploads, sending a streamed body with aws-chunked framing, which s3rver does not
 * understand and would store, chunk framing and all, as the object's content.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { type S3BlobBackend, type S3BlobOptions, s3 } from "../../src/blobs/s3.js";

/** The access key s3rver accepts. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface LocalS3 {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** A path-style client for the server, checksums only when required. */
  client: S3Client;
  credentials: typeof LOCAL_S3_CREDENTIALS;
  /** The running server, e.g. to watch `server.httpServer` for requests. */
  server: S3rver;
  /** An `s3()` backend on this server (closed by `close()`). */
  backend(
    options: Omit<S3BlobOptions, "endpoint" | "region" | "credentials" | "forcePathStyle">,
  ): S3BlobBackend;
  /** The names of the objects under `prefix` in `bucket`, in name order, every page of them. */
  keys(bucket: string, prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function startLocalS3(buckets: string[]): Promise<LocalS3> {
  const directory = mkdtempSync(path.join(tmpdir(), "flowstore-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    credentials: LOCAL_S3_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const backends: S3BlobBackend[] = [];
  return {
    endpoint,
    client,
    credentials: LOCAL_S3_CREDENTIALS,
    server,
    backend(options) {
      const made = s3({
        endpoint,
        region: "us-east-1",
        credentials: LOCAL_S3_CREDENTIALS,
        forcePathStyle: true,
        ...options,
      });
      backends.push(made);
      return made;
    },
    async keys(bucket, prefix) {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const listed = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        names.push(...(listed.Contents ?? []).map((o) => o.Key ?? ""));
        token = listed.NextContinuationToken;
      } while (token);
      return names;
    },
    async close() {
      for (const backend of backends) backend.close();
      client.destroy();
      try {
        await server.close();
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
  };
}
