/**
 * The memory domain of FlowstoreMastraStorage, threads and resources, against the cases of Mastra's
 * storage suite (stores/_test-utils, memory: threads.ts and resources.ts): saved as given, read by id
 * within a resource, updated in part, listed with filters, orders and pages, deleted with their
 * messages, moved to another resource and copied; resources made, merged and read.
 */
import { randomUUID } from "node:crypto";
import type { MastraDBMessage } from "@mastra/core/agent";
import type { StorageThreadType } from "@mastra/core/memory";
import type { MemoryStorage } from "@mastra/core/storage";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { ConflictError, NotFoundError, StoreClosedError, ValidationError } from "../../../src/index.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

const thread = (over: Partial<StorageThreadType> = {}): StorageThreadType => {
  const at = new Date();
  return {
    id: `thread-${randomUUID()}`,
    resourceId: `resource-${randomUUID()}`,
    title: "Test Thread",
    createdAt: at,
    updatedAt: at,
    metadata: { key: "value" },
    ...over,
  };
};

const message = (threadId: string, text: string, over: Partial<MastraDBMessage> = {}): MastraDBMessage => ({
  id: randomUUID(),
  threadId,
  resourceId: "test-resource",
  role: "user",
  createdAt: new Date(),
  content: { format: 2, parts: [{ type: "text", text }], content: text },
  ...over,
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeMastra("flowstore/mastra memory: threads and resources", () => {
  forEachDriver((d) => {
    let memory: MemoryStorage;
    beforeAll(async () => {
      const storage = new FlowstoreMastraStorage({ id: "test", store: await d.open() });
      memory = (await storage.getStore("memory")) as MemoryStorage;
      await memory.dangerouslyClearAll();
    });

    it("saves a thread as given and reads it back, an empty title and its exact times included", async () => {
      const t = thread({ id: "1346362547862769664", resourceId: "532374164040974346", title: "" });
      expect(await memory.saveThread({ thread: t })).toEqual(t);
      expect(await memory.getThreadById({ threadId: t.id })).toEqual(t);
      expect(await memory.saveThread({ thread: { ...t, title: "again" } })).toMatchObject({ title: "again" });
      expect(await memory.getThreadById({ threadId: "non-existent" })).toBeNull();
    });

    it("reads a thread only within its resource when one is given (an empty one too)", async () => {
      const t = await memory.saveThread({ thread: thread() });
      expect((await memory.getThreadById({ threadId: t.id, resourceId: t.resourceId }))?.id).toBe(t.id);
      expect(await memory.getThreadById({ threadId: t.id, resourceId: "someone-else" })).toBeNull();
      expect(await memory.getThreadById({ threadId: t.id, resourceId: "" })).toBeNull();
    });

    it("updates the title and merges the metadata, and reads agree on the times", async () => {
      const t = await memory.saveThread({ thread: thread() });
      await pause(10);
      const updated = await memory.updateThread({
        id: t.id,
        title: "Updated Title",
        metadata: { newKey: "newValue" },
      });
      expect(updated.title).toBe("Updated Title");
      expect(updated.metadata).toEqual({ key: "value", newKey: "newValue" });
      expect(updated.updatedAt.getTime()).toBeGreaterThan(t.updatedAt.getTime());
      expect(await memory.getThreadById({ threadId: t.id })).toEqual(updated);
      const listed = await memory.listThreads({ filter: { resourceId: t.resourceId }, page: 0, perPage: 10 });
      expect(listed.threads[0]).toEqual(updated);
      const metadataOnly = await memory.updateThread({ id: t.id, metadata: { more: 1 } });
      expect(metadataOnly.title).toBe("Updated Title");
      await expect(memory.updateThread({ id: "missing", title: "x" })).rejects.toThrow(NotFoundError);
      await Promise.all(
        [0, 1, 2, 3, 4].map((i) =>
          memory.updateThread({ id: t.id, title: `Update ${i}`, metadata: { [`u${i}`]: i } }),
        ),
      );
      const after = await memory.getThreadById({ threadId: t.id });
      expect(Object.keys(after?.metadata ?? {})).toEqual(
        expect.arrayContaining(["u0", "u1", "u2", "u3", "u4"]),
      );
    });

    it("deletes a thread with its messages, and marks a thread updated when a message is saved", async () => {
      const t = await memory.saveThread({ thread: thread() });
      await pause(10);
      await memory.saveMessages({ messages: [message(t.id, "one"), message(t.id, "two")] });
      const touched = await memory.getThreadById({ threadId: t.id });
      expect(touched?.updatedAt.getTime()).toBeGreaterThan(t.updatedAt.getTime());
      await memory.deleteThread({ threadId: t.id });
      expect(await memory.getThreadById({ threadId: t.id })).toBeNull();
      expect((await memory.listMessages({ threadId: t.id })).messages).toEqual([]);
      await memory.deleteThread({ threadId: t.id });
    });

    it("lists a resource's threads in pages with the total", async () => {
      const resourceId = `resource-${randomUUID()}`;
      await Promise.all(
        Array.from({ length: 17 }, () => memory.saveThread({ thread: thread({ resourceId }) })),
      );
      const first = await memory.listThreads({ filter: { resourceId }, page: 0, perPage: 7 });
      expect([first.threads.length, first.total, first.page, first.perPage, first.hasMore]).toEqual([
        7,
        17,
        0,
        7,
        true,
      ]);
      const last = await memory.listThreads({ filter: { resourceId }, page: 2, perPage: 7 });
      expect([last.threads.length, last.hasMore]).toEqual([3, false]);
      const all = await memory.listThreads({ filter: { resourceId }, perPage: false });
      expect([all.threads.length, all.total, all.perPage, all.hasMore]).toEqual([17, 17, false, false]);
      await expect(memory.listThreads({ perPage: -1 })).rejects.toThrow("perPage must be >= 0");
      await expect(memory.listThreads({ perPage: false, page: 1 })).rejects.toThrow();
    });

    it("sorts by createdAt or updatedAt either way, newest created first by default, stable across pages", async () => {
      const resourceId = `sort-${randomUUID()}`;
      const base = Date.parse("2024-01-01T00:00:00Z");
      const offsets = [
        [0, 5000],
        [1000, 1000],
        [2000, 4000],
        [3000, 2000],
        [4000, 3000],
      ];
      for (const [i, [c, u]] of offsets.entries()) {
        await memory.saveThread({
          thread: thread({
            resourceId,
            title: `Thread ${i + 1}`,
            createdAt: new Date(base + (c as number)),
            updatedAt: new Date(base + (u as number)),
            metadata: { index: i + 1 },
          }),
        });
      }
      const titles = async (orderBy?: object) =>
        (
          await memory.listThreads({ filter: { resourceId }, perPage: 10, orderBy: orderBy as never })
        ).threads.map((t) => t.title);
      expect(await titles()).toEqual(["Thread 5", "Thread 4", "Thread 3", "Thread 2", "Thread 1"]);
      expect(await titles({ field: "createdAt", direction: "ASC" })).toEqual([
        "Thread 1",
        "Thread 2",
        "Thread 3",
        "Thread 4",
        "Thread 5",
      ]);
      expect(await titles({ field: "updatedAt", direction: "DESC" })).toEqual([
        "Thread 1",
        "Thread 3",
        "Thread 5",
        "Thread 4",
        "Thread 2",
      ]);
      expect(await titles({ field: "updatedAt" })).toEqual(
        await titles({ field: "updatedAt", direction: "DESC" }),
      );
      expect(await titles({ direction: "ASC" })).toEqual(
        await titles({ field: "createdAt", direction: "ASC" }),
      );
      const pages = [];
      for (let page = 0; page < 3; page++) {
        const listed = await memory.listThreads({
          filter: { resourceId },
          perPage: 2,
          page,
          orderBy: { field: "updatedAt", direction: "DESC" },
        });
        pages.push(...listed.threads.map((t) => t.title));
      }
      expect(pages).toEqual(await titles({ field: "updatedAt", direction: "DESC" }));
      const same = new Date("2024-01-01T12:00:00Z");
      const tied = `tied-${randomUUID()}`;
      await Promise.all(
        [1, 2, 3].map(() =>
          memory.saveThread({ thread: thread({ resourceId: tied, createdAt: same, updatedAt: same }) }),
        ),
      );
      expect(
        (
          await memory.listThreads({
            filter: { resourceId: tied },
            perPage: 3,
            orderBy: { direction: "ASC" },
          })
        ).threads,
      ).toHaveLength(3);
    });

    it("filters threads by resource and by metadata, every pair matching", async () => {
      const r1 = randomUUID();
      const r2 = randomUUID();
      const tag = randomUUID();
      const [t1, t2, t3, t4] = [
        thread({
          resourceId: r1,
          metadata: { category: `support-${tag}`, priority: "high", status: "open" },
        }),
        thread({
          resourceId: r1,
          metadata: { category: `support-${tag}`, priority: "low", status: "closed" },
        }),
        thread({
          resourceId: r2,
          metadata: { category: `sales-${tag}`, priority: "high", status: `open-${tag}` },
        }),
        thread({ resourceId: r2, metadata: { category: `sales-${tag}`, priority: "medium" } }),
      ] as StorageThreadType[];
      for (const t of [t1, t2, t3, t4] as StorageThreadType[]) await memory.saveThread({ thread: t });
      const ids = async (filter: object) =>
        (await memory.listThreads({ filter: filter as never, page: 0, perPage: 10 })).threads
          .map((t) => t.id)
          .sort();
      expect(await ids({ resourceId: r1 })).toEqual([t1?.id, t2?.id].sort());
      expect(await ids({ metadata: { category: `support-${tag}` } })).toEqual([t1?.id, t2?.id].sort());
      expect(await ids({ metadata: { category: `support-${tag}`, priority: "high" } })).toEqual([t1?.id]);
      expect(await ids({ resourceId: r2, metadata: { category: `sales-${tag}`, priority: "high" } })).toEqual(
        [t3?.id],
      );
      expect(await ids({ metadata: { category: "nonexistent" } })).toEqual([]);
      expect(await ids({ resourceId: "nonexistent-resource" })).toEqual([]);
      await expect(memory.listThreads({ filter: { metadata: { "bad key": 1 } } })).rejects.toThrow();
    });

    it("moves a thread and its messages to another resource, keeping when it was made", async () => {
      const t = await memory.saveThread({ thread: thread() });
      await memory.saveMessages({ messages: [message(t.id, "m", { resourceId: t.resourceId })] });
      const moved = await memory.updateThreadResourceId({ threadId: t.id, resourceId: "new-owner" });
      expect(moved.resourceId).toBe("new-owner");
      expect(moved.createdAt).toEqual(t.createdAt);
      const listed = await memory.listMessages({ threadId: t.id });
      expect(listed.messages.map((m) => m.resourceId)).toEqual(["new-owner"]);
      await expect(memory.updateThreadResourceId({ threadId: "missing", resourceId: "x" })).rejects.toThrow(
        NotFoundError,
      );
    });

    it("copies a thread with the messages chosen, under new ids, and clones it with its messages", async () => {
      const t = await memory.saveThread({ thread: thread({ title: "Source" }) });
      const base = Date.now();
      const sent = [0, 1, 2, 3].map((i) =>
        message(t.id, `m${i}`, { createdAt: new Date(base + i * 1000), resourceId: t.resourceId }),
      );
      await memory.saveMessages({ messages: sent });
      const copy = await memory.copyThread({ sourceThreadId: t.id, options: { messageLimit: 2 } });
      const idMap = copy.messageIdMap ?? {};
      expect(copy.thread.title).toBe("Clone of Source");
      expect(Object.keys(idMap).sort()).toEqual([sent[2]?.id, sent[3]?.id].sort());
      const copied = await memory.listMessages({ threadId: copy.thread.id });
      expect(copied.messages.map((m) => (m.content as { content?: string }).content)).toEqual(["m2", "m3"]);
      expect(copied.messages.map((m) => m.id)).toEqual([
        idMap[sent[2]?.id as string],
        idMap[sent[3]?.id as string],
      ]);
      const clone = await memory.cloneThread({
        sourceThreadId: t.id,
        newThreadId: `clone-${randomUUID()}`,
        title: "Mine",
      });
      expect(clone.thread.title).toBe("Mine");
      expect(clone.clonedMessages).toHaveLength(4);
      await expect(memory.copyThread({ sourceThreadId: t.id, newThreadId: clone.thread.id })).rejects.toThrow(
        ConflictError,
      );
      await expect(memory.copyThread({ sourceThreadId: "missing" })).rejects.toThrow(NotFoundError);
    });

    describe("resources", () => {
      const resource = (over: object = {}) => {
        const at = new Date();
        return {
          id: `resource-${randomUUID()}`,
          workingMemory: "Sample working memory content",
          metadata: { key: "value", test: true },
          createdAt: at,
          updatedAt: at,
          ...over,
        };
      };

      it("saves and reads a resource as given; a second save of its id is refused", async () => {
        const r = resource({
          id: "1346362547862769664",
          createdAt: new Date("2023-01-01T00:00:00Z"),
          updatedAt: new Date("2023-01-01T00:00:00Z"),
        });
        expect(await memory.saveResource({ resource: r })).toEqual(r);
        expect(await memory.getResourceById({ resourceId: r.id })).toEqual(r);
        await expect(memory.saveResource({ resource: r })).rejects.toThrow(ConflictError);
        expect(await memory.getResourceById({ resourceId: "missing" })).toBeNull();
        for (const over of [
          { workingMemory: "" },
          { metadata: {} },
          { workingMemory: "A".repeat(10_000) },
          { metadata: { a: { b: [1, null, true] } } },
        ]) {
          const saved = resource(over);
          await memory.saveResource({ resource: saved });
          expect(await memory.getResourceById({ resourceId: saved.id })).toEqual(saved);
        }
        const bare = { id: `resource-${randomUUID()}`, createdAt: new Date(), updatedAt: new Date() };
        await memory.saveResource({ resource: bare });
        const read = await memory.getResourceById({ resourceId: bare.id });
        expect([read?.workingMemory, read?.metadata]).toEqual([undefined, undefined]);
      });

      it("updates working memory and merges metadata, each only when given; makes a missing resource", async () => {
        const r = resource();
        await memory.saveResource({ resource: r });
        await pause(10);
        const both = await memory.updateResource({
          resourceId: r.id,
          workingMemory: "Updated",
          metadata: { newKey: "newValue" },
        });
        expect(both).toMatchObject({
          workingMemory: "Updated",
          metadata: { key: "value", test: true, newKey: "newValue" },
        });
        expect(both.updatedAt.getTime()).toBeGreaterThan(r.updatedAt.getTime());
        expect(both.createdAt).toEqual(r.createdAt);
        expect(await memory.updateResource({ resourceId: r.id, workingMemory: "" })).toMatchObject({
          workingMemory: "",
          metadata: both.metadata,
        });
        expect(await memory.updateResource({ resourceId: r.id, metadata: { only: 1 } })).toMatchObject({
          workingMemory: "",
          metadata: { ...both.metadata, only: 1 },
        });
        const made = await memory.updateResource({
          resourceId: `resource-${randomUUID()}`,
          workingMemory: "New",
          metadata: { created: true },
        });
        expect(await memory.getResourceById({ resourceId: made.id })).toMatchObject({
          workingMemory: "New",
          metadata: { created: true },
        });
        const all = await Promise.all(
          [1, 2, 3].map((i) => memory.updateResource({ resourceId: r.id, metadata: { [`k${i}`]: i } })),
        );
        expect(all.every((x) => x.id === r.id)).toBe(true);
        expect((await memory.getResourceById({ resourceId: r.id }))?.metadata).toMatchObject({
          k1: 1,
          k2: 2,
          k3: 3,
        });
      });
    });

    it("opens a store of its own from a connection, and closes it with the storage", async () => {
      if (d.name !== "postgres") return; // the embedded store of this file is shared, not its own
      const schema = uniqueSchema("mastra_own");
      const own = new FlowstoreMastraStorage({ id: "own", connection: await fileDatabaseUrl(), schema });
      await own.init();
      const mem = (await own.getStore("memory")) as MemoryStorage;
      const t = await mem.saveThread({ thread: thread() });
      expect((await mem.getThreadById({ threadId: t.id }))?.id).toBe(t.id);
      expect((await own.flowstore()).schema).toBe(schema);
      await own.close();
      await expect(mem.getThreadById({ threadId: t.id })).rejects.toThrow(StoreClosedError);
    });

    it("refuses options it does not know, naming them, and a store given with a connection", async () => {
      const store = await d.open();
      expect(() => new FlowstoreMastraStorage({ id: "x", stroe: store } as never)).toThrow(/stroe.*store/);
      expect(() => new FlowstoreMastraStorage({ id: "x", store, connection: "postgres://x" })).toThrow(
        ValidationError,
      );
      expect(() => new FlowstoreMastraStorage({ id: "", store })).toThrow(ValidationError);
    });

    it("refuses bad input with a ValidationError and writes nothing", async () => {
      const bad = [
        () => memory.saveThread({ thread: thread({ id: "" }) }),
        () => memory.saveThread({ thread: thread({ metadata: { a: "\u0000" } }) }),
        () => memory.saveThread({ thread: thread({ createdAt: new Date("nope") }) }),
        () =>
          memory.saveResource({ resource: { id: "r\u0000", createdAt: new Date(), updatedAt: new Date() } }),
      ];
      const before = await memory.listThreads({ perPage: false });
      for (const call of bad) await expect(call()).rejects.toThrow(ValidationError);
      expect((await memory.listThreads({ perPage: false })).total).toBe(before.total);
    });
  });
});
