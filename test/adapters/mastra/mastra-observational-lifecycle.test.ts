/**
 * Observational memory beyond Mastra's cases: a thread's memory goes with the thread (deleted, pruned
 * by Mastra's retention, cleared) and moves with it to another resource; records given whole (as a
 * thread's copy makes them) and configs merged; and bad input refused with a ValidationError, a record
 * not found with a NotFoundError, nothing written either way.
 */
import { randomUUID } from "node:crypto";
import type { MemoryStorage, ObservationalMemoryRecord } from "@mastra/core/storage";
import { beforeAll, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { ConflictError, NotFoundError, type Store, ValidationError } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { chunk, memoryOf, sampleInput } from "./observational-fixtures.js";

const DAY = 86_400_000;

describeMastra("flowstore/mastra observational memory: threads, records given whole, bad input", () => {
  forEachDriver((d) => {
    let store: Store;
    let memory: MemoryStorage;
    beforeAll(async () => {
      store = await d.open();
      memory = await memoryOf(store);
    });
    const rowsOf = async (key: string) =>
      (
        await store.query<{ n: number }>(
          `select count(*)::int as n from "${store.schema}".mastra_observational_memory where lookup_key = $1`,
          [key],
        )
      ).rows[0]?.n;
    /** A thread with a thread-scoped record of two generations. */
    const threadWithMemory = async (updatedAt = new Date()) => {
      const thread = {
        id: `thread-${randomUUID()}`,
        resourceId: `resource-${randomUUID()}`,
        title: "",
        createdAt: updatedAt,
        updatedAt,
      };
      await memory.saveThread({ thread });
      const record = await memory.initializeObservationalMemory(
        sampleInput({ threadId: thread.id, resourceId: thread.resourceId, scope: "thread" }),
      );
      await memory.createReflectionGeneration({ currentRecord: record, reflection: "- r", tokenCount: 1 });
      expect(await rowsOf(`thread:${thread.id}`)).toBe(2);
      return thread;
    };

    it("deleting a thread deletes its observational memory and leaves its resource's", async () => {
      const thread = await threadWithMemory();
      const ofResource = await memory.initializeObservationalMemory(
        sampleInput({ resourceId: thread.resourceId }),
      );
      await memory.deleteThread({ threadId: thread.id });
      expect(await rowsOf(`thread:${thread.id}`)).toBe(0);
      expect((await memory.getObservationalMemory(null, thread.resourceId))?.id).toBe(ofResource.id);
    });

    it("Mastra's retention prunes an idle thread with its observational memory", async () => {
      const storage = new FlowstoreMastraStorage({
        id: "om-retention",
        store,
        retention: { memory: { threads: { maxAge: "1d" } } },
      });
      const pruning = (await storage.getStore("memory")) as MemoryStorage;
      const idle = await threadWithMemory(new Date(Date.now() - 3 * DAY));
      const active = await threadWithMemory();
      await storage.prune();
      expect(await pruning.getThreadById({ threadId: idle.id })).toBeNull();
      expect(await rowsOf(`thread:${idle.id}`)).toBe(0);
      expect(await rowsOf(`thread:${active.id}`)).toBe(2);
    });

    it("moving a thread to another resource moves its observational memory", async () => {
      const thread = await threadWithMemory();
      await memory.updateThreadResourceId({ threadId: thread.id, resourceId: "new-owner" });
      const history = await memory.getObservationalMemoryHistory(thread.id, "new-owner");
      expect(history.map((r) => r.resourceId)).toEqual(["new-owner", "new-owner"]);
    });

    it("takes records given whole, newest generation as head, and writes reach the head", async () => {
      const source = await memory.initializeObservationalMemory(sampleInput());
      await memory.updateBufferedObservations({
        id: source.id,
        chunk: chunk({ observations: "b", messageTokens: 9 }),
      });
      const full = (await memory.getObservationalMemory(
        null,
        source.resourceId,
      )) as ObservationalMemoryRecord;
      const threadId = `copy-${randomUUID()}`;
      const copy = (generationCount: number): ObservationalMemoryRecord => ({
        ...full,
        id: randomUUID(),
        scope: "thread",
        threadId,
        generationCount,
        activeObservations: `generation ${generationCount}`,
      });
      const [newest, oldest] = [copy(1), copy(0)];
      await memory.insertObservationalMemoryRecord(newest);
      await memory.insertObservationalMemoryRecord(oldest);
      const head = await memory.getObservationalMemory(threadId, "anyone");
      expect(head).toMatchObject({ id: newest.id, activeObservations: "generation 1", config: full.config });
      expect(head?.bufferedObservationChunks).toEqual(full.bufferedObservationChunks);
      await memory.setPendingMessageTokens(oldest.id, 42);
      expect((await memory.getObservationalMemory(threadId, "anyone"))?.pendingMessageTokens).toBe(42);
      await expect(memory.insertObservationalMemoryRecord(copy(1))).rejects.toThrow(ConflictError);
    });

    it("merges config deeply", async () => {
      const input = {
        ...sampleInput(),
        config: { observation: { messageTokens: 10, model: "m" }, scope: "r" },
      };
      const record = await memory.initializeObservationalMemory(input);
      await memory.updateObservationalMemoryConfig({
        id: record.id,
        config: { observation: { messageTokens: 20 } },
      });
      expect((await memory.getObservationalMemory(null, input.resourceId))?.config).toEqual({
        observation: { messageTokens: 20, model: "m" },
        scope: "r",
      });
      await expect(memory.updateObservationalMemoryConfig({ id: "missing", config: {} })).rejects.toThrow(
        NotFoundError,
      );
    });

    it("keeps a config whose model is an object, as JSON keeps it: its data, not its methods", async () => {
      // @mastra/memory passes the observer's and reflector's models as configured: an object with
      // methods (a provider's model) when not given by id.
      const model = { provider: "scripted", modelId: "observer", doGenerate: async () => ({}) };
      const input = {
        ...sampleInput(),
        config: { observation: { model, messageTokens: 60 }, reflection: { model, observationTokens: 30 } },
      };
      const record = await memory.initializeObservationalMemory(input);
      const plain = { provider: "scripted", modelId: "observer" };
      expect(record.config).toEqual({
        observation: { model: plain, messageTokens: 60 },
        reflection: { model: plain, observationTokens: 30 },
      });
      expect((await memory.getObservationalMemory(null, input.resourceId))?.config).toEqual(record.config);
      await memory.updateObservationalMemoryConfig({ id: record.id, config: { observation: { model } } });
      expect((await memory.getObservationalMemory(null, input.resourceId))?.config).toEqual(record.config);
    });

    it("refuses bad input with a ValidationError and writes nothing", async () => {
      const input = sampleInput();
      const record = await memory.initializeObservationalMemory(input);
      const before = await memory.getObservationalMemory(null, input.resourceId);
      const bad: [string, () => Promise<unknown>][] = [
        [
          "scope",
          () => memory.initializeObservationalMemory({ ...sampleInput(), scope: "everything" as "thread" }),
        ],
        ["threadId", () => memory.initializeObservationalMemory({ ...sampleInput(), scope: "thread" })],
        ["resourceId", () => memory.initializeObservationalMemory({ ...sampleInput(), resourceId: "" })],
        ["config", () => memory.initializeObservationalMemory({ ...sampleInput(), config: [] as never })],
        ["resourceId", () => memory.getObservationalMemory(null, "")],
        ["limit", () => memory.getObservationalMemoryHistory(null, input.resourceId, -1)],
        [
          "from",
          () => memory.getObservationalMemoryHistory(null, input.resourceId, 5, { from: new Date("x") }),
        ],
        [
          "tokenCount",
          () =>
            memory.updateActiveObservations({
              id: record.id,
              observations: "x",
              tokenCount: -1,
              lastObservedAt: new Date(),
            }),
        ],
        [
          "lastObservedAt",
          () =>
            memory.updateActiveObservations({
              id: record.id,
              observations: "x",
              tokenCount: 1,
              lastObservedAt: "yesterday" as never,
            }),
        ],
        [
          "observations",
          () =>
            memory.updateActiveObservations({
              id: record.id,
              observations: "a\u0000b",
              tokenCount: 1,
              lastObservedAt: new Date(),
            }),
        ],
        [
          "chunk",
          () =>
            memory.updateBufferedObservations({
              id: record.id,
              chunk: { ...chunk({ observations: "x", messageTokens: 1 }), messageIds: "m" as never },
            }),
        ],
        [
          "chunk",
          () =>
            memory.updateBufferedObservations({
              id: record.id,
              chunk: { ...chunk({ observations: "x", messageTokens: 1 }), tokenCount: Number.NaN },
            }),
        ],
        [
          "activationRatio",
          () =>
            memory.swapBufferedToActive({
              id: record.id,
              activationRatio: 2,
              messageTokensThreshold: 1,
              currentPendingTokens: 1,
            }),
        ],
        [
          "currentPendingTokens",
          () =>
            memory.swapBufferedToActive({
              id: record.id,
              activationRatio: 1,
              messageTokensThreshold: 1,
              currentPendingTokens: -5,
            }),
        ],
        [
          "tokenCount",
          () =>
            memory.createReflectionGeneration({
              currentRecord: record,
              reflection: "r",
              tokenCount: Number.POSITIVE_INFINITY,
            }),
        ],
        [
          "reflection",
          () =>
            memory.createReflectionGeneration({
              currentRecord: record,
              reflection: 5 as never,
              tokenCount: 1,
            }),
        ],
        [
          "reflectedObservationLineCount",
          () =>
            memory.updateBufferedReflection({
              id: record.id,
              reflection: "r",
              tokenCount: 1,
              inputTokenCount: 1,
              reflectedObservationLineCount: -1,
            }),
        ],
        ["isReflecting", () => memory.setReflectingFlag(record.id, "yes" as never)],
        ["lastBufferedAtTokens", () => memory.setBufferingObservationFlag(record.id, true, -3)],
        ["tokenCount", () => memory.setPendingMessageTokens(record.id, Number.NaN)],
        ["config", () => memory.updateObservationalMemoryConfig({ id: record.id, config: "x" as never })],
        [
          "record",
          () => memory.insertObservationalMemoryRecord({ ...record, id: randomUUID(), generationCount: -1 }),
        ],
      ];
      for (const [field, call] of bad) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, field).toBeInstanceOf(ValidationError);
      }
      expect(await memory.getObservationalMemory(null, input.resourceId)).toEqual(before);
      expect(await memory.getObservationalMemoryHistory(null, input.resourceId)).toHaveLength(1);
    });

    it("names a record not found with a NotFoundError and writes nothing", async () => {
      const missing = `missing-${randomUUID()}`;
      const ghost = { ...(await memory.initializeObservationalMemory(sampleInput())), id: missing };
      const calls: (() => Promise<unknown>)[] = [
        () =>
          memory.updateBufferedObservations({
            id: missing,
            chunk: chunk({ observations: "x", messageTokens: 1 }),
          }),
        () =>
          memory.swapBufferedToActive({
            id: missing,
            activationRatio: 1,
            messageTokensThreshold: 1,
            currentPendingTokens: 1,
          }),
        () => memory.createReflectionGeneration({ currentRecord: ghost, reflection: "r", tokenCount: 1 }),
        () => memory.swapBufferedReflectionToActive({ currentRecord: ghost, tokenCount: 1 }),
        () =>
          memory.updateBufferedReflection({
            id: missing,
            reflection: "r",
            tokenCount: 1,
            inputTokenCount: 1,
            reflectedObservationLineCount: 1,
          }),
      ];
      for (const call of calls) await expect(call()).rejects.toThrow(NotFoundError);
      expect(await memory.getObservationalMemoryHistory(null, ghost.resourceId)).toHaveLength(1);
    });
  });
});
