import { create as createMessage, createRegistry } from "@bufbuild/protobuf";
import { DurationSchema, StructSchema, TimestampSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { jsonCodec } from "../../src/core/codecs.js";
import { protobufCodec } from "../../src/durable-state/protobuf.js";
import { ConflictError, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until, waitingOnLocks } from "../support/waiting.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

forEachDriver((driver) => {
  describe("durableState", () => {
    it("writes and reads back the latest snapshot", async () => {
      const store = await driver.open();
      const at = new Date("2026-01-02T03:04:05.678Z");
      expect(
        await store.durableState.write({
          persistenceId: "actor-1",
          version: 1,
          payload: bytes("v1"),
          manifest: "Counter",
          timestamp: at,
          shard: 3,
        }),
      ).toEqual({ written: true });
      const state = await store.durableState.latest("actor-1");
      expect(state).toMatchObject({ persistenceId: "actor-1", version: 1, manifest: "Counter", shard: 3 });
      expect(text(state?.payload)).toBe("v1");
      expect(state?.timestamp.toISOString()).toBe(at.toISOString());
      expect(await store.durableState.latest("nobody")).toBeUndefined();
    });

    it("moves forward, keeps the shard, and is idempotent for the same version and payload", async () => {
      const store = await driver.open();
      const ds = store.durableState;
      await ds.write({ persistenceId: "a", version: 1, payload: bytes("one"), manifest: "M", shard: 2 });
      expect(
        await ds.write({ persistenceId: "a", version: 1, payload: bytes("one"), manifest: "M" }),
      ).toEqual({
        written: false,
      });
      expect(
        await ds.write({ persistenceId: "a", version: 5, payload: bytes("five"), manifest: "M" }),
      ).toEqual({
        written: true,
      });
      const state = await ds.latest("a");
      expect(state?.version).toBe(5);
      expect(text(state?.payload)).toBe("five");
      expect(state?.shard).toBe(2);
    });

    it("rejects a stale or conflicting write with a ConflictError and changes nothing", async () => {
      const store = await driver.open();
      const ds = store.durableState;
      await ds.write({ persistenceId: "a", version: 3, payload: bytes("three"), manifest: "M" });
      const attempts = [
        { version: 3, payload: bytes("other"), manifest: "M" },
        { version: 3, payload: bytes("three"), manifest: "N" },
        { version: 2, payload: bytes("two"), manifest: "M" },
        { version: 2, payload: bytes("three"), manifest: "M" },
      ];
      for (const attempt of attempts) {
        await expect(ds.write({ persistenceId: "a", ...attempt })).rejects.toBeInstanceOf(ConflictError);
      }
      const state = await ds.latest("a");
      expect(state?.version).toBe(3);
      expect(text(state?.payload)).toBe("three");
      expect(state?.manifest).toBe("M");
    });

    it("lets exactly one of many writers racing the same version win", async () => {
      const store = await driver.open();
      const ds = store.durableState;
      await ds.write({ persistenceId: "race", version: 1, payload: bytes("base"), manifest: "M" });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          ds.write({ persistenceId: "race", version: 2, payload: bytes(`writer ${i}`), manifest: "M" }),
        ),
      );
      const won = outcomes.filter((o) => o.status === "fulfilled");
      const lost = outcomes.filter((o) => o.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(7);
      for (const o of lost) expect((o as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      const winner = outcomes.findIndex((o) => o.status === "fulfilled");
      expect(text((await ds.latest("race"))?.payload)).toBe(`writer ${winner}`);
    });

    it("racing writers of the same version and payload all succeed, one of them writing", async () => {
      const store = await driver.open();
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          store.durableState.write({ persistenceId: "same", version: 1, payload: bytes("x"), manifest: "M" }),
        ),
      );
      expect(results.filter((r) => r.written)).toHaveLength(1);
    });

    if (driver.concurrent) {
      it("a writer blocked behind an uncommitted first write of the actor gets a ConflictError", async () => {
        const store = await driver.open();
        let release!: () => void;
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let inserted!: () => void;
        const firstWrote = new Promise<void>((resolve) => {
          inserted = resolve;
        });
        const first = store.transaction(async (tx) => {
          await tx.durableState.write({
            persistenceId: "new",
            version: 1,
            payload: bytes("A"),
            manifest: "M",
          });
          inserted();
          await held;
        });
        // The first transaction's row is in, uncommitted: the second insert waits on its unique key.
        await firstWrote;
        const second = store.durableState
          .write({ persistenceId: "new", version: 1, payload: bytes("B"), manifest: "M" })
          .catch((error: unknown) => error);
        await until(async () => (await waitingOnLocks(store)) > 0);
        release();
        await first;
        expect(await second).toBeInstanceOf(ConflictError);
        expect(text((await store.durableState.latest("new"))?.payload)).toBe("A");
      });
    }

    it("deletes", async () => {
      const store = await driver.open();
      await store.durableState.write({
        persistenceId: "gone",
        version: 1,
        payload: bytes("x"),
        manifest: "M",
      });
      expect(await store.durableState.delete("gone")).toBe(true);
      expect(await store.durableState.delete("gone")).toBe(false);
      expect(await store.durableState.latest("gone")).toBeUndefined();
    });

    it("lists by shard in persistence id order, a page at a time", async () => {
      const store = await driver.open();
      for (let i = 0; i < 7; i++) {
        await store.durableState.write({
          persistenceId: `p-${i}`,
          version: 1,
          payload: bytes(String(i)),
          manifest: "M",
          shard: i % 2,
        });
      }
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.durableState.list({ shard: 0, limit: 2, cursor });
        expect(page.items.length).toBeLessThanOrEqual(2);
        ids.push(...page.items.map((s) => s.persistenceId));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(ids).toEqual(["p-0", "p-2", "p-4", "p-6"]);
      const all = await store.durableState.list();
      expect(all.items.map((s) => s.persistenceId)).toEqual([
        "p-0",
        "p-1",
        "p-2",
        "p-3",
        "p-4",
        "p-5",
        "p-6",
      ]);
      expect(all.nextCursor).toBeNull();
      await expect(store.durableState.list({ cursor: "not a cursor!" })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it("writes inside a transaction only if it commits", async () => {
      const store = await driver.open();
      await expect(
        store.transaction(async (tx) => {
          await tx.durableState.write({
            persistenceId: "tx",
            version: 1,
            payload: bytes("x"),
            manifest: "M",
          });
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.durableState.latest("tx")).toBeUndefined();
    });

    it("takes the timestamp as epoch milliseconds too, as eGo keeps it", async () => {
      const store = await driver.open();
      const ds = store.durableState;
      const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
      await ds.write({ persistenceId: "ms", version: 1, payload: bytes("x"), manifest: "M", timestamp: at });
      expect((await ds.latest("ms"))?.timestamp.getTime()).toBe(at);
      // The ends of the range (PostgreSQL's first instant, 4714-11-24 BC, and a Date's last,
      // 275760-09-13), a BC year, and years of other than four digits.
      const ends = [
        -210_866_803_200_000,
        Date.parse("-000001-02-03T04:05:06.007Z"),
        8.64e15,
        0,
        -1,
        Date.parse("0050-03-04T05:06:07.089Z"),
        Date.UTC(999, 5, 6, 7, 8, 9, 10),
        Date.parse("+012345-06-07T08:09:10.011Z"),
      ];
      for (const [i, ms] of ends.entries()) {
        await ds.write({
          persistenceId: `end-${i}`,
          version: 1,
          payload: bytes("x"),
          manifest: "M",
          timestamp: ms,
        });
        expect((await ds.latest(`end-${i}`))?.timestamp.getTime()).toBe(ms);
        const date = new Date(ms);
        await ds.write({
          persistenceId: `date-${i}`,
          version: 1,
          payload: bytes("x"),
          manifest: "M",
          timestamp: date,
        });
        expect((await ds.latest(`date-${i}`))?.timestamp.getTime()).toBe(ms);
      }
      const listed = await ds.list({ limit: 100 });
      const byId = new Map(listed.items.map((r) => [r.persistenceId, r.timestamp.getTime()]));
      for (const [i, ms] of ends.entries()) expect(byId.get(`end-${i}`)).toBe(ms);
    });

    it("refuses a timestamp that is not a whole number of milliseconds in range, writing nothing", async () => {
      const store = await driver.open();
      const ds = store.durableState;
      const bad: unknown[] = [
        Number.NaN,
        Number.POSITIVE_INFINITY,
        1.5,
        8.64e15 + 1,
        -210_866_803_200_001,
        new Date(-8.64e15),
        new Date(Number.NaN),
        "2026-01-02T03:04:05Z",
        1767323045678n,
      ];
      for (const timestamp of bad) {
        const error = await ds
          .write({
            persistenceId: "t",
            version: 1,
            payload: bytes("x"),
            manifest: "M",
            timestamp: timestamp as number,
          })
          .catch((e: unknown) => e);
        expect(error, String(timestamp)).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).message).toContain("timestamp");
      }
      expect(await ds.latest("t")).toBeUndefined();
    });

    it("rejects bad input with a ValidationError", async () => {
      const store = await driver.open();
      const ds = store.durableState;
      const ok = { persistenceId: "v", version: 1, payload: bytes("x"), manifest: "M" };
      const bad = [
        { ...ok, persistenceId: "" },
        { ...ok, version: -1 },
        { ...ok, version: 1.5 },
        { ...ok, payload: "text" as unknown as Uint8Array },
        { ...ok, manifest: "" },
        { ...ok, shard: -1 },
      ];
      for (const write of bad) await expect(ds.write(write)).rejects.toBeInstanceOf(ValidationError);
      expect(await ds.latest("v")).toBeUndefined();
    });

    it("round-trips protobuf messages through a registry, the type name as manifest", async () => {
      const store = await driver.open();
      const codec = protobufCodec(createRegistry(TimestampSchema, StructSchema));
      const when = timestampFromDate(new Date("2026-05-06T07:08:09.123Z"));
      const struct = createMessage(StructSchema, {
        fields: { name: { kind: { case: "stringValue", value: "ada" } } },
      });
      await store.durableState.write({ persistenceId: "ts", version: 1, ...codec.encode(when) });
      await store.durableState.write({ persistenceId: "st", version: 1, ...codec.encode(struct) });
      const ts = await store.durableState.latest("ts");
      expect(ts?.manifest).toBe("google.protobuf.Timestamp");
      expect(codec.decode(ts as NonNullable<typeof ts>)).toEqual(when);
      const st = await store.durableState.latest("st");
      expect(st?.manifest).toBe("google.protobuf.Struct");
      expect(codec.decode(st as NonNullable<typeof st>)).toEqual(struct);
    });

    it("refuses to decode a manifest the codec does not know", async () => {
      const store = await driver.open();
      const writer = protobufCodec(createRegistry(DurationSchema));
      const reader = protobufCodec(createRegistry(TimestampSchema));
      const duration = createMessage(DurationSchema, { seconds: 5n });
      await store.durableState.write({ persistenceId: "d", version: 1, ...writer.encode(duration) });
      const stored = await store.durableState.latest("d");
      expect(() => reader.decode(stored as NonNullable<typeof stored>)).toThrow(
        /unknown manifest "google\.protobuf\.Duration"/,
      );
      expect(() => reader.encode(duration)).toThrow(ValidationError);
      expect(() => jsonCodec("Order").decode(stored as NonNullable<typeof stored>)).toThrow(ValidationError);
    });

    it("round-trips JSON values", async () => {
      const store = await driver.open();
      const codec = jsonCodec<{ count: number; tags: string[] }>("Counter");
      await store.durableState.write({
        persistenceId: "j",
        version: 1,
        ...codec.encode({ count: 2, tags: ["a", "é"] }),
      });
      const stored = await store.durableState.latest("j");
      expect(stored?.manifest).toBe("Counter");
      expect(codec.decode(stored as NonNullable<typeof stored>)).toEqual({ count: 2, tags: ["a", "é"] });
    });
  });
});
