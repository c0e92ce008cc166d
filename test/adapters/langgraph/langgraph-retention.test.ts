/**
 * Retention of LangGraph checkpoints: FlowstoreSaver.prune trims threads to their newest checkpoints
 * (keeping the channel values those still name, however old) and deletes idle threads, scope by
 * scope; maintenance runs it on its schedule.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import { type ChannelVersions, type Checkpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";

/**
 * Puts `count` checkpoints on a thread, each the child of the one before, with a write each. The
 * channel "first" is written once, by the first checkpoint; "step" by every one.
 */
async function chain(saver: FlowstoreSaver, thread: string, count: number, ns = ""): Promise<string[]> {
  const ids: string[] = [];
  let config: RunnableConfig = { configurable: { thread_id: thread, checkpoint_ns: ns } };
  for (let step = 0; step < count; step++) {
    const checkpoint: Checkpoint = {
      v: 4,
      id: uuid6(step),
      ts: new Date().toISOString(),
      channel_values: { first: "from the first step", step },
      channel_versions: { first: 1, step: step + 1 },
      versions_seen: {},
    };
    const newVersions: ChannelVersions = step === 0 ? { first: 1, step: 1 } : { step: step + 1 };
    config = await saver.put(config, checkpoint, { source: "loop", step, parents: {} }, newVersions);
    await saver.putWrites(config, [["step", step + 1]], `task-${step}`);
    ids.push(checkpoint.id);
  }
  return ids;
}

async function ids(saver: FlowstoreSaver, thread: string, ns?: string): Promise<string[]> {
  const found: string[] = [];
  for await (const tuple of saver.list({ configurable: { thread_id: thread, checkpoint_ns: ns } })) {
    found.push(tuple.checkpoint.id);
  }
  return found;
}

