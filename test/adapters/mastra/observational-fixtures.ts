/**
 * What the observational-memory tests share: a memory domain on a store of the driver, and the inputs
 * Mastra's own cases (stores/_test-utils, memory/observational-memory.ts) build.
 */
import { randomUUID } from "node:crypto";
import type { MemoryStorage } from "@mastra/core/storage";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import type { Store } from "../../../src/index.js";

/** The memory domain of a Mastra storage on `store`. */
export async function memoryOf(store: Store, id = "observational"): Promise<MemoryStorage> {
  const storage = new FlowstoreMastraStorage({ id, store });
  return (await storage.getStore("memory")) as MemoryStorage;
}

/** A record's first input: a resource's unless a thread is given. */
export function sampleInput({
  threadId = null,
  resourceId = `resource-${randomUUID()}`,
  scope = "resource",
}: {
  threadId?: string | null;
  resourceId?: string;
  scope?: "thread" | "resource";
} = {}) {
  return {
    threadId,
    resourceId,
    scope,
    config: { observationThreshold: 5000, reflectionThreshold: 40000 },
  };
}

/** A buffered observation chunk over one message. */
export function chunk({ observations, messageTokens }: { observations: string; messageTokens: number }) {
  return {
    cycleId: `cycle-${randomUUID()}`,
    observations,
    tokenCount: Math.round(messageTokens / 2),
    messageIds: [`msg-${randomUUID()}`],
    messageTokens,
    lastObservedAt: new Date(),
  };
}
