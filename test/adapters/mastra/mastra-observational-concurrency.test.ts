/**
 * Observational memory with two Mastra storages on one store's schema (two stores, so two pools on
 * the real server), racing: buffered observations appended and activated by both at once, a
 * reflection racing an append, a swap or another reflection, two first records made at once. After
 * each race every chunk is on the newest generation exactly once (buffered or active), no retired
 * generation keeps a chunk, and one generation per reflection stands. A thread's metadata changed by
 * both at once keeps both changes.
 */
import { randomUUID } from "node:crypto";
import type { MemoryStorage, ObservationalMemoryRecord } from "@mastra/core/storage";
import { beforeAll, expect, it } from "vitest";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { chunk, memoryOf } from "./observational-fixtures.js";

const ROUNDS = 8;

describeMastra("flowstore/mastra observational memory: two instances on one store", () => {
  forEachDriver((d) => {
    let a: MemoryStorage;
    let b: MemoryStorage;
    beforeAll(async () => {
      const first = await d.open();
      a = await memoryOf(first, "a");
      b = await memoryOf(await d.open({ schema: first.schema }), "b");
    });

    const newKey = () => ({
      threadId: `thread-${randomUUID()}`,
      resourceId: `resource-${randomUUID()}`,
      scope: "thread" as const,
      config: {},
    });
    type Key = ReturnType<typeof newKey>;
    const head = async (key: Key) =>
      (await a.getObservationalMemory(key.threadId, key.resourceId)) as ObservationalMemoryRecord;
    const observations = (name: string) =>
      chunk({ observations: `- ${name}-${randomUUID()}`, messageTokens: 500 });
    type Chunk = ReturnType<typeof observations>;
    const seed = async (key: Key, chunks: Chunk[] = []) => {
      const record = await a.initializeObservationalMemory(key);
      await a.updateActiveObservations({
        id: record.id,
        observations: "- base",
        tokenCount: 10,
        lastObservedAt: new Date(),
      });
      for (const given of chunks) await a.updateBufferedObservations({ id: record.id, chunk: given });
      return head(key);
    };
    const swapAll = (store: MemoryStorage, id: string) =>
      store.swapBufferedToActive({
        id,
        activationRatio: 1,
        messageTokensThreshold: 1000,
        currentPendingTokens: 1_000_000,
      });

    /** Every chunk on the head exactly once; retired generations hold none; one live head. */
    const expectNothingLost = async (key: Key, chunks: Chunk[]) => {
      const current = await head(key);
      const buffered = current.bufferedObservationChunks ?? [];
      for (const given of chunks) {
        const inBuffer = buffered.filter((c) => c.cycleId === given.cycleId).length;
        const inActive = current.activeObservations.split(given.observations).length - 1;
        expect(inBuffer + inActive, `${given.observations} on the head once`).toBe(1);
      }
      const history = await a.getObservationalMemoryHistory(key.threadId, key.resourceId, 100);
      for (const retired of history.slice(1)) expect(retired.bufferedObservationChunks).toBeUndefined();
      return current;
    };

    it("buffers and swaps from both instances at once and loses no chunk", async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const key = newKey();
        const record = await seed(key);
        const chunks = Array.from({ length: 12 }, (_, i) => observations(`chunk-${i}`));
        await Promise.all([
          ...chunks.map((given, i) =>
            (i % 2 ? a : b).updateBufferedObservations({ id: record.id, chunk: given }),
          ),
          swapAll(a, record.id),
          swapAll(b, record.id),
          swapAll(a, record.id),
        ]);
        await expectNothingLost(key, chunks);
        await swapAll(b, record.id);
        const final = await expectNothingLost(key, chunks);
        expect(final.bufferedObservationChunks).toBeUndefined();
      }
    });

    it("a reflection racing an append: the chunk reaches the new generation", async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const key = newKey();
        const first = observations("first");
        const snapshot = await seed(key, [first]);
        const late = observations("late");
        await Promise.all([
          a.createReflectionGeneration({ currentRecord: snapshot, reflection: "- reflected", tokenCount: 5 }),
          b.updateBufferedObservations({ id: snapshot.id, chunk: late }),
        ]);
        const current = await expectNothingLost(key, [first, late]);
        expect(current.generationCount).toBe(1);
      }
    });

    it("a reflection racing a swap: every chunk is activated or buffered on the new generation", async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const key = newKey();
        const chunks = [observations("one"), observations("two")];
        const snapshot = await seed(key, chunks);
        await Promise.all([
          a.createReflectionGeneration({ currentRecord: snapshot, reflection: "- reflected", tokenCount: 5 }),
          swapAll(b, snapshot.id),
        ]);
        const current = await expectNothingLost(key, chunks);
        expect(current.generationCount).toBe(1);
      }
    });

    it("two reflections of one record: one applies and both are answered with it", async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const key = newKey();
        const carried = observations("carried");
        const snapshot = await seed(key, [carried]);
        const results = await Promise.all([
          a.createReflectionGeneration({
            currentRecord: snapshot,
            reflection: "- reflected a",
            tokenCount: 5,
          }),
          b.createReflectionGeneration({
            currentRecord: snapshot,
            reflection: "- reflected b",
            tokenCount: 5,
          }),
        ]);
        const current = await expectNothingLost(key, [carried]);
        expect(results.map((r) => r.id)).toEqual([current.id, current.id]);
        expect(await a.getObservationalMemoryHistory(key.threadId, key.resourceId, 100)).toHaveLength(2);
      }
    });

    it("flags and counts written to a record a reflection retired reach the new generation", async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const key = newKey();
        const snapshot = await seed(key);
        await Promise.all([
          a.createReflectionGeneration({ currentRecord: snapshot, reflection: "- reflected", tokenCount: 5 }),
          b.setPendingMessageTokens(snapshot.id, 777),
          b.setBufferingObservationFlag(snapshot.id, true, 321),
        ]);
        expect(await head(key)).toMatchObject({
          generationCount: 1,
          pendingMessageTokens: 777,
          isBufferingObservation: true,
          lastBufferedAtTokens: 321,
        });
      }
    });

    it("read-modify-writes of one thread's metadata from both instances at once keep every change", async () => {
      const thread = {
        id: `thread-${randomUUID()}`,
        resourceId: "r",
        title: "t",
        metadata: { count: 0 },
        createdAt: new Date(),
        updatedAt: new Date(),
      };
      await a.saveThread({ thread });
      const increment = (store: MemoryStorage) =>
        store.updateThreadMetadata({
          id: thread.id,
          update: (current) => ({ count: (current.metadata?.count as number) + 1 }),
        });
      await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 ? a : b)));
      const after = await b.getThreadById({ threadId: thread.id });
      expect(after).toMatchObject({ title: "t", metadata: { count: 20 } });
      expect(
        await a.updateThreadMetadata({ id: thread.id, resourceId: "other", update: () => ({}) }),
      ).toBeNull();
    });

    it("two instances making a key's first record at once share one, and one cycle appended twice is kept once", async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const key = newKey();
        const [first, second] = await Promise.all([
          a.initializeObservationalMemory(key),
          b.initializeObservationalMemory(key),
        ]);
        expect(second.id).toBe(first.id);
        const history = await a.getObservationalMemoryHistory(key.threadId, key.resourceId, 100);
        expect(history.map((r) => r.id)).toEqual([first.id]);
        const twice = observations("twice");
        await Promise.all([
          a.updateBufferedObservations({ id: first.id, chunk: twice }),
          b.updateBufferedObservations({ id: first.id, chunk: twice }),
        ]);
        expect((await head(key)).bufferedObservationChunks).toHaveLength(1);
      }
    });
  });
});
