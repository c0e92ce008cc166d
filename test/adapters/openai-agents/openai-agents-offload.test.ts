/**
 * FlowstoreSession's big items in the blob store: with the store's `limits.offloadAbove`, an item over
 * it is kept in a blob and its row holds flowstore's reference; every read gives it back exactly as
 * given (a few megabytes, NUL characters, key order); the history transaction compares its content;
 * concurrent appends and pops keep their guarantees; every removal (pop, clear, compaction, history
 * mutations and transactions, a prune of idle sessions) removes its blob; a reader beside removals never
 * meets a missing blob; a big history transaction is recorded by its digest; and a store without
 * offloadAbove keeps items in their rows, as before.
 */
import { randomUUID } from "node:crypto";
import type { AgentInputItem } from "@openai/agents";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSession } from "../../../src/adapters/openai-agents/index.js";
import { readItemTexts, rewriteSql } from "../../../src/adapters/openai-agents/offloaded-items.js";
import { sessionItems } from "../../../src/dashboard/agents.js";
import { ConflictError, type Store, ValidationError } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { bigCall, bigResult, exact, OFFLOADED, storedOf, user } from "./big-items.js";

const LIMIT = 4096;

forEachDriver((d) => {
  let store: Store;
  const session = (sessionId: string = randomUUID()) => new FlowstoreSession({ store, sessionId });
  beforeAll(async () => {
    store = await d.open({ limits: { offloadAbove: LIMIT } });
  });

  const { rowsOf, blobs } = storedOf(() => store);

  describe("big items", () => {
    it("keeps an item of a few megabytes in a blob, its row a reference, and gives it back exactly", async () => {
      const before = await blobs();
      const s = session();
      const big = bigResult("call-big", 3_000_000);
      const small = user("small \u0000 item");
      await s.addItems([small, big, user("after")]);

      const rows = await rowsOf(s);
      expect(rows.map((row) => row.blob_key === null)).toEqual([true, false, true]);
      expect(rows[0]?.item).toBe(JSON.stringify(small));
      const reference = JSON.parse(rows[1]?.item as string);
      expect(Object.keys(reference)).toEqual([OFFLOADED]);
      expect(reference[OFFLOADED]).toEqual({
        key: rows[1]?.blob_key,
        bytes: Buffer.byteLength(JSON.stringify(big)),
        kind: "json",
      });
      expect(rows[1]?.item.length).toBeLessThan(200);
      expect((await blobs()).blobs).toBe(before.blobs + 1);
      expect((await store.blobs.get(rows[1]?.blob_key as string)).toString("utf8")).toBe(JSON.stringify(big));
      expect(await store.blobs.exists(rows[1]?.blob_key as string)).toBe(true);

      expect(exact(await s.getItems())).toEqual(exact([small, big, user("after")]));
      expect(exact(await s.getItems(2))).toEqual(exact([big, user("after")]));
      // The dashboard shows the item as kept in the blob store, without fetching it.
      const shown = await sessionItems(store, await s.getSessionId());
      expect(shown.items[1]).toMatchObject({
        kind: "offloaded",
        text: `in the blob store, ${Buffer.byteLength(JSON.stringify(big))} bytes`,
      });
      expect(exact([await s.popItem()])).toEqual(exact([user("after")]));
      const popped = await s.popItem();
      expect(exact([popped])).toEqual(exact([big]));
      expect(Object.keys(popped as object)).toEqual(Object.keys(big));
      expect(await blobs()).toEqual(before);
      expect(exact(await s.getItems())).toEqual(exact([small]));
      await s.clearSession();
    });

    it("keeps a store without offloadAbove as it was, and it reads the items another store offloaded", async () => {
      const plain = await d.open({ schema: store.schema });
      const id = randomUUID();
      const before = await blobs();
      const big = bigResult("call-plain", 50_000);
      await new FlowstoreSession({ store: plain, sessionId: id }).addItems([big]);
      const [row] = await rowsOf(session(id));
      expect(row).toEqual({ item: JSON.stringify(big), blob_key: null });
      expect(await blobs()).toEqual(before);

      // An item offloaded by a store with the limit reads back on one without, and goes with its blob.
      const offloaded = bigResult("call-offloaded");
      await session(id).addItems([offloaded]);
      expect((await blobs()).blobs).toBe(before.blobs + 1);
      const other = new FlowstoreSession({ store: plain, sessionId: id });
      expect(exact(await other.getItems())).toEqual(exact([big, offloaded]));
      expect(exact([await other.popItem()])).toEqual(exact([offloaded]));
      expect(await blobs()).toEqual(before);
      await other.clearSession();
    });

    it("refuses an item holding the reference's key, on a store with offloadAbove or without", async () => {
      const plain = await d.open({ schema: store.schema });
      const forged = {
        ...user("x"),
        [OFFLOADED]: { key: "any", bytes: 1, kind: "json" },
      } as unknown as AgentInputItem;
      for (const s of [session(), new FlowstoreSession({ store: plain })]) {
        await expect(s.addItems([forged])).rejects.toThrow(ValidationError);
        await expect(
          s.applyHistoryTransaction({
            operationId: "op",
            transaction: { type: "append_items", items: [forged] },
          }),
        ).rejects.toThrow(ValidationError);
        expect(await s.getItems()).toEqual([]);
      }
    });

    it("compares a suffix by its items' content, not their references", async () => {
      const s = session();
      const big = bigResult("call-suffix");
      await s.addItems([user("prefix"), big]);
      const before = await blobs();
      const reordered = Object.fromEntries(Object.entries(big).reverse()) as AgentInputItem;
      const changed = {
        ...big,
        output: { type: "text", text: `${(big as { output: { text: string } }).output.text}!` },
      } as AgentInputItem;
      const replace = (operationId: string, expected: AgentInputItem[]) =>
        s.applyHistoryTransaction({
          operationId,
          transaction: { type: "replace_suffix", expectedSuffix: expected, replacement: [user("done")] },
        });
      await expect(replace("op-changed", [changed])).rejects.toThrow(ConflictError);
      expect(exact(await s.getItems())).toEqual(exact([user("prefix"), big]));
      expect(await blobs()).toEqual(before);

      // Keys in another order are the same item, as the SDK compares them; its blob goes with its row.
      await replace("op-reordered", [reordered]);
      expect(exact(await s.getItems())).toEqual(exact([user("prefix"), user("done")]));
      expect((await blobs()).blobs).toBe(before.blobs - 1);
      await replace("op-reordered", [reordered]);
      expect(exact(await s.getItems())).toEqual(exact([user("prefix"), user("done")]));
      await s.clearSession();
    });

    it("records a big history transaction by its digest: a retry is known, another under its id refused", async () => {
      const plain = await d.open({ schema: store.schema });
      const record = async (s: FlowstoreSession, operationId: string) => {
        const { rows } = await store.query<{ transaction: string }>(
          `select transaction from "${store.schema}".agent_session_operations
            where session_id = $1 and operation_id = $2`,
          [await s.getSessionId(), operationId],
        );
        return rows[0]?.transaction as string;
      };
      const big = bigResult("call-op");
      const appendBig = (items: AgentInputItem[]) => ({
        operationId: "op-big",
        transaction: { type: "append_items" as const, items },
      });
      const s = session();
      await s.applyHistoryTransaction(appendBig([big]));
      expect(JSON.parse(await record(s, "op-big"))).toEqual({
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      // The same items, their keys in another order, from a store with or without the limit: a no-op.
      const reordered = Object.fromEntries(Object.entries(big).reverse()) as AgentInputItem;
      await s.applyHistoryTransaction(appendBig([reordered]));
      await new FlowstoreSession({ store: plain, sessionId: await s.getSessionId() }).applyHistoryTransaction(
        appendBig([big]),
      );
      expect(exact(await s.getItems())).toEqual(exact([big]));
      await expect(s.applyHistoryTransaction(appendBig([bigResult("call-op")]))).rejects.toThrow(
        ConflictError,
      );
      expect(exact(await s.getItems())).toEqual(exact([big]));

      // A store without the limit records the transaction whole, as it always has.
      const p = new FlowstoreSession({ store: plain });
      await p.applyHistoryTransaction(appendBig([big]));
      expect(await record(p, "op-big")).toBe(JSON.stringify(appendBig([big]).transaction));
      await p.applyHistoryTransaction(appendBig([reordered]));
      expect(exact(await p.getItems())).toEqual(exact([big]));
      await Promise.all([s.clearSession(), p.clearSession()]);
    });

    it("keeps each call's items together and every item once when calls run at once; pops never share an item", async () => {
      const before = await blobs();
      const id = randomUUID();
      const calls = Array.from({ length: 6 }, (_, c) => [
        user(`${c}:0`),
        bigResult(`${c}:1`, 6_000),
        user(`${c}:2`),
      ]);
      await Promise.all(calls.map((items) => session(id).addItems(items)));
      const items = await session(id).getItems();
      expect(items).toHaveLength(18);
      for (let start = 0; start < items.length; start += 3) {
        const group = items.slice(start, start + 3);
        const [c] = ((group[0] as { content: { text: string }[] }).content[0]?.text ?? "").split(":");
        expect(exact(group)).toEqual(exact(calls[Number(c)] as AgentInputItem[]));
      }
      expect((await blobs()).blobs).toBe(before.blobs + 6);

      const popped = await Promise.all(Array.from({ length: 21 }, () => session(id).popItem()));
      const got = popped.filter((item) => item !== undefined).map((item) => JSON.stringify(item));
      expect(got).toHaveLength(18);
      expect(new Set(got).size).toBe(18);
      expect(got.slice().sort()).toEqual(exact(calls.flat()).sort());
      expect(await blobs()).toEqual(before);
    });

    it("reads again, in one snapshot, when a blob went between its row's read and its own", async () => {
      const s = session();
      const big = bigResult("reread");
      await s.addItems([big]);
      const [current] = await rowsOf(s);
      const gone = JSON.stringify({
        [OFFLOADED]: { key: `${current?.blob_key}-gone`, bytes: 1, kind: "json" },
      });
      const reads: boolean[] = [];
      const texts = await readItemTexts(store, async (db) => {
        reads.push(db === store);
        return [{ item: reads.length === 1 ? gone : (current?.item as string) }];
      });
      expect(reads).toEqual([true, false]);
      expect(texts).toEqual([JSON.stringify(big)]);
      await s.clearSession();
    });

    it("never gives a reader a reference whose blob is gone while others pop and clear", async () => {
      const before = await blobs();
      const id = randomUUID();
      let writing = true;
      const writer = (async () => {
        try {
          for (let round = 0; round < 12; round++) {
            await session(id).addItems([bigResult(`w${round}`, 6_000), user(`w${round}`)]);
            await session(id).addItems([bigResult(`x${round}`, 6_000)]);
            await session(id).popItem();
            if (round % 3 === 2) await session(id).clearSession();
          }
        } finally {
          writing = false;
        }
      })();
      const reader = async () => {
        let reads = 0;
        while (writing || reads === 0) {
          const items = await session(id).getItems();
          for (const item of items) expect(item).not.toHaveProperty(OFFLOADED);
          reads++;
        }
        return reads;
      };
      const reads = await Promise.all([writer, reader(), reader()]);
      expect(reads.slice(1).every((n) => (n as number) > 0)).toBe(true);
      expect(await blobs()).toEqual(before);
    });
  });

  describe("blobs go with their items", () => {
    it("clearSession removes the blobs", async () => {
      const before = await blobs();
      const s = session();
      await s.addItems([bigResult("a"), user("b"), bigResult("c")]);
      expect((await blobs()).blobs).toBe(before.blobs + 2);
      await s.clearSession();
      expect(await s.getItems()).toEqual([]);
      expect(await blobs()).toEqual(before);
    });

    it("replaceHistoryWithCompaction removes the blobs of what it drops, and offloads what it keeps", async () => {
      const before = await blobs();
      const s = session();
      const kept = bigResult("kept");
      await s.addItems([bigResult("dropped"), user("old"), kept]);
      expect((await blobs()).blobs).toBe(before.blobs + 2);
      const compaction = { type: "compaction", encrypted_content: "summary" } as AgentInputItem;
      await s.replaceHistoryWithCompaction([compaction, kept]);
      expect(exact(await s.getItems())).toEqual(exact([compaction, kept]));
      const rows = await rowsOf(s);
      expect(rows.map((row) => row.blob_key === null)).toEqual([true, false]);
      expect((await blobs()).blobs).toBe(before.blobs + 1);
      await s.replaceHistoryWithCompaction([compaction]);
      expect(await blobs()).toEqual(before);
      await s.clearSession();
    });

    it("applyHistoryMutations removes the blobs of the calls it replaces and removes", async () => {
      const before = await blobs();
      const s = session();
      await s.addItems([user("hi"), bigCall("call-1", "old-1"), user("between"), bigCall("call-1", "old-2")]);
      expect((await blobs()).blobs).toBe(before.blobs + 2);
      const small = { ...bigCall("call-1", "new"), arguments: "{}" } as Extract<
        AgentInputItem,
        { type: "function_call" }
      >;
      await s.applyHistoryMutations({
        mutations: [{ type: "replace_function_call", callId: "call-1", replacement: small }],
      });
      expect(exact(await s.getItems())).toEqual(exact([user("hi"), small, user("between")]));
      expect(await blobs()).toEqual(before);

      // A big replacement is offloaded in its turn, and goes when replaced again.
      const big = bigCall("call-1", "newer") as Extract<AgentInputItem, { type: "function_call" }>;
      await s.applyHistoryMutations({
        mutations: [{ type: "replace_function_call", callId: "call-1", replacement: big }],
      });
      expect(exact(await s.getItems())).toEqual(exact([user("hi"), big, user("between")]));
      expect((await rowsOf(s))[1]?.blob_key).not.toBeNull();
      expect((await blobs()).blobs).toBe(before.blobs + 1);
      await s.applyHistoryMutations({
        mutations: [{ type: "replace_function_call", callId: "call-1", replacement: small }],
      });
      expect(await blobs()).toEqual(before);
      await s.clearSession();
    });

    it("a rewrite removes the blob it put for a row popped meanwhile", async () => {
      const before = await blobs();
      const s = session();
      await s.addItems([user("kept")]);
      // The replacement's blob, put for a position whose row a pop took between the read and the write.
      const key = `flowstore:offloaded/agent-sessions/${randomUUID()}`;
      await store.blobs.put(key, Buffer.from(JSON.stringify(bigResult("popped"))));
      const reference = JSON.stringify({ [OFFLOADED]: { key, bytes: 1, kind: "json" } });
      const q = `"${store.schema}"`;
      await store.query(rewriteSql(q), [await s.getSessionId(), [], ["7"], [reference], [], [key]]);
      expect(await blobs()).toEqual(before);
      expect(exact(await s.getItems())).toEqual(exact([user("kept")]));
      await s.clearSession();
    });

    it("applyHistoryTransaction removes the blobs of the suffix it replaces, and offloads an append", async () => {
      const before = await blobs();
      const s = session();
      const [one, two] = [bigResult("one"), bigResult("two")];
      await s.applyHistoryTransaction({
        operationId: "op-append",
        transaction: { type: "append_items", items: [user("start"), one, two] },
      });
      expect((await rowsOf(s)).map((row) => row.blob_key === null)).toEqual([true, false, false]);
      expect((await blobs()).blobs).toBe(before.blobs + 2);
      await s.applyHistoryTransaction({
        operationId: "op-replace",
        transaction: { type: "replace_suffix", expectedSuffix: [one, two], replacement: [user("end")] },
      });
      expect(exact(await s.getItems())).toEqual(exact([user("start"), user("end")]));
      expect(await blobs()).toEqual(before);
      await s.clearSession();
    });

    it("store.prune() removes the blobs of the idle sessions it removes, and keeps the others'", async () => {
      const before = await blobs();
      const [idle, active] = [session(), session()];
      const kept = bigResult("active");
      await idle.addItems([bigResult("idle-1"), user("idle"), bigResult("idle-2")]);
      await active.addItems([kept]);
      expect((await blobs()).blobs).toBe(before.blobs + 3);
      await store.query(
        `update "${store.schema}".agent_sessions set updated_at = now() - interval '40 days' where id = $1`,
        [await idle.getSessionId()],
      );
      const result = await store.prune({ finishedBefore: new Date(Date.now() - 30 * 86_400_000) });
      expect(result.agentSessions).toBeGreaterThanOrEqual(1);
      expect(await idle.getItems()).toEqual([]);
      expect((await blobs()).blobs).toBe(before.blobs + 1);
      expect(exact(await active.getItems())).toEqual(exact([kept]));
      await active.clearSession();
      expect(await blobs()).toEqual(before);
    });
  });
});
