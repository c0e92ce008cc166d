/**
 * A value in its row that replaces an offloaded one releases the blob that held the old value: an
 * execution's state (update, upsert, in a transaction or not) and an actor's snapshot, also when the
 * small write waited for a large one's transaction to commit.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Store, Transaction } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until, waitingOnLocks } from "../support/waiting.js";

const LIMIT = 4096;
const big = (tag: string) => ({ tag, text: tag.repeat(LIMIT) });
const large = (n: number) => new Uint8Array(LIMIT * 2).fill(n);

forEachDriver((driver) => {
  describe("blobs of replaced offloaded values", () => {
    let store: Store;
    beforeAll(async () => {
      store = await driver.open({ limits: { offloadAbove: LIMIT } });
    });
    const running = async () =>
      (await store.executions.start({ name: "replaced", status: "running" })).execution.id;
    const stateBlobs = async (id: string) =>
      (await store.blobs.list(`flowstore:offloaded/${id}/state/`)).items.length;
    /** Chunks no blob points to and no pending put will claim: content nothing would ever remove. */
    const strayChunks = async () => {
      const s = `"${store.schema}"`;
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${s}.blob_chunks c
         where not exists (select 1 from ${s}.blobs b where b.id = c.blob_id)
           and not exists (select 1 from ${s}.blob_pending p where p.id = c.blob_id)`,
      );
      return rows[0]?.n;
    };
    /** Runs `first` in a transaction held open until `second` waits for its row lock, then commits. */
    async function second<T>(first: (tx: Transaction) => Promise<unknown>, then: () => Promise<T>) {
      let wrote = false;
      let commit: () => void = () => {};
      const committed = new Promise<void>((resolve) => {
        commit = resolve;
      });
      const held = store.transaction(async (tx) => {
        await first(tx);
        wrote = true;
        await committed;
      });
      await until(() => wrote);
      const waiting = then();
      await until(async () => (await waitingOnLocks(store)) >= 1);
      commit();
      await held;
      return waiting;
    }

    it("a small state, or none, releases the blob of the offloaded state it replaces", async () => {
      const id = await running();
      await store.executions.update(id, { state: big("a") });
      expect(await stateBlobs(id)).toBe(1);
      await store.executions.update(id, { state: { small: true } });
      expect(await stateBlobs(id)).toBe(0);
      await store.executions.update(id, { state: big("b") });
      await store.executions.update(id, { state: null });
      expect(await stateBlobs(id)).toBe(0);
      const run = await store.executions.upsert({ id, name: "replaced", status: "running", state: big("c") });
      expect(await stateBlobs(id)).toBe(1);
      await store.executions.upsertMany([{ ...run, state: { small: 1 } }]);
      expect(await stateBlobs(id)).toBe(0);
      await store.transaction(async (tx) => {
        await tx.executions.update(id, { state: big("d") });
        await tx.executions.update(id, { state: { small: 2 } });
      });
      expect(await stateBlobs(id)).toBe(0);
      // A write that leaves the state alone leaves its blob alone.
      await store.executions.update(id, { state: big("e") });
      await store.executions.update(id, { status: "waiting" });
      expect(await stateBlobs(id)).toBe(1);
      expect((await store.executions.get(id)).state).toEqual(big("e"));
      expect(await strayChunks()).toBe(0);
    });

    // Two sessions, one waiting for the other's row lock: only the server has them.
    it.runIf(driver.concurrent)(
      "a small state that waited for a large one's transaction leaves no blob behind",
      async () => {
        const id = await running();
        await second(
          (tx) => tx.executions.update(id, { state: big("l") }),
          () => store.executions.update(id, { state: { small: true } }),
        );
        expect((await store.executions.get(id)).state).toEqual({ small: true });
        expect(await stateBlobs(id)).toBe(0);
        expect(await strayChunks()).toBe(0);
      },
    );

    it.runIf(driver.concurrent)(
      "a small snapshot that waited for a large one's transaction leaves no blob behind",
      async () => {
        const actor = `actor-${Math.random()}`;
        const snapshots = async () =>
          (await store.blobs.list("flowstore:offloaded/durable-state/")).items.length;
        const before = await snapshots();
        const write = (version: number, payload: Uint8Array) => ({
          persistenceId: actor,
          version,
          payload,
          manifest: "m",
        });
        await store.durableState.write(write(1, new Uint8Array([1])));
        const written = await second(
          (tx) => tx.durableState.write(write(2, large(2))),
          () => store.durableState.write(write(3, new Uint8Array([3]))),
        );
        expect(written).toEqual({ written: true });
        expect(Buffer.from((await store.durableState.latest(actor))?.payload ?? [])).toEqual(
          Buffer.from([3]),
        );
        expect(await snapshots()).toBe(before);
        expect(await strayChunks()).toBe(0);
      },
    );
  });
});
