/**
 * Observational memory of FlowstoreMastraStorage against the cases of Mastra's storage suite
 * (stores/_test-utils, memory/observational-memory.ts), first part: records made, read, updated,
 * reflected into new generations, flagged, counted and cleared. The rest is in
 * mastra-observational-buffers.test.ts.
 */
import { randomUUID } from "node:crypto";
import type { MemoryStorage, ObservationalMemoryRecord } from "@mastra/core/storage";
import { beforeAll, describe, expect, it } from "vitest";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { memoryOf, sampleInput } from "./observational-fixtures.js";

describeMastra("flowstore/mastra observational memory: records and generations", () => {
  forEachDriver((d) => {
    let memory: MemoryStorage;
    beforeAll(async () => {
      memory = await memoryOf(await d.open());
    });
    const head = (input: { threadId: string | null; resourceId: string }) =>
      memory.getObservationalMemory(input.threadId, input.resourceId);

    it("supports observational memory", () => {
      expect(memory.supportsObservationalMemory).toBe(true);
    });

    it("should create a new observational memory record", async () => {
      const input = sampleInput();
      const record = await memory.initializeObservationalMemory(input);
      expect(record.id).toBeDefined();
      expect(record.resourceId).toBe(input.resourceId);
      expect(record.threadId).toBeNull();
      expect(record.scope).toBe("resource");
    });

    describe("initializeObservationalMemory", () => {
      it("should create a new observational memory record", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        expect(record).toMatchObject({
          resourceId: input.resourceId,
          threadId: null,
          scope: "resource",
          originType: "initial",
          activeObservations: "",
          isObserving: false,
          isReflecting: false,
          totalTokensObserved: 0,
          observationTokenCount: 0,
          pendingMessageTokens: 0,
        });
        expect(record.id).toBeDefined();
        expect(record.createdAt).toBeInstanceOf(Date);
        expect(record.updatedAt).toBeInstanceOf(Date);
      });

      it("should create a thread-scoped observational memory record", async () => {
        const threadId = `thread-${randomUUID()}`;
        const record = await memory.initializeObservationalMemory(sampleInput({ threadId, scope: "thread" }));
        expect(record.threadId).toBe(threadId);
        expect(record.scope).toBe("thread");
      });

      it("should store config in the record", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        expect(record.config).toEqual(input.config);
      });
    });

    describe("getObservationalMemory", () => {
      it("should retrieve an existing observational memory record", async () => {
        const input = sampleInput();
        const created = await memory.initializeObservationalMemory(input);
        const retrieved = await head(input);
        expect(retrieved?.id).toBe(created.id);
        expect(retrieved?.resourceId).toBe(input.resourceId);
        // What initialize answered is what a read finds.
        expect(retrieved).toEqual(created);
      });

      it("should return null for non-existent record", async () => {
        expect(await memory.getObservationalMemory(null, "non-existent-resource")).toBeNull();
      });

      it("should retrieve thread-scoped record with threadId", async () => {
        const threadId = `thread-${randomUUID()}`;
        const input = sampleInput({ threadId, scope: "thread" });
        const created = await memory.initializeObservationalMemory(input);
        expect((await memory.getObservationalMemory(threadId, input.resourceId))?.id).toBe(created.id);
      });
    });

    describe("getObservationalMemoryHistory", () => {
      it("should return empty array for non-existent resource", async () => {
        expect(await memory.getObservationalMemoryHistory(null, "non-existent-resource")).toEqual([]);
      });

      it("should return history in reverse chronological order", async () => {
        const resourceId = `resource-${randomUUID()}`;
        const first = await memory.initializeObservationalMemory(sampleInput({ resourceId }));
        const second = await memory.createReflectionGeneration({
          currentRecord: first,
          reflection: "First reflection",
          tokenCount: 100,
        });
        const history = await memory.getObservationalMemoryHistory(null, resourceId);
        expect(history.map((r) => r.id)).toEqual([second.id, first.id]);
      });

      it("should respect limit parameter", async () => {
        const resourceId = `resource-${randomUUID()}`;
        let current = await memory.initializeObservationalMemory(sampleInput({ resourceId }));
        for (let i = 0; i < 3; i++) {
          current = await memory.createReflectionGeneration({
            currentRecord: current,
            reflection: `Reflection ${i + 1}`,
            tokenCount: 100,
          });
        }
        expect(await memory.getObservationalMemoryHistory(null, resourceId, 2)).toHaveLength(2);
        // Beyond Mastra's case: an offset pages on, and a date range filters.
        const paged = await memory.getObservationalMemoryHistory(null, resourceId, 2, { offset: 2 });
        expect(paged.map((r) => r.generationCount)).toEqual([1, 0]);
        const future = new Date(Date.now() + 60_000);
        expect(await memory.getObservationalMemoryHistory(null, resourceId, 10, { from: future })).toEqual(
          [],
        );
      });
    });

    describe("updateActiveObservations", () => {
      it("should update observations and token counts", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const observations = "- User mentioned preference for dark mode\n- User works in tech industry";
        await memory.updateActiveObservations({
          id: record.id,
          observations,
          tokenCount: 50,
          lastObservedAt: new Date(),
        });
        expect(await head(input)).toMatchObject({
          activeObservations: observations,
          observationTokenCount: 50,
          totalTokensObserved: 50,
          pendingMessageTokens: 0,
        });
      });

      it("should accumulate totalTokensObserved across multiple updates", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const at = new Date();
        await memory.updateActiveObservations({
          id: record.id,
          observations: "First",
          tokenCount: 100,
          lastObservedAt: at,
        });
        await memory.updateActiveObservations({
          id: record.id,
          observations: "Second",
          tokenCount: 150,
          lastObservedAt: at,
        });
        expect(await head(input)).toMatchObject({ observationTokenCount: 150, totalTokensObserved: 250 });
      });

      it("should throw error for non-existent record", async () => {
        await expect(
          memory.updateActiveObservations({
            id: "non-existent-id",
            observations: "test",
            tokenCount: 10,
            lastObservedAt: new Date(),
          }),
        ).rejects.toThrow(/not found/);
      });

      it("should update lastObservedAt timestamp", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        const lastObservedAt = new Date("2024-01-15T10:00:00Z");
        await memory.updateActiveObservations({
          id: record.id,
          observations: "Test",
          tokenCount: 25,
          lastObservedAt,
        });
        expect((await head(input))?.lastObservedAt?.toISOString()).toBe(lastObservedAt.toISOString());
      });
    });

    describe("createReflectionGeneration", () => {
      it("should create a new record with reflection content", async () => {
        const input = sampleInput();
        const initial = await memory.initializeObservationalMemory(input);
        await memory.updateActiveObservations({
          id: initial.id,
          observations: "Initial observations",
          tokenCount: 100,
          lastObservedAt: new Date(),
        });
        const reflection = "Condensed reflection of observations";
        const next = await memory.createReflectionGeneration({
          currentRecord: initial,
          reflection,
          tokenCount: 50,
        });
        expect(next.id).not.toBe(initial.id);
        expect(next).toMatchObject({
          originType: "reflection",
          activeObservations: reflection,
          resourceId: input.resourceId,
          scope: input.scope,
        });
      });

      it("should carry over lastObservedAt from current record", async () => {
        const input = sampleInput();
        const initial = await memory.initializeObservationalMemory(input);
        const observedAt = new Date("2024-01-15T10:00:00Z");
        await memory.updateActiveObservations({
          id: initial.id,
          observations: "Test observations",
          tokenCount: 100,
          lastObservedAt: observedAt,
        });
        const updated = await head(input);
        const next = await memory.createReflectionGeneration({
          currentRecord: updated as ObservationalMemoryRecord,
          reflection: "Reflection",
          tokenCount: 50,
        });
        expect(next.lastObservedAt?.toISOString()).toBe(observedAt.toISOString());
      });

      it("should reset isReflecting and isObserving flags", async () => {
        const initial = await memory.initializeObservationalMemory(sampleInput());
        await memory.setReflectingFlag(initial.id, true);
        await memory.setObservingFlag(initial.id, true);
        const next = await memory.createReflectionGeneration({
          currentRecord: initial,
          reflection: "Reflection",
          tokenCount: 50,
        });
        expect(next.isReflecting).toBe(false);
        expect(next.isObserving).toBe(false);
      });

      it("should be retrievable via getObservationalMemory", async () => {
        const input = sampleInput();
        const initial = await memory.initializeObservationalMemory(input);
        const next = await memory.createReflectionGeneration({
          currentRecord: initial,
          reflection: "Reflection",
          tokenCount: 50,
        });
        const retrieved = await head(input);
        expect(retrieved?.id).toBe(next.id);
        expect(retrieved?.originType).toBe("reflection");
        expect(retrieved).toEqual(next);
      });
    });

    const flags = [
      ["setReflectingFlag", "isReflecting"],
      ["setObservingFlag", "isObserving"],
      ["setBufferingObservationFlag", "isBufferingObservation"],
      ["setBufferingReflectionFlag", "isBufferingReflection"],
    ] as const;
    for (const [method, field] of flags) {
      describe(method, () => {
        it(`should set ${field} to true`, async () => {
          const input = sampleInput();
          const record = await memory.initializeObservationalMemory(input);
          if (method === "setBufferingObservationFlag") {
            // Mastra's case: "should set isBufferingObservation to true and capture token count".
            await memory.setBufferingObservationFlag(record.id, true, 5000);
            expect((await head(input))?.lastBufferedAtTokens).toBe(5000);
          } else {
            await memory[method](record.id, true);
          }
          expect((await head(input))?.[field]).toBe(true);
        });

        it(`should set ${field} to false`, async () => {
          const input = sampleInput();
          const record = await memory.initializeObservationalMemory(input);
          await memory[method](record.id, true);
          await memory[method](record.id, false);
          expect((await head(input))?.[field]).toBe(false);
        });

        it("should throw error for non-existent record", async () => {
          await expect(memory[method]("non-existent-id", true)).rejects.toThrow(/not found/);
        });
      });
    }

    describe("clearObservationalMemory", () => {
      it("should clear all observational memory for a resource", async () => {
        const input = sampleInput();
        await memory.initializeObservationalMemory(input);
        expect(await head(input)).not.toBeNull();
        await memory.clearObservationalMemory(input.threadId, input.resourceId);
        expect(await head(input)).toBeNull();
      });

      it("should clear all history for a resource", async () => {
        const resourceId = `resource-${randomUUID()}`;
        const first = await memory.initializeObservationalMemory(sampleInput({ resourceId }));
        await memory.createReflectionGeneration({
          currentRecord: first,
          reflection: "Reflection",
          tokenCount: 100,
        });
        expect(await memory.getObservationalMemoryHistory(null, resourceId)).toHaveLength(2);
        await memory.clearObservationalMemory(null, resourceId);
        expect(await memory.getObservationalMemoryHistory(null, resourceId)).toEqual([]);
      });

      it("should not throw error for non-existent resource", async () => {
        await memory.clearObservationalMemory(null, "non-existent-resource");
      });
    });

    describe("setPendingMessageTokens", () => {
      it("should set pending tokens on the record", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await memory.setPendingMessageTokens(record.id, 100);
        expect((await head(input))?.pendingMessageTokens).toBe(100);
      });

      it("should overwrite pending tokens on subsequent calls", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await memory.setPendingMessageTokens(record.id, 50);
        await memory.setPendingMessageTokens(record.id, 75);
        expect((await head(input))?.pendingMessageTokens).toBe(75);
      });

      it("should throw error for non-existent record", async () => {
        await expect(memory.setPendingMessageTokens("non-existent-id", 100)).rejects.toThrow(/not found/);
      });

      it("should reset pending tokens when observations are updated", async () => {
        const input = sampleInput();
        const record = await memory.initializeObservationalMemory(input);
        await memory.setPendingMessageTokens(record.id, 100);
        await memory.updateActiveObservations({
          id: record.id,
          observations: "New observations",
          tokenCount: 50,
          lastObservedAt: new Date(),
        });
        expect((await head(input))?.pendingMessageTokens).toBe(0);
      });
    });
  });
});
