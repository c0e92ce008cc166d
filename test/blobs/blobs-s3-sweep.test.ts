/**
 * collectGarbage() listing the store's own namespace in S3 (s3rver) for objects no table names: it
 * takes exactly those of its own store that are past the grace period, and leaves alone live blobs,
 * young content, other stores sharing the bucket and prefix, and anything flowstore did not write.
 * The objects a dead process left are made here by uploading under the namespace directly, which is
 * what such an upload looks like; test/blobs-s3-crash.test.ts makes them with a real SIGKILL.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { S3BlobBackend } from "../../src/blobs/s3.js";
import { uuidv7 } from "../../src/core/ids.js";
import type { Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { type LocalS3, startLocalS3 } from "../support/local-s3.js";

const BUCKET = "flowstore-sweep";
let local: LocalS3;
const requests: string[] = [];

beforeAll(async () => {
  local = await startLocalS3([BUCKET]);
  local.server.httpServer.on("request", (request) => requests.push(`${request.method} ${request.url}`));
});

afterAll(async () => {
  await local?.close();
});

const backend = (prefix: string) => local.backend({ bucket: BUCKET, prefix });

const freshPrefix = () => `${randomBytes(4).toString("hex")}/`;

const objects = (prefix: string) => local.keys(BUCKET, prefix);

async function upload(key: string, body = "left behind"): Promise<string> {
  await local.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  return key;
}

async function namespaceOf(store: Store): Promise<string> {
  const { rows } = await store.query<{ id: string }>(`select id from ${store.schema}.blob_namespace`);
  const id = rows[0]?.id;
  if (!id) throw new Error("the store has no blob namespace");
  return id;
}

/** An object as a put whose process died before recording it leaves it: a content id in the namespace. */
async function unrecorded(b: S3BlobBackend, store: Store): Promise<string> {
  return upload(b.objectKey(uuidv7(), await namespaceOf(store)));
}

/** Requests s3rver received while `fn` ran. */
async function recording(fn: () => Promise<unknown>): Promise<string[]> {
  const from = requests.length;
  await fn();
  return requests.slice(from);
}

