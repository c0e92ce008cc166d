/**
 * The memory domain of FlowstoreMastraStorage, messages, against the cases of Mastra's storage suite
 * (stores/_test-utils, memory: messages-list, messages-paginated, messages-update, messages-bulk-delete
 * and messages-list-include-resource-scope): saved whole or not at all, listed in pages with dates,
 * metadata and order, with the context around messages asked for, changed in part, moved, deleted.
 */
import { randomUUID } from "node:crypto";
import type { MastraDBMessage } from "@mastra/core/agent";
import type { StorageThreadType } from "@mastra/core/memory";
import type { MemoryStorage } from "@mastra/core/storage";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { NotFoundError, ValidationError } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

const thread = (over: Partial<StorageThreadType> = {}): StorageThreadType => {
  const at = new Date();
  return {
    id: `thread-${randomUUID()}`,
    resourceId: `resource-${randomUUID()}`,
    title: "T",
    createdAt: at,
    updatedAt: at,
    metadata: {},
    ...over,
  };
};

const message = (
  threadId: string,
  text: string,
  over: Partial<MastraDBMessage> & { metadata?: object } = {},
): MastraDBMessage => {
  const { metadata, ...rest } = over;
  return {
    id: randomUUID(),
    threadId,
    resourceId: "test-resource",
    role: "user",
    createdAt: new Date(),
    content: { format: 2, parts: [{ type: "text", text }], content: text, ...(metadata ? { metadata } : {}) },
    ...rest,
  } as MastraDBMessage;
};

