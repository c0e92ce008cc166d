/**
 * Messages listed by resource across its threads (listMessagesByResourceId, which observational memory
 * reads), against the cases of Mastra's storage suite that run only on stores with observational memory
 * (stores/_test-utils, memory: "listMessagesByResourceId (resource-scoped queries)").
 */
import { randomUUID } from "node:crypto";
import type { MastraDBMessage } from "@mastra/core/agent";
import type { StorageThreadType } from "@mastra/core/memory";
import type { MemoryStorage } from "@mastra/core/storage";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { memoryOf } from "./observational-fixtures.js";

const newThread = (resourceId = `resource-${randomUUID()}`): StorageThreadType => ({
  id: `thread-${randomUUID()}`,
  resourceId,
  title: "Test Thread",
  createdAt: new Date(),
  updatedAt: new Date(),
});

const newMessage = (thread: StorageThreadType, text: string, createdAt = new Date()): MastraDBMessage => ({
  id: randomUUID(),
  threadId: thread.id,
  resourceId: thread.resourceId,
  role: "user",
  createdAt,
  content: { format: 2, parts: [{ type: "text", text }], content: text },
});

const texts = (messages: MastraDBMessage[]) => messages.map((m) => m.content.content);

describeMastra("flowstore/mastra memory: messages by resource", () => {
  forEachDriver((d) => {
    let memory: MemoryStorage;
    beforeAll(async () => {
      memory = await memoryOf(await d.open(), "by-resource");
    });

    describe("listMessagesByResourceId (resource-scoped queries)", () => {
      let thread: StorageThreadType;
      let thread2: StorageThreadType;
      // As Mastra's suite sets them up: a thread with five messages, another resource's with one.
      beforeEach(async () => {
        thread = await memory.saveThread({ thread: newThread() });
        thread2 = await memory.saveThread({ thread: newThread() });
        const now = Date.now();
        await memory.saveMessages({
          messages: [
            ...[1, 2, 3, 4, 5].map((n) => newMessage(thread, `Message ${n}`, new Date(now + n))),
            newMessage(thread2, "Thread2 Message 1", new Date(now + 6)),
          ],
        });
      });

      it("should list all messages for a resource across multiple threads", async () => {
        const thread3 = await memory.saveThread({ thread: newThread(thread.resourceId) });
        await memory.saveMessages({
          messages: [
            newMessage(thread3, "Thread3 Message 1", new Date(Date.now() + 10000)),
            newMessage(thread3, "Thread3 Message 2", new Date(Date.now() + 11000)),
          ],
        });
        const result = await memory.listMessagesByResourceId({
          resourceId: thread.resourceId,
          perPage: false,
        });
        expect(result.messages).toHaveLength(7);
        expect(result.messages.every((m) => m.resourceId === thread.resourceId)).toBe(true);
        expect(new Set(result.messages.map((m) => m.threadId))).toEqual(new Set([thread.id, thread3.id]));
      });

      it("should filter by dateRange.start when querying by resourceId", async () => {
        const own = await memory.saveThread({ thread: newThread() });
        const now = Date.now();
        const cutoff = new Date(now + 3000);
        await memory.saveMessages({
          messages: [
            newMessage(own, "Old Message 1", new Date(now + 1000)),
            newMessage(own, "Old Message 2", new Date(now + 2000)),
            newMessage(own, "New Message 1", new Date(now + 4000)),
            newMessage(own, "New Message 2", new Date(now + 5000)),
          ],
        });
        const result = await memory.listMessagesByResourceId({
          resourceId: own.resourceId,
          filter: { dateRange: { start: cutoff } },
          perPage: false,
        });
        expect(texts(result.messages)).toEqual(["New Message 1", "New Message 2"]);
        expect(result.messages.every((m) => new Date(m.createdAt) >= cutoff)).toBe(true);
      });

      it("should filter by dateRange.start across multiple threads for the same resource", async () => {
        const shared = `shared-resource-${randomUUID()}`;
        const [a, b] = [newThread(shared), newThread(shared)];
        await memory.saveThread({ thread: a });
        await memory.saveThread({ thread: b });
        const now = Date.now();
        const cutoff = new Date(now + 3000);
        await memory.saveMessages({
          messages: [
            newMessage(a, "ThreadA Old", new Date(now + 1000)),
            newMessage(a, "ThreadA New", new Date(now + 4000)),
            newMessage(b, "ThreadB Old", new Date(now + 2000)),
            newMessage(b, "ThreadB New", new Date(now + 5000)),
          ],
        });
        const result = await memory.listMessagesByResourceId({
          resourceId: shared,
          filter: { dateRange: { start: cutoff } },
          perPage: false,
        });
        expect(texts(result.messages)).toEqual(["ThreadA New", "ThreadB New"]);
        expect(new Set(result.messages.map((m) => m.threadId))).toEqual(new Set([a.id, b.id]));
      });

      it("should return empty array when no messages match resourceId", async () => {
        const result = await memory.listMessagesByResourceId({
          resourceId: "non-existent-resource",
          perPage: false,
        });
        expect(result.messages).toHaveLength(0);
        expect(result.total).toBe(0);
      });

      it("should isolate messages by resourceId", async () => {
        const result = await memory.listMessagesByResourceId({
          resourceId: thread.resourceId,
          perPage: false,
        });
        expect(result.messages).toHaveLength(5);
        expect(result.messages.every((m) => m.threadId === thread.id)).toBe(true);
        expect(texts(result.messages)).not.toContain("Thread2 Message 1");
        expect(thread2.resourceId).not.toBe(thread.resourceId);
      });

      it("should support pagination when querying by resourceId", async () => {
        const result = await memory.listMessagesByResourceId({
          resourceId: thread.resourceId,
          perPage: 2,
          page: 0,
        });
        expect(result.messages).toHaveLength(2);
        expect(result).toMatchObject({ total: 5, hasMore: true, page: 0, perPage: 2 });
      });
    });
  });
});