forEachDriver((driver) => {
  describe("blobs (s3): collectGarbage() sweeps the store's namespace", () => {
    it("takes its own unrecorded objects and nothing else under a shared bucket and prefix", async () => {
      const prefix = freshPrefix();
      // One backend for two stores in two schemas: the namespace belongs to the store, not the backend.
      const b = backend(prefix);
      const mine = await driver.open({ blobs: b });
      const other = await driver.open({ blobs: b });
      const [ns, otherNs] = [await namespaceOf(mine), await namespaceOf(other)];
      expect(ns).not.toBe(otherNs);

      await mine.blobs.put("live", Buffer.from("mine"));
      await other.blobs.put("live", Buffer.from("theirs"));
      const orphan = await unrecorded(b, mine);
      const othersOrphan = await unrecorded(b, other);
      // Not written by flowstore: beside the namespaces, inside this store's one under names that
      // are not content ids (a version-4 id, upper case, a nested name, plain text), and an object
      // named as content was before stores had namespaces.
      const foreign = [
        await upload(`${prefix}notes.txt`),
        await upload(`${prefix}${uuidv7()}`),
        await upload(`${prefix}${ns}/${randomUUID()}`),
        await upload(`${prefix}${ns}/${uuidv7().toUpperCase()}`),
        await upload(`${prefix}${ns}/${uuidv7()}/part`),
        await upload(`${prefix}${ns}/readme`),
        await upload(`${prefix}${ns}-lookalike/${uuidv7()}`),
      ];
      const before = await objects(prefix);
      expect(before).toHaveLength(2 + 2 + foreign.length);
      // Live content is named `<prefix><namespace>/<content id>`.
      expect(before.filter((key) => key.startsWith(`${prefix}${ns}/`))).toContain(orphan);

      expect(await mine.blobs.collectGarbage({ graceMs: 0 })).toBe(1);
      expect(await objects(prefix)).toEqual(before.filter((key) => key !== orphan));
      expect((await mine.blobs.get("live")).toString()).toBe("mine");
      expect((await other.blobs.get("live")).toString()).toBe("theirs");

      // The other store takes its own orphan, and nothing of the first.
      expect(await other.blobs.collectGarbage({ graceMs: 0 })).toBe(1);
      expect(await objects(prefix)).toEqual(before.filter((key) => key !== orphan && key !== othersOrphan));
      expect(await mine.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
      expect(await other.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
      for (const key of foreign) expect(await objects(prefix)).toContain(key);
    });

    it("leaves content younger than the grace period, and takes it once older", async () => {
      const prefix = freshPrefix();
      const b = backend(prefix);
      const store = await driver.open({ blobs: b });
      await store.blobs.put("live", Buffer.from("x"));
      const orphan = await unrecorded(b, store);
      expect(await store.blobs.collectGarbage({ graceMs: 60_000 })).toBe(0);
      expect(await store.blobs.collectGarbage()).toBe(0);
      expect(await objects(prefix)).toContain(orphan);
      // The sweeps that stopped at the young object did not go past it.
      expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(1);
      expect(await objects(prefix)).not.toContain(orphan);
      expect((await store.blobs.get("live")).toString()).toBe("x");
    });

    it("looks at `limit` objects a call, goes on where it stopped, and lists once when nothing is new", async () => {
      const prefix = freshPrefix();
      const b = backend(prefix);
      const store = await driver.open({ blobs: b });
      const live: string[] = [];
      const orphans: string[] = [];
      for (let i = 0; i < 4; i++) {
        await store.blobs.put(`live-${i}`, Buffer.from(`live ${i}`));
        live.push(`live-${i}`);
        orphans.push(await unrecorded(b, store));
      }
      const removed: number[] = [];
      for (let call = 0; call < 5; call++)
        removed.push(await store.blobs.collectGarbage({ limit: 3, graceMs: 0 }));
      // 8 objects, 3 looked at a call: the orphans among the first 3, the next 3, the last 2, then none.
      expect(removed).toEqual([1, 2, 1, 0, 0]);
      expect(await objects(prefix)).toHaveLength(4);
      for (const key of live) expect((await store.blobs.get(key)).toString()).toBe(key.replace("-", " "));

      const seen = await recording(() => store.blobs.collectGarbage({ graceMs: 0 }));
      expect(seen.filter((r) => r.includes("list-type=2"))).toHaveLength(1);
      expect(seen.filter((r) => !r.includes("list-type=2"))).toEqual([]);
    });

    it("still reads and sweeps past content stored before namespaces, named by its row", async () => {
      const prefix = freshPrefix();
      const b = backend(prefix);
      const store = await driver.open({ blobs: b });
      const id = uuidv7();
      const data = Buffer.from("from an older flowstore");
      const location = await upload(b.objectKey(id), data.toString());
      await store.query(
        `insert into ${store.schema}.blobs (key, id, backend, location, size, sha256)
         values ('old', $1, 's3', $2, $3, $4)`,
        [id, location, data.length, createHash("sha256").update(data).digest("hex")],
      );
      expect(await store.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
      expect((await store.blobs.get("old")).equals(data)).toBe(true);
      expect(await store.blobs.delete("old")).toBe(true);
      expect(await objects(prefix)).toEqual([]);
    });

    it("a put records the object it is uploading under its final name before the upload ends", async () => {
      const b = backend(freshPrefix());
      const store = await driver.open({ blobs: b });
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let started = () => {};
      const halfway = new Promise<void>((resolve) => {
        started = resolve;
      });
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield Buffer.from("first half, ");
        started();
        await held;
        yield Buffer.from("second half");
      }
      const put = store.blobs.put("slow", slow());
      await halfway;
      // Were the process to die now, the pending record alone must lead to the object.
      const { rows } = await store.query<{ id: string; location: string }>(
        `select id, location from ${store.schema}.blob_pending`,
      );
      expect(rows).toHaveLength(1);
      const [pending] = rows;
      expect(pending?.location).toBe(b.objectKey(pending?.id ?? "", await namespaceOf(store)));
      release();
      await put;
      expect((await store.blobs.get("slow")).toString()).toBe("first half, second half");
    });

    it("a store opened before its schema has the namespace table learns it when it migrates", async () => {
      const prefix = freshPrefix();
      const b = backend(prefix);
      const store = await driver.open({ blobs: b, migrate: false });
      await store.migrate();
      await store.blobs.put("k", Buffer.from("x"));
      expect(await objects(prefix)).toEqual([
        expect.stringMatching(new RegExp(`^${prefix}${await namespaceOf(store)}/`)),
      ]);
    });

    it("a copy of the database takes a namespace of its own, and leaves the original's objects alone", async () => {
      const prefix = freshPrefix();
      const b = backend(prefix);
      const original = await driver.open({ blobs: b });
      await original.blobs.put("live", Buffer.from("x"));
      const ns = await namespaceOf(original);
      // A copy finds the namespace row made in another database (as a restored dump or a template
      // copy does); the original's objects that the copy has no row for must not look like orphans.
      await original.query(`update ${original.schema}.blob_namespace set fingerprint = 'elsewhere'`);
      const copy = await driver.open({ blobs: b, schema: original.schema });
      const copyNs = await namespaceOf(copy);
      expect(copyNs).not.toBe(ns);
      await original.query(`delete from ${original.schema}.blobs`);
      expect(await copy.blobs.collectGarbage({ graceMs: 0 })).toBe(0);
      expect(await objects(`${prefix}${ns}/`)).toHaveLength(1);
      await copy.blobs.put("new", Buffer.from("y"));
      expect(await objects(`${prefix}${copyNs}/`)).toHaveLength(1);
    });
  });
});