const texts = (messages: MastraDBMessage[]) =>
  messages.map((m) => (m.content as { content?: string }).content);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeMastra("flowstore/mastra memory: messages", () => {
  forEachDriver((d) => {
    let memory: MemoryStorage;
    beforeAll(async () => {
      const storage = new FlowstoreMastraStorage({ id: "test", store: await d.open() });
      memory = (await storage.getStore("memory")) as MemoryStorage;
    });

    describe("a thread of five and another of one", () => {
      let t: StorageThreadType;
      let t2: StorageThreadType;
      let sent: MastraDBMessage[];
      beforeEach(async () => {
        t = await memory.saveThread({ thread: thread() });
        t2 = await memory.saveThread({ thread: thread() });
        const now = Date.now();
        sent = [1, 2, 3, 4, 5].map((i) =>
          message(t.id, `Message ${i}`, { resourceId: t.resourceId, createdAt: new Date(now + i * 1000) }),
        );
        sent.push(
          message(t2.id, "Thread2 Message 1", { resourceId: t2.resourceId, createdAt: new Date(now + 6000) }),
        );
        expect(await memory.saveMessages({ messages: sent })).toEqual({ messages: sent });
      });

      it("lists a thread's messages oldest first by default, in pages, either way", async () => {
        const all = await memory.listMessages({ threadId: t.id });
        expect([all.total, all.perPage, all.hasMore]).toEqual([5, 40, false]);
        expect(texts(all.messages)).toEqual([
          "Message 1",
          "Message 2",
          "Message 3",
          "Message 4",
          "Message 5",
        ]);
        expect(all.messages[0]).toEqual(sent[0]);
        const pages = [0, 1, 2].map((page) => memory.listMessages({ threadId: t.id, perPage: 2, page }));
        expect((await Promise.all(pages)).map((p) => [p.messages.length, p.total, p.hasMore])).toEqual([
          [2, 5, true],
          [2, 5, true],
          [1, 5, false],
        ]);
        const desc = await memory.listMessages({
          threadId: t.id,
          orderBy: { field: "createdAt", direction: "DESC" },
        });
        expect(texts(desc.messages)).toEqual([
          "Message 5",
          "Message 4",
          "Message 3",
          "Message 2",
          "Message 1",
        ]);
        const everything = await memory.listMessages({ threadId: [t.id, t2.id], perPage: false });
        expect([everything.messages.length, everything.perPage, everything.hasMore]).toEqual([
          6,
          false,
          false,
        ]);
        const peeked = await memory.listMessages({ threadId: t.id, perPage: 2, includeTotal: false });
        expect([peeked.messages.length, peeked.hasMore]).toEqual([2, true]);
        const none = await memory.listMessages({ threadId: t.id, perPage: 0 });
        expect([none.messages.length, none.total, none.perPage, none.hasMore]).toEqual([0, 0, 0, false]);
        await expect(memory.listMessages({ threadId: t.id, perPage: -5 })).rejects.toThrow(
          "perPage must be >= 0",
        );
        for (const threadId of ["", "   "]) {
          await expect(memory.listMessages({ threadId })).rejects.toThrow(
            "threadId must be a non-empty string or array of non-empty strings",
          );
        }
      });

      it("includes the messages around those asked for, from their own threads, once each", async () => {
        const ids = (r: { messages: MastraDBMessage[] }) => texts(r.messages);
        const prev = await memory.listMessages({
          threadId: t.id,
          include: [{ id: sent[2]?.id as string, withPreviousMessages: 2 }],
        });
        expect(prev.messages).toHaveLength(5);
        const cross = await memory.listMessages({
          threadId: t.id,
          include: [{ id: sent[1]?.id as string, withPreviousMessages: 1 }, { id: sent[5]?.id as string }],
        });
        expect(cross.messages).toHaveLength(6);
        expect(ids(cross).at(-1)).toBe("Thread2 Message 1");
        const paged = await memory.listMessages({
          threadId: t.id,
          perPage: 2,
          include: [{ id: sent[2]?.id as string, withPreviousMessages: 1 }],
        });
        expect(ids(paged)).toEqual(["Message 1", "Message 2", "Message 3"]);
        const next = await memory.listMessages({
          threadId: t.id,
          perPage: 3,
          include: [{ id: sent[0]?.id as string, withNextMessages: 10 }],
        });
        expect([next.messages.length, next.total, next.hasMore]).toEqual([5, 5, false]);
        const only = await memory.listMessages({
          threadId: t.id,
          perPage: 0,
          include: [{ id: sent[2]?.id as string, withPreviousMessages: 1, withNextMessages: 1 }],
        });
        expect([ids(only), only.total, only.hasMore]).toEqual([
          ["Message 2", "Message 3", "Message 4"],
          0,
          false,
        ]);
        const overlap = await memory.listMessages({
          threadId: t.id,
          perPage: 0,
          include: [
            { id: sent[1]?.id as string, withNextMessages: 1 },
            { id: sent[2]?.id as string, withPreviousMessages: 1 },
          ],
        });
        expect(ids(overlap)).toEqual(["Message 2", "Message 3"]);
        const descending = await memory.listMessages({
          threadId: t.id,
          perPage: 0,
          orderBy: { field: "createdAt", direction: "DESC" },
          include: [{ id: sent[2]?.id as string, withPreviousMessages: 1, withNextMessages: 1 }],
        });
        expect(ids(descending)).toEqual(["Message 4", "Message 3", "Message 2"]);
        const missing = await memory.listMessages({
          threadId: t.id,
          include: [{ id: "non-existent-id", withPreviousMessages: 1 }],
        });
        expect(missing.messages).toHaveLength(5);
      });

      it("filters by resource, by dates (either end exclusive or not) and by metadata", async () => {
        await memory.saveMessages({
          messages: [message(t.id, "other", { resourceId: "different-resource" })],
        });
        const mine = await memory.listMessages({ threadId: t.id, resourceId: t.resourceId });
        expect(mine.total).toBe(5);
        expect(mine.messages.every((m) => m.resourceId === t.resourceId)).toBe(true);
        const at = (i: number) => sent[i]?.createdAt as Date;
        const range = async (dateRange: object) =>
          texts(
            (
              await memory.listMessages({
                threadId: t.id,
                resourceId: t.resourceId,
                filter: { dateRange } as never,
              })
            ).messages,
          );
        expect(await range({ start: at(1), end: at(3) })).toEqual(["Message 2", "Message 3", "Message 4"]);
        expect(await range({ start: at(1), end: at(3), startExclusive: true })).toEqual([
          "Message 3",
          "Message 4",
        ]);
        expect(await range({ start: at(1), end: at(3), endExclusive: true })).toEqual([
          "Message 2",
          "Message 3",
        ]);
        expect(
          await range({
            start: at(1).toISOString(),
            end: at(3).toISOString(),
            startExclusive: true,
            endExclusive: true,
          }),
        ).toEqual(["Message 3"]);
        expect(await range({ end: at(3) })).toEqual(["Message 1", "Message 2", "Message 3", "Message 4"]);
        const tagged = message(t.id, "tagged", { metadata: { kind: "note", n: 1 } });
        await memory.saveMessages({ messages: [tagged] });
        const byMeta = async (metadata: object) =>
          texts((await memory.listMessages({ threadId: t.id, filter: { metadata } as never })).messages);
        expect(await byMeta({ kind: "note" })).toEqual(["tagged"]);
        expect(await byMeta({ kind: "note", n: "1" })).toEqual([]);
        expect(await byMeta({ kind: "other" })).toEqual([]);
      });

      it("lists messages by id oldest first, and by resource across threads", async () => {
        const byId = await memory.listMessagesById({
          messageIds: [sent[4], sent[0], sent[5]].map((m) => m?.id as string),
        });
        expect(texts(byId.messages)).toEqual(["Message 1", "Message 5", "Thread2 Message 1"]);
        expect((await memory.listMessagesById({ messageIds: [] })).messages).toEqual([]);
        const third = await memory.saveThread({ thread: thread({ resourceId: t.resourceId }) });
        await memory.saveMessages({ messages: [message(third.id, "third", { resourceId: t.resourceId })] });
        const ofResource = await memory.listMessagesByResourceId({
          resourceId: t.resourceId,
          perPage: false,
        });
        expect(ofResource.messages).toHaveLength(6);
        expect(new Set(ofResource.messages.map((m) => m.threadId))).toEqual(new Set([t.id, third.id]));
        const page = await memory.listMessagesByResourceId({ resourceId: t.resourceId, perPage: 2 });
        expect([page.messages.length, page.total, page.hasMore]).toEqual([2, 6, true]);
      });
    });

    it("saves a batch whole or not at all, and moves a message saved again under another thread", async () => {
      const t = await memory.saveThread({ thread: thread() });
      const t2 = await memory.saveThread({ thread: thread() });
      const good = message(t.id, "good");
      await expect(
        memory.saveMessages({ messages: [good, { ...message(t.id, "bad"), resourceId: null } as never] }),
      ).rejects.toThrow(ValidationError);
      await expect(memory.saveMessages({ messages: [good, message("no-such-thread", "x")] })).rejects.toThrow(
        NotFoundError,
      );
      expect((await memory.listMessages({ threadId: t.id })).messages).toEqual([]);
      expect(await memory.saveMessages({ messages: [] })).toEqual({ messages: [] });
      await memory.saveMessages({ messages: [good] });
      await memory.saveMessages({
        messages: [
          { ...good, threadId: t2.id, content: { ...good.content, content: "moved" }, createdAt: new Date() },
        ],
      });
      expect((await memory.listMessages({ threadId: t.id })).messages).toEqual([]);
      const there = await memory.listMessages({ threadId: t2.id });
      expect(texts(there.messages)).toEqual(["moved"]);
      expect(there.messages[0]?.createdAt).toEqual(good.createdAt);
    });

    it("keeps any content JSON can hold, stringified JSON and a NUL included", async () => {
      const t = await memory.saveThread({ thread: thread() });
      const json = JSON.stringify({ userInput: "test data", metadata: { key: "value" } });
      const saved = [message(t.id, json), message(t.id, "a\u0000b", { createdAt: new Date(Date.now() + 1) })];
      await memory.saveMessages({ messages: saved });
      const listed = await memory.listMessages({ threadId: t.id });
      expect(texts(listed.messages)).toEqual([json, "a\u0000b"]);
      await expect(
        memory.saveMessages({ messages: [message(t.id, "x", { content: { n: 1n } as never })] }),
      ).rejects.toThrow(ValidationError);
    });

    describe("updateMessages", () => {
      it("changes the fields given, merging the content and its metadata, and marks the threads updated", async () => {
        const t = await memory.saveThread({ thread: thread() });
        const m = message(t.id, "hello world", { metadata: { initial: true } });
        await memory.saveMessages({ messages: [m] });
        await pause(10);
        const [role] = await memory.updateMessages({ messages: [{ id: m.id, role: "assistant" }] });
        expect(role?.role).toBe("assistant");
        await memory.updateMessages({
          messages: [{ id: m.id, content: { metadata: { updated: true } } } as never],
        });
        await memory.updateMessages({
          messages: [{ id: m.id, content: { content: "new content" } } as never],
        });
        const [stored] = (await memory.listMessagesById({ messageIds: [m.id] })).messages;
        expect(stored?.content).toEqual({
          format: 2,
          parts: [{ type: "text", text: "hello world" }],
          content: "new content",
          metadata: { initial: true, updated: true },
        });
        expect((await memory.getThreadById({ threadId: t.id }))?.updatedAt.getTime()).toBeGreaterThan(
          t.updatedAt.getTime(),
        );
        expect(await memory.updateMessages({ messages: [{ id: randomUUID(), role: "assistant" }] })).toEqual(
          [],
        );
      });

      it("moves a message to another thread, both threads marked updated", async () => {
        const t = await memory.saveThread({ thread: thread() });
        const t2 = await memory.saveThread({ thread: thread() });
        const m = message(t.id, "m");
        await memory.saveMessages({ messages: [m] });
        const before = [
          await memory.getThreadById({ threadId: t.id }),
          await memory.getThreadById({ threadId: t2.id }),
        ];
        await pause(10);
        await memory.updateMessages({ messages: [{ id: m.id, threadId: t2.id }] });
        expect((await memory.listMessages({ threadId: t.id })).messages).toEqual([]);
        expect((await memory.listMessages({ threadId: t2.id })).messages.map((x) => x.id)).toEqual([m.id]);
        const after = [
          await memory.getThreadById({ threadId: t.id }),
          await memory.getThreadById({ threadId: t2.id }),
        ];
        expect(
          after.map((x, i) => (x?.updatedAt.getTime() ?? 0) > (before[i]?.updatedAt.getTime() ?? 0)),
        ).toEqual([true, true]);
      });
    });

    it("deletes messages by id, ignoring ids not found, and marks their threads updated", async () => {
      const t = await memory.saveThread({ thread: thread() });
      const base = Date.now();
      const many = Array.from({ length: 100 }, (_, i) =>
        message(t.id, `m${i}`, { id: `del-${t.id}-${i}`, createdAt: new Date(base + i) }),
      );
      await memory.saveMessages({ messages: many });
      await pause(10);
      await memory.deleteMessages([...many.slice(50).map((m) => m.id), "invalid-id"]);
      await memory.deleteMessages([]);
      const left = await memory.listMessages({
        threadId: t.id,
        perPage: 100,
        orderBy: { field: "createdAt", direction: "DESC" },
      });
      expect(left.messages.map((m) => m.id).sort()).toEqual(
        many
          .slice(0, 50)
          .map((m) => m.id)
          .sort(),
      );
      expect((await memory.getThreadById({ threadId: t.id }))?.updatedAt.getTime()).toBeGreaterThan(
        t.updatedAt.getTime(),
      );
    });

    it("keeps another resource's messages out of the context around an included message", async () => {
      const resA = `resource-a-${randomUUID()}`;
      const resB = `resource-b-${randomUUID()}`;
      const [a1, a2, b1] = [
        thread({ resourceId: resA }),
        thread({ resourceId: resA }),
        thread({ resourceId: resB }),
      ] as StorageThreadType[];
      for (const x of [a1, a2, b1] as StorageThreadType[]) await memory.saveThread({ thread: x });
      const base = Date.parse("2024-01-01T00:00:00Z");
      const at = (minutes: number) => new Date(base + minutes * 60_000);
      const m = {
        first: message(a1?.id as string, "a first", { resourceId: resA, createdAt: at(0) }),
        target: message(a1?.id as string, "a target", { resourceId: resA, createdAt: at(1) }),
        last: message(a1?.id as string, "a last", { resourceId: resA, createdAt: at(2) }),
        other: message(a2?.id as string, "a other thread", { resourceId: resA, createdAt: at(3) }),
        b: message(b1?.id as string, "b message", { resourceId: resB, createdAt: at(4) }),
        foreign: message(a1?.id as string, "foreign", {
          resourceId: resB,
          createdAt: new Date(base + 30_000),
        }),
      };
      await memory.saveMessages({ messages: Object.values(m) });
      const around = { id: m.target.id, withPreviousMessages: 1, withNextMessages: 1 };
      const list = async (args: object) => texts((await memory.listMessages(args as never)).messages);
      expect(
        await list({
          threadId: b1?.id,
          resourceId: resB,
          include: [{ ...around, withPreviousMessages: 2, withNextMessages: 2 }],
        }),
      ).toEqual(["b message"]);
      expect(
        await list({ threadId: a2?.id, resourceId: resA, include: [{ ...around, threadId: b1?.id }] }),
      ).toEqual(["a first", "a target", "a last", "a other thread"]);
      expect(
        await list({
          threadId: a2?.id,
          resourceId: resA,
          perPage: 0,
          include: [{ id: m.target.id, withPreviousMessages: 1 }],
        }),
      ).toEqual(["a first", "a target"]);
      expect(await list({ threadId: b1?.id, resourceId: resB, perPage: 0, include: [around] })).toEqual([]);
      expect(await list({ threadId: b1?.id, include: [around] })).toEqual([
        "foreign",
        "a target",
        "a last",
        "b message",
      ]);
    });
  });
});
