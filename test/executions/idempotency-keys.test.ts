/**
 * Idempotency keys live in a registry of their own (execution_keys): racing starts with one key still
 * make one run whatever path they take, upserts that set or change a key conflict and free keys as
 * the unique index did, and retention frees the keys (and tokens) of the runs it deletes.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, type Store, uuidv7 } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until, waitingOnLocks } from "../support/waiting.js";
import { definition } from "../support/workflow-fixtures.js";

async function registry(store: Store): Promise<Record<string, string>> {
  const { rows } = await store.query<{ key: string; id: string }>(
    `select idempotency_key as key, execution_id::text as id from "${store.schema}".execution_keys`,
  );
  return Object.fromEntries(rows.map((row) => [row.key, row.id]));
}

forEachDriver((driver) => {
  describe("idempotency keys", () => {
    it("racing starts with one key make one run: batched by name, alone, appending, in transactions", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const starts = [
        (key: string) => store.executions.start({ name: d.name, idempotencyKey: key }),
        (key: string) => store.executions.start({ definitionId: d.id, idempotencyKey: key }),
        (key: string) =>
          store.executions.start({ name: d.name, idempotencyKey: key }, { append: { type: "started" } }),
        (key: string) =>
          store.transaction((tx) => tx.executions.start({ name: d.name, idempotencyKey: key })),
      ];
      for (let round = 0; round < 4; round++) {
        const key = `race-${round}`;
        const results = await Promise.all(starts.flatMap((start) => [start(key), start(key)]));
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.execution.id)).size).toBe(1);
      }
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".executions`,
      );
      expect(rows[0]?.n).toBe(4);
      expect(Object.keys(await registry(store)).sort()).toEqual(["race-0", "race-1", "race-2", "race-3"]);
    });

    it("upserts register, change and free keys, and a key another run holds is a conflict", async () => {
      const store = await driver.open();
      const [a, b] = [uuidv7(), uuidv7()];
      await store.executions.upsert({ id: a, name: "w", status: "running", idempotencyKey: "k1" });
      await store.executions.upsert({ id: b, name: "w", status: "running" });
      await expect(
        store.executions.upsert({ id: b, name: "w", status: "running", idempotencyKey: "k1" }),
      ).rejects.toBeInstanceOf(ConflictError);
      await store.executions.upsert({ id: a, name: "w", status: "running", idempotencyKey: "k2" });
      expect(await registry(store)).toEqual({ k2: a });
      await store.executions.upsert({ id: b, name: "w", status: "running", idempotencyKey: "k1" });
      expect(await registry(store)).toEqual({ k1: b, k2: a });
      await store.executions.upsert({ id: a, name: "w", status: "running", idempotencyKey: null });
      expect(await registry(store)).toEqual({ k1: b });
      const started = await store.executions.start({ name: "w", idempotencyKey: "k2" });
      expect(started.created).toBe(true);
      expect((await store.executions.start({ name: "w", idempotencyKey: "k1" })).execution.id).toBe(b);
    });

    it("a batch giving one key to two runs is a conflict, with nothing written", async () => {
      const store = await driver.open();
      const [a, b] = [uuidv7(), uuidv7()];
      await expect(
        store.executions.upsertMany([
          { id: a, name: "w", status: "running", idempotencyKey: "twice" },
          { id: b, name: "w", status: "running", idempotencyKey: "twice" },
        ]),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await registry(store)).toEqual({});
    });

    // An upsert that waits for another writer of the same run writes the run's newest row, while its
    // statement's snapshot still shows the old key: the registry must follow the row, not the snapshot.
    it.skipIf(!driver.concurrent)(
      "upserts of one run racing to change its key leave the registry as the run ends up",
      async () => {
        const store = await driver.open();
        const [a, b] = [uuidv7(), uuidv7()];
        const race = async (first: string | null, second: string | null) => {
          let written!: () => void;
          const wrote = new Promise<void>((resolve) => {
            written = resolve;
          });
          let release!: () => void;
          const held = new Promise<void>((resolve) => {
            release = resolve;
          });
          const one = store.transaction(async (tx) => {
            await tx.executions.upsert({ id: a, name: "w", status: "running", idempotencyKey: first });
            written();
            await held;
          });
          await wrote;
          const two = store.executions.upsert({
            id: a,
            name: "w",
            status: "running",
            idempotencyKey: second,
          });
          await until(async () => (await waitingOnLocks(store)) > 0);
          release();
          await Promise.all([one, two]);
        };
        await store.executions.upsert({ id: a, name: "w", status: "running", idempotencyKey: "K" });
        await store.executions.upsert({ id: b, name: "w", status: "running" });

        // Cleared, then set back: the run holds K, and so does the registry.
        await race(null, "K");
        expect(await registry(store)).toEqual({ K: a });
        const again = await store.executions.start({ name: "w", idempotencyKey: "K" });
        expect(again).toMatchObject({ created: false, execution: { id: a } });

        // Changed twice at once: the run ends with K3, and K2, which no run holds, is free for another.
        await race("K2", "K3");
        expect((await store.executions.get(a)).idempotencyKey).toBe("K3");
        await store.executions.upsert({ id: b, name: "w", status: "running", idempotencyKey: "K2" });
        expect((await registry(store)).K2).toBe(b);
        expect((await registry(store)).K3).toBe(a);
        await expect(
          store.executions.upsert({ id: b, name: "w", status: "running", idempotencyKey: "K3" }),
        ).rejects.toBeInstanceOf(ConflictError);
      },
    );

    it("a key whose run was deleted outside retention is free again", async () => {
      const store = await driver.open();
      const first = await store.executions.start({ name: "w", idempotencyKey: "gone" });
      await store.query(`delete from "${store.schema}".executions where id = $1`, [first.execution.id]);
      expect(await store.executions.findByIdempotencyKey("gone")).toBeNull();
      const second = await store.executions.start({ name: "w", idempotencyKey: "gone" });
      expect(second.created).toBe(true);
      expect(await registry(store)).toEqual({ gone: second.execution.id });
    });

    it("pruning a run frees its key and its tokens", async () => {
      const store = await driver.open();
      const old = await store.executions.start({ name: "w", idempotencyKey: "order-9", status: "running" });
      await store.signals.claim("hook:9", old.execution.id);
      await store.executions.complete(old.execution.id, null);
      const result = await store.prune({ finishedBefore: new Date(Date.now() + 60_000) });
      expect(result).toMatchObject({ executions: 1, signals: 1 });
      expect(await registry(store)).toEqual({});
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from "${store.schema}".signals`,
      );
      expect(rows[0]?.n).toBe(0);
      const again = await store.executions.start({ name: "w", idempotencyKey: "order-9", status: "running" });
      expect(again.created).toBe(true);
      expect(again.execution.id).not.toBe(old.execution.id);
      expect((await store.signals.claim("hook:9", again.execution.id)).claimed).toBe(true);
    });
  });
});
