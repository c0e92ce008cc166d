/**
 * Observational memory of FlowstoreMastraStorage against the cases of Mastra's storage suite
 * (stores/_test-utils, memory/observational-memory.ts), second part: edge cases, buffered observations
 * activated by ratio, reflection generations, buffered reflections and concurrent updates.
 */
import { randomUUID } from "node:crypto";
import type { MemoryStorage } from "@mastra/core/storage";
import { beforeAll, describe, expect, it } from "vitest";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { chunk, memoryOf, sampleInput } from "./observational-fixtures.js";

describeMastra("flowstore/mastra observational memory: buffers and reflections", () => {
  forEachDriver((d) => {
    let memory: MemoryStorage;
    beforeAll(async () => {
      memory = await memoryOf(await d.open());
    });
    const head = (input: { threadId: string | null; resourceId: string }) =>
      memory.getObservationalMemory(input.threadId, input.resourceId);
    const observe = (id: string, observations: string, tokenCount = 50) =>
      memory.updateActiveObservations({ id, observations, tokenCount, lastObservedAt: new Date() });
    const buffer = (id: string, observations: string, messageTokens: number) =>
      memory.updateBufferedObservations({ id, chunk: chunk({ observations, messageTokens }) });
    const swap = (id: string, activationRatio: number, currentPendingTokens: number) =>
      memory.swapBufferedToActive({
        id,
        activationRatio,
        messageTokensThreshold: 1000,
        currentPendingTokens,
      });

    describe("Edge Cases", () => {
      it("should handle empty observations", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await observe(record.id, "", 0);
        expect((await head(input))?.activeObservations).toBe("");
      });

      it("should handle large observations", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const large = "A".repeat(100000);
        await observe(record.id, large, 25000);
        expect((await head(input))?.activeObservations).toBe(large);
      });

      it("should handle special characters in observations", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const observations = '- User said "Hello, world!" 🌍\n- Temperature: 25°C\n- Unicode: 中文 العربية';
        await observe(record.id, observations);
        expect((await head(input))?.activeObservations).toBe(observations);
      });

      it("should maintain separate records for different resources", async () => {
        const [one, two] = [`resource-${randomUUID()}`, `resource-${randomUUID()}`];
        await memory.initializeObservationalMemory(sampleInput({ resourceId: one }));
        await memory.initializeObservationalMemory(sampleInput({ resourceId: two }));
        const [first, second] = [
          await memory.getObservationalMemory(null, one),
          await memory.getObservationalMemory(null, two),
        ];
        expect(first?.resourceId).toBe(one);
        expect(second?.resourceId).toBe(two);
        expect(first?.id).not.toBe(second?.id);
      });

      it("should maintain separate records for thread-scoped vs resource-scoped", async () => {
        const resourceId = `resource-${randomUUID()}`;
        const threadId = `thread-${randomUUID()}`;
        await memory.initializeObservationalMemory(
          sampleInput({ resourceId, threadId: null, scope: "resource" }),
        );
        await memory.initializeObservationalMemory(sampleInput({ resourceId, threadId, scope: "thread" }));
        const ofResource = await memory.getObservationalMemory(null, resourceId);
        const ofThread = await memory.getObservationalMemory(threadId, resourceId);
        expect(ofResource?.id).not.toBe(ofThread?.id);
        expect(ofResource?.scope).toBe("resource");
        expect(ofThread?.scope).toBe("thread");
      });
    });

    describe("Buffered Observations", () => {
      it("should treat swapBufferedToActive as a no-op when no buffered observations exist", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const result = await swap(record.id, 1, 0);
        expect(result).toMatchObject({
          chunksActivated: 0,
          observationTokensActivated: 0,
          messagesActivated: 0,
        });
        const updated = await head(input);
        expect(updated?.activeObservations).toBe("");
        expect(updated?.bufferedObservationChunks?.length ?? 0).toBe(0);
      });

      it("should make swapBufferedToActive idempotent after activation", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await buffer(record.id, "Buffered A", 600);
        const first = await swap(record.id, 1, 600);
        const activeAfterFirst = (await head(input))?.activeObservations;
        const second = await swap(record.id, 1, 0);
        expect(first.chunksActivated).toBe(1);
        expect(second.chunksActivated).toBe(0);
        expect((await head(input))?.activeObservations).toBe(activeAfterFirst);
      });

      it("should activate buffered chunks at activation ratio boundaries", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await buffer(record.id, "Chunk 1", 700);
        await buffer(record.id, "Chunk 2", 700);
        expect((await swap(record.id, 0, 1400)).chunksActivated).toBe(1);
        expect((await head(input))?.bufferedObservationChunks?.length ?? 0).toBe(1);
        expect((await swap(record.id, 1, 700)).chunksActivated).toBe(1);
        expect((await head(input))?.bufferedObservationChunks?.length ?? 0).toBe(0);
      });

      it("should retain observed message IDs across buffered activation", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const observedMessageIds = [`msg-${randomUUID()}`, `msg-${randomUUID()}`];
        await memory.updateActiveObservations({
          id: record.id,
          observations: "Active observations",
          tokenCount: 50,
          lastObservedAt: new Date(),
          observedMessageIds,
        });
        await buffer(record.id, "Buffered observations", 500);
        await swap(record.id, 1, 500);
        expect((await head(input))?.observedMessageIds).toEqual(observedMessageIds);
      });

      it("should keep remaining buffered chunks after partial activation", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await buffer(record.id, "Chunk A", 600);
        await buffer(record.id, "Chunk B", 600);
        expect((await swap(record.id, 0.5, 1200)).chunksActivated).toBe(1);
        expect((await head(input))?.bufferedObservationChunks?.length ?? 0).toBe(1);
        expect((await swap(record.id, 1, 600)).chunksActivated).toBe(1);
        expect((await head(input))?.bufferedObservationChunks?.length ?? 0).toBe(0);
      });

      it("appends activated observations after a boundary and reports what it activated", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await observe(record.id, "Earlier");
        const given = chunk({ observations: "Later", messageTokens: 400 });
        await memory.updateBufferedObservations({ id: record.id, chunk: { ...given, currentTask: "task" } });
        // The same cycle buffered again is kept once.
        await memory.updateBufferedObservations({ id: record.id, chunk: given });
        const stored = (await head(input))?.bufferedObservationChunks ?? [];
        expect(stored).toHaveLength(1);
        expect(stored[0]?.lastObservedAt).toEqual(given.lastObservedAt);
        const result = await swap(record.id, 1, 400);
        expect(result).toMatchObject({
          chunksActivated: 1,
          messageTokensActivated: 400,
          observationTokensActivated: 200,
          activatedCycleIds: [given.cycleId],
          activatedMessageIds: given.messageIds,
          observations: "Later",
          currentTask: "task",
        });
        const after = await head(input);
        expect(after?.activeObservations).toBe(
          `Earlier\n\n--- message boundary (${given.lastObservedAt.toISOString()}) ---\n\nLater`,
        );
        expect(after?.observationTokenCount).toBe(250);
      });
    });

    describe("Reflection Generations", () => {
      it("should increment generation counts and keep history newest-first", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const first = await memory.createReflectionGeneration({
          currentRecord: record,
          reflection: "Reflection 1",
          tokenCount: 10,
        });
        const second = await memory.createReflectionGeneration({
          currentRecord: first,
          reflection: "Reflection 2",
          tokenCount: 12,
        });
        expect(first.generationCount).toBe(record.generationCount + 1);
        expect(second.generationCount).toBe(first.generationCount + 1);
        const history = await memory.getObservationalMemoryHistory(input.threadId, input.resourceId);
        expect(history.map((r) => r.id)).toEqual([second.id, first.id, record.id]);
      });

      it("should preserve prior generations when new reflections are created", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await observe(record.id, "Original observations", 25);
        const reflection = await memory.createReflectionGeneration({
          currentRecord: record,
          reflection: "Reflected observations",
          tokenCount: 12,
        });
        const history = await memory.getObservationalMemoryHistory(input.threadId, input.resourceId);
        const original = history.find((item) => item.id === record.id);
        expect(reflection.id).not.toBe(record.id);
        expect(original?.activeObservations).toBe("Original observations");
        expect(original?.observationTokenCount).toBe(25);
      });
    });

    describe("Buffered Reflection", () => {
      it("should buffer reflection content and update token counts", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await memory.updateBufferedReflection({
          id: record.id,
          reflection: "Reflected content from observations",
          tokenCount: 50,
          inputTokenCount: 120,
          reflectedObservationLineCount: 5,
        });
        expect(await head(input)).toMatchObject({
          bufferedReflection: expect.stringContaining("Reflected content from observations"),
          bufferedReflectionTokens: 50,
          bufferedReflectionInputTokens: 120,
          reflectedObservationLineCount: 5,
        });
      });

      it("should swap buffered reflection to active and create new generation", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await observe(record.id, "Line 1\nLine 2\nLine 3\nLine 4\nLine 5\nLine 6\nLine 7", 30);
        await memory.updateBufferedReflection({
          id: record.id,
          reflection: "Condensed reflection",
          tokenCount: 20,
          inputTokenCount: 50,
          reflectedObservationLineCount: 5,
        });
        const reflection = await memory.swapBufferedReflectionToActive({
          currentRecord: record,
          tokenCount: 25,
        });
        expect(reflection.generationCount).toBe(record.generationCount + 1);
        expect(reflection.activeObservations).toBe("Condensed reflection\n\nLine 6\nLine 7");
        expect(reflection.bufferedReflection).toBeUndefined();
        expect(reflection.bufferedReflectionTokens).toBeUndefined();
        // The reflected generation no longer offers its buffered reflection.
        const [, previous] = await memory.getObservationalMemoryHistory(input.threadId, input.resourceId);
        expect(previous?.bufferedReflection).toBeUndefined();
      });

      it("should throw when swapping buffered reflection with no buffered content", async () => {
        const record = await memory.initializeObservationalMemory(sampleInput());
        await expect(
          memory.swapBufferedReflectionToActive({ currentRecord: record, tokenCount: 10 }),
        ).rejects.toThrow("No buffered reflection to swap");
      });
    });

    describe("Concurrent Updates", () => {
      it("should tolerate concurrent flag and buffer updates", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await Promise.all([
          memory.setObservingFlag(record.id, true),
          buffer(record.id, "Concurrent chunk", 400),
        ]);
        const updated = await head(input);
        expect(updated?.isObserving).toBe(true);
        expect(updated?.bufferedObservationChunks?.length ?? 0).toBe(1);
      });
    });
  });
});
