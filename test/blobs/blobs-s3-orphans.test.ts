/**
 * S3 content no committed row points to (a put in a transaction that rolled back, or one retried
 * after a serialization failure), against s3rver: found and removed after the grace period, by
 * collectGarbage(), prune and maintenance.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3BlobBackend, s3 } from "../../src/blobs/s3.js";
import { forEachDriver } from "../support/harness.js";
import { type LocalS3, startLocalS3 } from "../support/local-s3.js";

const BUCKET = "flowstore-orphans";
const GRACE_MS = 300;
let local: LocalS3;
let endpoint: string;
const backends: S3BlobBackend[] = [];

beforeAll(async () => {
  local = await startLocalS3([BUCKET]);
  endpoint = local.endpoint;
});

afterAll(async () => {
  for (const backend of backends) backend.close();
  await local?.close();
});

function backend(): S3BlobBackend {
  const made = s3({
    endpoint,
    region: "us-east-1",
    bucket: BUCKET,
    credentials: local.credentials,
    forcePathStyle: true,
    prefix: `${randomBytes(4).toString("hex")}/`,
    orphanGraceMs: GRACE_MS,
  });
  backends.push(made);
  return made;
}

async function objects(b: S3BlobBackend): Promise<string[]> {
  const listed = await b.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: b.objectKey("") }));
  return (listed.Contents ?? []).map((o) => o.Key ?? "");
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const serializationFailure = `do $$ begin raise exception 'could not serialize access' using errcode = 'serialization_failure'; end $$`;

forEachDriver((driver) => {
  describe("s3 content no row points to", () => {
    it("an object put in a transaction that rolled back is removed by collectGarbage() after the grace period", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b });
      await store.blobs.put("kept", Buffer.from("kept"));
      await expect(
        store.transaction(async (tx) => {
          await tx.blobs.put("rolled-back", Buffer.from("gone"));
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await objects(b)).toHaveLength(2);
      expect(await store.blobs.collectGarbage()).toBe(0);
      expect(await objects(b)).toHaveLength(2);
      await pause(GRACE_MS + 100);
      expect(await store.blobs.collectGarbage()).toBe(1);
      expect(await objects(b)).toHaveLength(1);
      expect((await store.blobs.get("kept")).toString()).toBe("kept");
      expect(await store.blobs.exists("rolled-back")).toBe(false);
    });

    it("a put in a transaction run again after a serialization failure stores the whole blob, once", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b });
      const data = randomBytes(100_000);
      const source = Readable.from([data.subarray(0, 50_000), data.subarray(50_000)]);
      let attempts = 0;
      await store.transaction(async (tx) => {
        await tx.blobs.put("retried", source);
        if (++attempts === 1) await tx.query(serializationFailure);
      });
      expect(attempts).toBe(2);
      expect((await store.blobs.get("retried")).equals(data)).toBe(true);
      expect(await objects(b)).toHaveLength(1);
      await pause(GRACE_MS + 100);
      expect(await store.blobs.collectGarbage()).toBe(0);
      expect((await store.blobs.get("retried")).equals(data)).toBe(true);
    });

    it("prune and maintenance collect orphaned objects even when no batch deleted a blob", async () => {
      const b = backend();
      const store = await driver.open({ blobs: b });
      const orphan = () =>
        store
          .transaction(async (tx) => {
            await tx.blobs.put("orphan", Buffer.from("x"));
            throw new Error("roll back");
          })
          .catch(() => {});
      await orphan();
      await pause(GRACE_MS + 100);
      await store.prune({ finishedBefore: new Date() });
      expect(await objects(b)).toEqual([]);
      await orphan();
      await pause(GRACE_MS + 100);
      let runs = 0;
      const maintenance = store.startMaintenance({ olderThanMs: 0, onRun: () => runs++ });
      while (runs === 0) await pause(20);
      await maintenance.stop();
      expect(await objects(b)).toEqual([]);
    });
  });
});
