/**
 * S3 puts in repeatable read and serializable transactions, against s3rver. The object is uploaded and
 * recorded as pending on another connection, which the transaction's snapshot cannot see: the record
 * names the transaction instead, and collectGarbage() leaves it alone while that transaction may still
 * commit a row pointing to it, then drops it (committed) or removes the object (rolled back).
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3BlobBackend, s3 } from "../../src/blobs/s3.js";
import type { IsolationLevel, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { type LocalS3, startLocalS3 } from "../support/local-s3.js";

const BUCKET = "flowstore-isolation";
let local: LocalS3;
const backends: S3BlobBackend[] = [];

beforeAll(async () => {
  local = await startLocalS3([BUCKET]);
});

afterAll(async () => {
  for (const backend of backends) backend.close();
  await local?.close();
});

function backend(): S3BlobBackend {
  const made = s3({
    endpoint: local.endpoint,
    region: "us-east-1",
    bucket: BUCKET,
    credentials: local.credentials,
    forcePathStyle: true,
    prefix: `${randomBytes(4).toString("hex")}/`,
  });
  backends.push(made);
  return made;
}

async function objects(b: S3BlobBackend): Promise<number> {
  const listed = await b.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: b.objectKey("") }));
  return listed.Contents?.length ?? 0;
}

async function pending(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from "${store.schema}".blob_pending`,
  );
  return rows[0]?.n ?? -1;
}

const serializationFailure = `do $$ begin raise exception 'could not serialize access' using errcode = 'serialization_failure'; end $$`;
const LEVELS: IsolationLevel[] = ["repeatable read", "serializable"];

forEachDriver((driver) => {
  describe("s3 puts in snapshot transactions", () => {
    for (const isolation of LEVELS) {
      it(`a ${isolation} put commits, and its object outlives collectGarbage() run while it was open`, async () => {
        const b = backend();
        const store = await driver.open({ blobs: b });
        const data = randomBytes(10_000);
        const back = await store.transaction(
          async (tx) => {
            await tx.blobs.exists("anything");
            await tx.blobs.put("kept", data);
            // On the server, another connection collects with no grace period while this is open.
            if (driver.concurrent) expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
            return tx.blobs.get("kept");
          },
          { isolation },
        );
        expect(back.equals(data)).toBe(true);
        expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
        expect((await store.blobs.get("kept")).equals(data)).toBe(true);
        expect(await objects(b)).toBe(1);
        expect(await pending(store)).toBe(0);
      });

      it(`a ${isolation} put rolled back leaves an object collectGarbage() removes`, async () => {
        const b = backend();
        const store = await driver.open({ blobs: b });
        await expect(
          store.transaction(
            async (tx) => {
              await tx.blobs.exists("anything");
              await tx.blobs.put("gone", randomBytes(1000));
              throw new Error("roll back");
            },
            { isolation },
          ),
        ).rejects.toThrow("roll back");
        expect(await objects(b)).toBe(1);
        expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(1);
        expect(await objects(b)).toBe(0);
        expect(await pending(store)).toBe(0);
      });

      it(`a ${isolation} transaction retried after a serialization failure keeps the object it uploaded`, async () => {
        const b = backend();
        const store = await driver.open({ blobs: b });
        const data = randomBytes(100_000);
        const source = Readable.from([data.subarray(0, 50_000), data.subarray(50_000)]);
        let attempts = 0;
        await store.transaction(
          async (tx) => {
            await tx.blobs.exists("anything");
            await tx.blobs.put("retried", source);
            if (++attempts === 1) await tx.query(serializationFailure);
            else if (driver.concurrent) expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
          },
          { isolation },
        );
        expect(attempts).toBe(2);
        expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
        expect((await store.blobs.get("retried")).equals(data)).toBe(true);
        expect(await objects(b)).toBe(1);
      });
    }
  });
});