async function rows(store: Store, table: string, scope: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::integer as n from ${store.schema}.langgraph_${table} where scope = $1`,
    [scope],
  );
  return rows[0]?.n ?? 0;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Makes a thread look idle since `ms` milliseconds ago. */
async function age(store: Store, scope: string, thread: string, ms: number): Promise<void> {
  await store.query(
    `update ${store.schema}.langgraph_threads set updated_at = now() - $3::float8 * interval '1 millisecond'
     where scope = $1 and thread_id = $2`,
    [scope, thread, ms],
  );
}

forEachDriver((driver) => {
  describe("LangGraph checkpoint retention", () => {
    let store: Store;
    let scopes = 0;
    const saver = () => new FlowstoreSaver({ store, scope: `retention-${++scopes}` });

    beforeAll(async () => {
      store = await driver.open();
    });

    it("keeps each thread's newest checkpoints, with every channel value they name", async () => {
      const s = saver();
      const kept = (await chain(s, "long", 10)).slice(-3).reverse();
      const short = await chain(s, "short", 2);
      const child = await chain(s, "long", 4, "child");
      const result = await s.prune({ keepLatest: 3 });
      expect(await ids(s, "long", "")).toEqual(kept);
      expect(await ids(s, "short")).toEqual([...short].reverse());
      expect(await ids(s, "long", "child")).toEqual(child.slice(-3).reverse());
      expect(result).toMatchObject({ threads: 0, checkpoints: 8, writes: 8 });

      // The latest checkpoint still reads the value only the (deleted) first checkpoint wrote.
      const latest = await s.getTuple({ configurable: { thread_id: "long", checkpoint_ns: "" } });
      expect(latest?.checkpoint.channel_values).toEqual({ first: "from the first step", step: 9 });
      expect(latest?.pendingWrites).toEqual([["task-9", "step", 10]]);
      // Values that no kept checkpoint names are gone: 7 versions of "step" in "long", 1 in its child
      // namespace. "first" stays, and "short" lost nothing.
      expect(result.blobs).toBe(7 + 1);
      expect(await rows(store, "blobs", s.scope)).toBe(4 + 4 + 3);
      expect(await s.prune({ keepLatest: 3 })).toMatchObject({ checkpoints: 0, writes: 0, blobs: 0 });
    });

    it("deletes threads idle for longer than idleMs, whole, and no others", async () => {
      const s = saver();
      await chain(s, "idle", 3);
      await chain(s, "idle", 2, "child");
      await chain(s, "busy", 3);
      await age(store, s.scope, "idle", 10 * DAY);
      const result = await s.prune({ idleMs: 7 * DAY, batchSize: 1 });
      expect(result).toMatchObject({ threads: 1, checkpoints: 5, writes: 5 });
      expect(await s.getTuple({ configurable: { thread_id: "idle" } })).toBeUndefined();
      expect(await ids(s, "busy")).toHaveLength(3);
      expect(await rows(store, "threads", s.scope)).toBe(1);
    });

    it("never deletes a thread written to within idleMs, however short", async () => {
      const s = saver();
      await chain(s, "active", 1);
      // Long enough for idleMs to pass, too short for the next put to refresh the thread's row.
      await new Promise((resolve) => setTimeout(resolve, 600));
      await chain(s, "active", 1);
      await chain(s, "idle", 2);
      await age(store, s.scope, "idle", 2 * MINUTE);
      const result = await s.prune({ idleMs: 300 });
      expect(await ids(s, "active")).toHaveLength(2);
      expect(await ids(s, "idle")).toEqual([]);
      expect(result).toMatchObject({ threads: 1, checkpoints: 2 });
    });

    it("trims only threads written to since touchedSince, in batches", async () => {
      const s = saver();
      for (const thread of ["t1", "t2", "t3"]) await chain(s, thread, 3);
      await age(store, s.scope, "t1", DAY);
      const result = await s.prune({
        keepLatest: 1,
        touchedSince: new Date(Date.now() - 3_600_000),
        batchSize: 1,
      });
      expect(result.checkpoints).toBe(4);
      expect(await ids(s, "t1")).toHaveLength(3);
      expect(await ids(s, "t2")).toHaveLength(1);
      expect(await ids(s, "t3")).toHaveLength(1);
    });

    it("never touches another scope's threads", async () => {
      const mine = saver();
      const theirs = saver();
      await chain(mine, "shared-id", 4);
      await chain(theirs, "shared-id", 4);
      await age(store, mine.scope, "shared-id", 30 * DAY);
      await age(store, theirs.scope, "shared-id", 30 * DAY);
      await mine.prune({ keepLatest: 1 });
      await mine.prune({ idleMs: 86_400_000 });
      expect(await ids(mine, "shared-id")).toEqual([]);
      expect(await ids(theirs, "shared-id")).toHaveLength(4);
    });

    it("runs from store maintenance, after the executions' prune", async () => {
      const s = saver();
      await chain(s, "t", 5);
      const runs: Record<string, unknown>[] = [];
      const maintenance = store.startMaintenance({
        olderThanMs: 86_400_000,
        intervalMs: 60_000,
        retention: [s.retentionTask({ keepLatest: 2 })],
        onRun: (result) => runs.push(result.retention),
      });
      await expect.poll(() => runs.length, { timeout: 10_000 }).toBe(1);
      await maintenance.stop();
      expect(runs[0]).toEqual({
        [`langgraph checkpoints (${s.scope})`]: expect.objectContaining({ checkpoints: 3 }),
      });
      expect(await ids(s, "t")).toHaveLength(2);
    });

    it("refuses options it could not follow, before deleting anything", async () => {
      const s = saver();
      await chain(s, "t", 2);
      for (const options of [
        {},
        { keepLatest: 0 },
        { keepLatest: 1.5 },
        { idleMs: -1 },
        { keepLatest: 1, batchSize: 0 },
      ]) {
        await expect(s.prune(options)).rejects.toThrow();
        expect(() => s.retentionTask(options)).toThrow();
      }
      expect(await ids(s, "t")).toHaveLength(2);
    });
  });
});
