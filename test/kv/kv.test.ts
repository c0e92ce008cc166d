import { describe, expect, it } from "vitest";
import { ConflictError, type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

async function allKeys(store: Store, prefix: string, limit?: number): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.kv.list(prefix, { cursor, limit });
    keys.push(...page.items.map((e) => e.key));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return keys;
}

/** Moves an entry's expiry into the past, as if its TTL had run out. */
async function expire(store: Store, prefix: string, key: string): Promise<void> {
  await store.query(
    `update ${store.schema}.kv set expires_at = now() - interval '1 second' where prefix = $1 and key = $2`,
    [prefix, key],
  );
}

forEachDriver((driver) => {
  describe("kv", () => {
    it("stores bytes and strings, and counts versions", async () => {
      const store = await driver.open();
      expect(await store.kv.set("p", "k", "héllo")).toEqual({ version: 1 });
      const entry = await store.kv.get("p", "k");
      expect(text(entry?.value)).toBe("héllo");
      expect(entry).toMatchObject({ prefix: "p", key: "k", version: 1, expiresAt: null });
      expect(await store.kv.set("p", "k", new Uint8Array([0, 255, 1]))).toEqual({ version: 2 });
      expect([...((await store.kv.get("p", "k"))?.value ?? [])]).toEqual([0, 255, 1]);
      expect(await store.kv.get("p", "missing")).toBeUndefined();
      expect(await store.kv.get("other", "k")).toBeUndefined();
    });

    it("keeps prefixes apart even when they hold LIKE wildcards, quotes and backslashes", async () => {
      const store = await driver.open();
      const prefixes = ["a%", "ab", "a_", "aX", "a\\", "a\\%", "a'b", 'a"b', "a"];
      for (const prefix of prefixes) {
        await store.kv.set(prefix, `key of ${prefix}`, prefix);
        await store.kv.set(prefix, "%_'\"\\", `odd key in ${prefix}`);
      }
      for (const prefix of prefixes) {
        expect(await allKeys(store, prefix)).toEqual(["%_'\"\\", `key of ${prefix}`]);
        expect(text((await store.kv.get(prefix, `key of ${prefix}`))?.value)).toBe(prefix);
      }
      expect(await store.kv.deletePrefix("a%")).toBe(2);
      expect(await allKeys(store, "a%")).toEqual([]);
      expect(await allKeys(store, "ab")).toHaveLength(2);
      expect(await allKeys(store, "a")).toHaveLength(2);
    });

    it("accepts prefixes and keys of up to 1,024 bytes of UTF-8", async () => {
      const store = await driver.open();
      const long = "é".repeat(512);
      await store.kv.set(long, long, "v");
      expect(text((await store.kv.get(long, long))?.value)).toBe("v");
      await expect(store.kv.set("p", "x".repeat(1025), "v")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.kv.set("x".repeat(1025), "k", "v")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.kv.set("p", `${long}é`, "v")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.kv.set("p", "nul\u0000", "v")).rejects.toBeInstanceOf(ValidationError);
      await expect(store.kv.set("p", "k", 42 as unknown as string)).rejects.toBeInstanceOf(ValidationError);
    });

    it("lists keys in byte order, a page at a time", async () => {
      const store = await driver.open();
      const keys = ["b", "a", "B", "aa", "é", "a b", "z", "_", "%", "0"];
      for (const key of keys) await store.kv.set("p", key, key);
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(await allKeys(store, "p", 3)).toEqual(expected);
      const page = await store.kv.list("p", { limit: 4 });
      expect(page.items).toHaveLength(4);
      expect(page.nextCursor).toEqual(expect.any(String));
      await expect(store.kv.list("p", { limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    });

    it("compare-and-set writes only at the expected version", async () => {
      const store = await driver.open();
      await expect(store.kv.set("p", "k", "x", { expectedVersion: 1 })).rejects.toBeInstanceOf(ConflictError);
      expect(await store.kv.set("p", "k", "first", { expectedVersion: 0 })).toEqual({ version: 1 });
      await expect(store.kv.set("p", "k", "again", { expectedVersion: 0 })).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await store.kv.set("p", "k", "second", { expectedVersion: 1 })).toEqual({ version: 2 });
      await expect(store.kv.set("p", "k", "stale", { expectedVersion: 1 })).rejects.toBeInstanceOf(
        ConflictError,
      );
      const entry = await store.kv.get("p", "k");
      expect(entry?.version).toBe(2);
      expect(text(entry?.value)).toBe("second");
    });

    it("lets one of many racing compare-and-sets win", async () => {
      const store = await driver.open();
      await store.kv.set("p", "counter", "0");
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.kv.set("p", "counter", String(i), { expectedVersion: 1 })),
      );
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      for (const o of outcomes.filter((o) => o.status === "rejected")) {
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      }
      expect((await store.kv.get("p", "counter"))?.version).toBe(2);
    });

    it("batches that share keys, given in opposite orders at once, all commit", async () => {
      const store = await driver.open();
      const keys = Array.from({ length: 200 }, (_, i) => `k${String(i).padStart(3, "0")}`);
      await store.kv.setMany(
        "p",
        keys.map((key) => ({ key, value: "0" })),
      );
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, b) =>
          store.kv.setMany(
            "p",
            (b % 2 ? [...keys].reverse() : keys).map((key) => ({ key, value: String(b) })),
          ),
        ),
      );
      expect(outcomes.filter((o) => o.status === "rejected")).toEqual([]);
      const entries = await store.kv.getMany("p", keys);
      expect(new Set(entries.map((e) => e?.version))).toEqual(new Set([9]));
    });

    it("hides an entry once its TTL has passed", async () => {
      const store = await driver.open();
      await store.kv.set("p", "short", "x", { ttlMs: 1 });
      await store.kv.set("p", "long", "y", { ttlMs: 3_600_000 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.kv.get("p", "short")).toBeUndefined();
      const long = await store.kv.get("p", "long");
      expect(long?.expiresAt).toBeInstanceOf(Date);
      expect(await allKeys(store, "p")).toEqual(["long"]);
      expect(await store.kv.delete("p", "short")).toBe(false);
    });

    it("treats an expired entry as absent: create-only succeeds and versions start again", async () => {
      const store = await driver.open();
      await store.kv.set("p", "k", "old", { ttlMs: 60_000 });
      await store.kv.set("p", "k", "old 2", { ttlMs: 60_000 });
      await expire(store, "p", "k");
      await expect(store.kv.set("p", "k", "x", { expectedVersion: 2 })).rejects.toBeInstanceOf(ConflictError);
      expect(await store.kv.set("p", "k", "new", { expectedVersion: 0 })).toEqual({ version: 1 });
      const entry = await store.kv.get("p", "k");
      expect(text(entry?.value)).toBe("new");
      expect(entry?.expiresAt).toBeNull();
    });

    it("sweeps expired rows in batches and leaves live ones", async () => {
      const store = await driver.open();
      for (let i = 0; i < 25; i++) {
        await store.kv.set("p", `dead-${i}`, "x", { ttlMs: 60_000 });
        await expire(store, "p", `dead-${i}`);
      }
      await store.kv.set("p", "live", "y");
      await store.kv.set("p", "later", "z", { ttlMs: 60_000 });
      expect(await store.kv.sweepExpired({ batchSize: 10, maxBatches: 1 })).toBe(10);
      expect(await store.kv.sweepExpired({ batchSize: 10 })).toBe(15);
      const { rows } = await store.query<{ key: string }>(`select key from ${store.schema}.kv order by key`);
      expect(rows.map((r) => r.key)).toEqual(["later", "live"]);
    });

    it("deletes one entry or a whole prefix", async () => {
      const store = await driver.open();
      for (let i = 0; i < 5; i++) await store.kv.set("gone", `k${i}`, "x");
      await store.kv.set("kept", "k0", "x");
      expect(await store.kv.delete("gone", "k0")).toBe(true);
      expect(await store.kv.delete("gone", "k0")).toBe(false);
      expect(await store.kv.deletePrefix("gone")).toBe(4);
      expect(await allKeys(store, "gone")).toEqual([]);
      expect(await allKeys(store, "kept")).toEqual(["k0"]);
    });

    it("works inside a transaction", async () => {
      const store = await driver.open();
      await expect(
        store.transaction(async (tx) => {
          await tx.kv.set("p", "k", "in tx");
          expect(text((await tx.kv.get("p", "k"))?.value)).toBe("in tx");
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.kv.get("p", "k")).toBeUndefined();
    });
  });
});
