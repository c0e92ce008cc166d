/** Key-value entries, blobs, actor snapshots, streams and signals. */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { expect } from "vitest";
import { big, type CallCase, call, OFFLOAD_ABOVE, running, unique } from "./case.js";

const bytes = (n: number) => randomBytes(n);

export const dataCases: CallCase[] = [
  call({
    call: "kv.set, setIfAbsent, setMany, get, getMany, list, listPrefixes",
    prepare: async () => unique("kv"),
    run: async (tx, prefix) => {
      await tx.kv.set(prefix, "a", "1");
      expect((await tx.kv.setIfAbsent(prefix, "b", "2")).created).toBe(true);
      await tx.kv.setMany(prefix, [{ key: "c", value: bytes(10) }]);
      expect(Buffer.from((await tx.kv.get(prefix, "a"))?.value ?? "").toString()).toBe("1");
      expect((await tx.kv.getMany(prefix, ["a", "b", "x"])).map((e) => e !== undefined)).toEqual([
        true,
        true,
        false,
      ]);
      expect((await tx.kv.list(prefix)).items).toHaveLength(3);
      expect((await tx.kv.listPrefixes({ startsWith: prefix })).items).toEqual([prefix]);
    },
    after: async (store, prefix) => expect((await store.kv.list(prefix)).items).toHaveLength(3),
  }),
  call({
    call: "kv.delete, deletePrefix, deleteByOwner, sweepExpired",
    prepare: async (store) => {
      const prefix = unique("kv");
      const owner = await running(store);
      await store.kv.set(prefix, "a", "1");
      await store.kv.set(`${prefix}-all`, "b", "2");
      await store.kv.set(`${prefix}-owned`, "c", "3", { owner });
      await store.kv.set(`${prefix}-expiring`, "d", "4", { ttlMs: 1 });
      return { prefix, owner };
    },
    run: async (tx, { prefix, owner }) => {
      expect(await tx.kv.delete(prefix, "a")).toBe(true);
      expect(await tx.kv.deletePrefix(`${prefix}-all`)).toBe(1);
      expect(await tx.kv.deleteByOwner(owner)).toBe(1);
      expect(await tx.kv.sweepExpired()).toBeGreaterThanOrEqual(0);
    },
    after: async (store, { prefix }) => expect(await store.kv.get(prefix, "a")).toBeUndefined(),
  }),
  call({
    call: "blobs.put, head, exists, get, stream, list, delete, collectGarbage",
    prepare: async (store) => {
      const key = unique("blob");
      await store.blobs.put(`${key}/old`, bytes(100));
      return key;
    },
    run: async (tx, key) => {
      const data = bytes(70_000);
      await tx.blobs.put(`${key}/new`, Readable.from([data.subarray(0, 7), data.subarray(7)]));
      expect((await tx.blobs.head(`${key}/new`)).size).toBe(data.length);
      expect(await tx.blobs.exists(`${key}/new`)).toBe(true);
      expect((await tx.blobs.get(`${key}/new`)).equals(data)).toBe(true);
      const streamed: Buffer[] = [];
      for await (const piece of await tx.blobs.stream(`${key}/new`, { start: 5, end: 9 }))
        streamed.push(piece);
      expect(Buffer.concat(streamed).equals(data.subarray(5, 10))).toBe(true);
      expect((await tx.blobs.list(`${key}/`)).items).toHaveLength(2);
      expect(await tx.blobs.delete(`${key}/old`)).toBe(true);
      expect(await tx.blobs.collectGarbage()).toBeGreaterThanOrEqual(0);
    },
    after: async (store, key) =>
      expect((await store.blobs.list(`${key}/`)).items.map((b) => b.key)).toEqual([`${key}/new`]),
  }),
  call({
    call: "durableState.write, latest, list, delete",
    prepare: async (store) => {
      const id = unique("actor");
      await store.durableState.write({
        persistenceId: `${id}-gone`,
        version: 1,
        payload: bytes(5),
        manifest: "M",
      });
      return id;
    },
    run: async (tx, id) => {
      const payload = bytes(OFFLOAD_ABOVE * 2);
      await tx.durableState.write({ persistenceId: id, version: 1, payload: bytes(5), manifest: "M" });
      await tx.durableState.write({ persistenceId: id, version: 2, payload, manifest: "M" });
      expect(Buffer.from((await tx.durableState.latest(id))?.payload ?? []).equals(payload)).toBe(true);
      expect((await tx.durableState.list({ limit: 1000 })).items.length).toBeGreaterThan(0);
      expect(await tx.durableState.delete(`${id}-gone`)).toBe(true);
    },
    after: async (store, id) => expect((await store.durableState.latest(id))?.version).toBe(2),
  }),
  call({
    call: "streams.write, writeMany, close, read, info, list, delete",
    prepare: running,
    run: async (tx, id) => {
      await tx.streams.write(id, "out", big("c"));
      await tx.streams.writeMany(id, "out", ["a", "b"]);
      await tx.streams.write(id, "gone", "x");
      await tx.streams.close(id, "out");
      const page = await tx.streams.read(id, "out");
      expect(page.chunks.map((c) => c.data)).toEqual([big("c"), "a", "b"]);
      expect((await tx.streams.info(id, "out")).closed).toBe(true);
      expect((await tx.streams.list(id)).sort()).toEqual(["gone", "out"]);
      expect(await tx.streams.delete(id, "gone")).toBeGreaterThan(0);
    },
    after: async (store, id) => expect(await store.streams.list(id)).toEqual(["out"]),
  }),
  call({
    call: "streams.tail",
    prepare: async (store) => {
      const id = await running(store);
      await store.streams.writeMany(id, "out", ["a", "b"], { close: true });
      return id;
    },
    run: async (tx, id, { concurrent }) => {
      if (!concurrent) {
        // It reads through the store, whose only connection the transaction holds.
        expect(() => tx.streams.tail(id, "out")).toThrow(
          /only connection this transaction holds.*on the store/,
        );
        return "refused";
      }
      const seen: unknown[] = [];
      for await (const chunk of tx.streams.tail(id, "out")) seen.push(chunk.data);
      expect(seen).toEqual(["a", "b"]);
    },
  }),
  call({
    call: "signals.claim, get, list, listAll, deliver, release",
    prepare: async (store) => ({ id: await running(store), token: unique("signal") }),
    run: async (tx, { id, token }) => {
      expect((await tx.signals.claim(token, id)).signal.executionId).toBe(id);
      await tx.signals.claim(`${token}-gone`, id);
      expect((await tx.signals.get(token))?.executionId).toBe(id);
      expect((await tx.signals.list(id)).items).toHaveLength(2);
      expect((await tx.signals.listAll({ executionId: id })).items).toHaveLength(2);
      expect((await tx.signals.deliver(token, big("p"))).event.payload).toEqual(big("p"));
      expect(await tx.signals.release(`${token}-gone`)).toBe(true);
    },
    after: async (store, { id }) => expect(await store.events.lastSequence(id)).toBe(1),
  }),
];
