/**
 * FlowstoreSession against the cases of the OpenAI Agents SDK's own MemorySession tests
 * (packages/agents-core/test/memorySession.test.ts: order, limits, pops, clears, copies, history
 * mutations and history transactions with their refusals), then what a durable session adds: two
 * objects of one id are one conversation, items come back exactly as given, bad input is refused with
 * nothing written, concurrent appends and pops, and a real Agent run (a deterministic model of the
 * test's own) paused for a tool's approval and resumed on a session opened again.
 */
import { randomUUID } from "node:crypto";
import { Agent, type AgentInputItem, RunState, run, setTracingDisabled, tool } from "@openai/agents";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { FlowstoreSession } from "../../../src/adapters/openai-agents/index.js";
import { ConflictError, type Store, ValidationError } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { ScriptedModel } from "../../support/scripted-model.js";

setTracingDisabled(true);

const user = (text: string): AgentInputItem => ({ role: "user", content: [{ type: "input_text", text }] });
const call = (callId: string, id: string): AgentInputItem => ({
  type: "function_call",
  id,
  callId,
  name: "lookup",
  status: "completed",
  arguments: "{}",
});
const append = (operationId: string, items: AgentInputItem[]) => ({
  operationId,
  transaction: { type: "append_items" as const, items },
});

/** Rows the store holds for a session: items and recorded transactions. */
async function rowsOf(store: Store, sessionId: string): Promise<{ items: number; operations: number }> {
  const { rows } = await store.query<{ items: number; operations: number }>(
    `select (select count(*)::int from "${store.schema}".agent_session_items where session_id = $1) as items,
            (select count(*)::int from "${store.schema}".agent_session_operations where session_id = $1) as operations`,
    [sessionId],
  );
  return rows[0] as { items: number; operations: number };
}

forEachDriver((d) => {
  let store: Store;
  const session = (sessionId: string = randomUUID()) => new FlowstoreSession({ store, sessionId });
  beforeAll(async () => {
    store = await d.open();
  });

  describe("the SDK's MemorySession cases", () => {
    it("stores and retrieves items in order, the newest `limit` of them, pops the newest and clears", async () => {
      const s = session("session-1");
      const [hello, one, two] = [user("hello"), user("one"), user("two")];
      expect(await s.getSessionId()).toBe("session-1");
      await s.addItems([hello]);
      await s.addItems([one, two]);
      expect(await s.getItems()).toEqual([hello, one, two]);
      expect(await s.getItems(2)).toEqual([one, two]);
      expect(await s.getItems(10)).toEqual([hello, one, two]);
      expect(await s.getItems(0)).toEqual([]);
      expect(await s.getItems(-1)).toEqual([]);
      expect(await s.popItem()).toEqual(two);
      expect(await s.getItems()).toEqual([hello, one]);
      await s.clearSession();
      expect(await s.getItems()).toEqual([]);
      expect(await s.getItems(3)).toEqual([]);
      expect(await s.popItem()).toBeUndefined();
      await s.addItems([]);
      expect(await rowsOf(store, "session-1")).toEqual({ items: 0, operations: 0 });
    });

    it("returns copies: changing an item after adding, reading or popping it changes nothing stored", async () => {
      const s = session();
      const item = user("original");
      await s.addItems([item]);
      (item as { content: { text: string }[] }).content[0] = { text: "changed" } as never;
      const [read] = (await s.getItems()) as unknown as [{ content: { text: string }[] }];
      expect(read.content[0]?.text).toBe("original");
      read.content[0] = { text: "changed again" };
      const popped = (await s.popItem()) as { content: { text: string }[] };
      expect(popped.content[0]?.text).toBe("original");
    });

    it("applies history mutations: the first function call of the id replaced in place, later ones removed", async () => {
      const s = session();
      const replacement = { ...call("call-1", "new"), arguments: '{"approved":true}' } as Extract<
        AgentInputItem,
        { type: "function_call" }
      >;
      await s.addItems([user("hi"), call("call-1", "old-1"), user("between"), call("call-1", "old-2")]);
      await s.applyHistoryMutations({ mutations: [] });
      await s.applyHistoryMutations({
        mutations: [{ type: "replace_function_call", callId: "call-1", replacement }],
      });
      expect(await s.getItems()).toEqual([user("hi"), replacement, user("between")]);
    });

    it("applies an append transaction once, however often it is retried", async () => {
      const s = session();
      await s.addItems([user("start")]);
      const committed = user("committed");
      await s.applyHistoryTransaction(append("op-append-1", [committed]));
      (committed as { role: string }).role = "system";
      await s.addItems([user("later")]);
      await s.applyHistoryTransaction(append("op-append-1", [user("committed")]));
      expect(await s.getItems()).toEqual([user("start"), user("committed"), user("later")]);
    });

    it("replaces an exact suffix once, and refuses one that no longer matches, recording nothing", async () => {
      const s = session();
      await s.addItems([user("prefix"), user("blocked")]);
      const replace = (operationId: string, expected: AgentInputItem[]) =>
        s.applyHistoryTransaction({
          operationId,
          transaction: { type: "replace_suffix", expectedSuffix: expected, replacement: [user("accepted")] },
        });
      await expect(replace("op-1", [user("something else")])).rejects.toThrow(ConflictError);
      await expect(replace("op-1", [user("something else")])).rejects.toThrow(
        "Session history suffix no longer matches the transaction precondition.",
      );
      expect(await s.getItems()).toEqual([user("prefix"), user("blocked")]);
      await replace("op-1", [user("blocked")]);
      await s.addItems([user("later")]);
      await replace("op-1", [user("blocked")]);
      expect(await s.getItems()).toEqual([user("prefix"), user("accepted"), user("later")]);
    });

    it("refuses an operation id used with another transaction; an empty append is recorded too", async () => {
      const s = session();
      await s.applyHistoryTransaction(append("op", [user("first")]));
      await expect(s.applyHistoryTransaction(append("op", [user("second")]))).rejects.toThrow(
        "Session history operation was already applied with a different transaction.",
      );
      await s.applyHistoryTransaction(append("empty", []));
      await expect(s.applyHistoryTransaction(append("empty", [user("x")]))).rejects.toThrow(ConflictError);
      expect(await s.getItems()).toEqual([user("first")]);
    });

    it("forgets applied transactions when the session is cleared", async () => {
      const s = session();
      await s.applyHistoryTransaction(append("op", [user("committed")]));
      await s.clearSession();
      await s.applyHistoryTransaction(append("op", [user("committed")]));
      expect(await s.getItems()).toEqual([user("committed")]);
    });

    it("refuses invalid transactions with the SDK's messages before changing anything", async () => {
      const s = session();
      await s.addItems([user("kept")]);
      const refused = async (args: unknown, message: string) => {
        const error = await s.applyHistoryTransaction(args as never).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as Error).message).toBe(message);
      };
      await refused(
        { operationId: "   ", transaction: { type: "append_items", items: [] } },
        "Session history transaction operationId must be a non-empty string.",
      );
      await refused(
        { operationId: "op", transaction: { type: "unknown" } },
        "Unsupported session history transaction type.",
      );
      await refused(
        { operationId: "op", transaction: null },
        "Session history transaction must be an object.",
      );
      await refused(
        append("op", [42 as never]),
        "Session history transaction items contain invalid or unsupported data.",
      );
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const providerData of [
        { at: new Date() },
        cyclic,
        { big: 1n },
        { sparse: new Array(1) },
        { s: Symbol("x") },
      ]) {
        await refused(
          append("op", [{ ...user("x"), providerData } as never]),
          "Session history transaction items contain invalid or unsupported data.",
        );
      }
      const hidden = user("hidden");
      Object.defineProperty(hidden, "providerData", { value: { a: 1 }, enumerable: false });
      await refused(
        append("op", [hidden]),
        "Session history transaction items contain invalid or unsupported data.",
      );
      await refused(
        { operationId: "op", transaction: { type: "append_items", items: [], metadata: 1 } },
        "Session history append transaction fields are invalid.",
      );
      await refused(
        {
          operationId: "op",
          transaction: { type: "replace_suffix", expectedSuffix: [], replacement: [], metadata: 1 },
        },
        "Session history suffix transaction fields are invalid.",
      );
      await refused(
        append("op", [{ ...user("x"), providerData: { words: new Uint16Array(2) } } as never]),
        "Session history transaction items contain invalid or unsupported data.",
      );
      await refused(
        append("op", new Proxy([user("x")], {}) as never),
        "Session history transaction items contain invalid or unsupported data.",
      );
      let reads = 0;
      await refused(
        {
          get operationId() {
            reads++;
            throw new Error("secret");
          },
        },
        "Session history transaction arguments are invalid.",
      );
      expect(reads).toBe(1);
      // Nothing was recorded: the same operation id is free.
      await s.applyHistoryTransaction(append("op", [user("valid")]));
      expect(await s.getItems()).toEqual([user("kept"), user("valid")]);
    });

    it("keeps bytes and null-prototype objects, and compares them on retry", async () => {
      const s = session();
      const shared = new Uint8Array(new SharedArrayBuffer(2));
      shared.set([3, 7]);
      const providerData = Object.assign(Object.create(null), { bytes: shared });
      await s.applyHistoryTransaction(append("op", [{ ...user("binary"), providerData } as never]));
      shared[0] = 9;
      await s.applyHistoryTransaction(
        append("op", [{ ...user("binary"), providerData: { bytes: new Uint8Array([3, 7]) } } as never]),
      );
      const [stored] = (await s.getItems()) as unknown as [{ providerData: { bytes: Uint8Array } }];
      expect(stored.providerData.bytes).toEqual(new Uint8Array([3, 7]));
      expect(await s.getItems()).toHaveLength(1);
    });
  });

  describe("what a durable session adds", () => {
    it("is one conversation across objects of the same id", async () => {
      const id = randomUUID();
      await session(id).addItems([user("from one object")]);
      await session(id).addItems([user("from another")]);
      expect(await session(id).getItems()).toEqual([user("from one object"), user("from another")]);
      expect(await session().getItems()).toEqual([]);
    });

    it("gives items back exactly: key order, NUL and every other character, nested values", async () => {
      const s = session();
      const item = {
        type: "function_call_result",
        name: "shell",
        callId: "c\u0000d",
        status: "completed",
        output: { type: "text", text: 'a\u0000b \ud800 \u{1F600} \\ "quoted"' },
        providerData: { z: 1, a: [1.5, null, true, { nested: "deep" }], m: -0 },
      };
      await s.addItems([item as AgentInputItem]);
      const [back] = await s.getItems();
      expect(JSON.stringify(back)).toBe(JSON.stringify(item));
      expect(Object.keys(back as object)).toEqual(Object.keys(item));
    });

    it("refuses what it cannot keep with a ValidationError, and writes nothing", async () => {
      const id = randomUUID();
      const s = session(id);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const items of [
        [user("ok"), 42],
        [user("ok"), null],
        [{ ...user("x"), providerData: { big: 1n } }],
        [{ ...user("x"), providerData: cyclic }],
        [{ ...user("x"), providerData: { at: new Date() } }],
        [{ ...user("x"), providerData: { n: Number.NaN } }],
        [{ ...user("x"), providerData: { text: "x".repeat(store.limits.jsonBytes) } }],
        "not an array",
      ]) {
        await expect(s.addItems(items as never)).rejects.toThrow(ValidationError);
      }
      await expect(s.getItems(1.5)).rejects.toThrow(ValidationError);
      expect(await rowsOf(store, id)).toEqual({ items: 0, operations: 0 });
      for (const sessionId of ["", "a\u0000b", "x".repeat(1025), 7]) {
        expect(() => new FlowstoreSession({ store, sessionId: sessionId as never })).toThrow(ValidationError);
      }
      expect(() => new FlowstoreSession({ store, sessionID: "x" } as never)).toThrow(ValidationError);
    });

    it("keeps each call's items together and every item once when calls run at once; pops never share an item", async () => {
      const id = randomUUID();
      const calls = Array.from({ length: 8 }, (_, c) =>
        Array.from({ length: 5 }, (_, i) => user(`${c}:${i}`)),
      );
      await Promise.all(calls.map((items) => session(id).addItems(items)));
      const texts = (await session(id).getItems()).map(
        (item) => (item as { content: { text: string }[] }).content[0]?.text as string,
      );
      expect(texts.slice().sort()).toEqual(
        calls
          .flat()
          .map((item) => (item as never as { content: { text: string }[] }).content[0]?.text)
          .sort(),
      );
      for (let start = 0; start < texts.length; start += 5) {
        const group = texts.slice(start, start + 5);
        const [c] = (group[0] as string).split(":");
        expect(group).toEqual([0, 1, 2, 3, 4].map((i) => `${c}:${i}`));
      }
      const popped = await Promise.all(Array.from({ length: 45 }, () => session(id).popItem()));
      const got = popped.filter((item) => item !== undefined).map((item) => JSON.stringify(item));
      expect(got).toHaveLength(40);
      expect(new Set(got).size).toBe(40);
      expect(await session(id).getItems()).toEqual([]);
    });

    it("replaces the history with a compaction and what it keeps", async () => {
      const s = session();
      await s.addItems([user("one"), user("two"), user("three")]);
      const compaction = { type: "compaction", encrypted_content: "summary" } as AgentInputItem;
      await s.replaceHistoryWithCompaction([compaction, user("three")]);
      expect(await s.getItems()).toEqual([compaction, user("three")]);
      await s.addItems([user("four")]);
      expect(await s.getItems(2)).toEqual([user("three"), user("four")]);
    });
  });

  describe("retention", () => {
    it("store.prune() removes sessions idle since its cut, whole, and keeps the others", async () => {
      const [idle, active] = [session(), session()];
      await idle.applyHistoryTransaction(append("op-1", [user("old")]));
      await active.addItems([user("recent")]);
      const idleId = await idle.getSessionId();
      await store.query(
        `update "${store.schema}".agent_sessions set updated_at = now() - interval '40 days' where id = $1`,
        [idleId],
      );
      const result = await store.prune({ finishedBefore: new Date(Date.now() - 30 * 86_400_000) });
      expect(result.agentSessions).toBeGreaterThanOrEqual(1);
      expect(await rowsOf(store, idleId)).toEqual({ items: 0, operations: 0 });
      const { rows } = await store.query(`select 1 from "${store.schema}".agent_sessions where id = $1`, [
        idleId,
      ]);
      expect(rows).toEqual([]);
      expect(await active.getItems()).toEqual([user("recent")]);
      // The session's id still works: it starts again, empty.
      await idle.addItems([user("new")]);
      expect(await idle.getItems()).toEqual([user("new")]);
    });

    // The embedded store has one connection: no write can be in progress beside the prune.
    it.runIf(d.name === "postgres")("keeps a session being written as the prune reaches it", async () => {
      const s = session();
      await s.addItems([user("one")]);
      const id = await s.getSessionId();
      await store.query(
        `update "${store.schema}".agent_sessions set updated_at = now() - interval '40 days' where id = $1`,
        [id],
      );
      // A write in progress holds the session's row: the prune passes it by.
      await store.transaction(async (tx) => {
        await tx.query(`select 1 from "${store.schema}".agent_sessions where id = $1 for update`, [id]);
        await store.prune({ finishedBefore: new Date() });
      });
      expect(await s.getItems()).toEqual([user("one")]);
    });
  });

  describe("an Agent's run", () => {
    it("pauses for a tool's approval, and resumes on the session opened again: the tool runs once", async () => {
      let deleted = 0;
      const deleteFile = tool({
        name: "delete_file",
        description: "Deletes a file",
        parameters: z.object({ path: z.string() }),
        needsApproval: true,
        execute: async ({ path }) => {
          deleted++;
          return `deleted ${path}`;
        },
      });
      const model = new ScriptedModel([
        [
          {
            type: "function_call",
            callId: "call_1",
            name: "delete_file",
            arguments: '{"path":"/tmp/x"}',
            status: "completed",
          },
        ],
        [
          {
            type: "message",
            role: "assistant",
            status: "completed",
            content: [{ type: "output_text", text: "Done." }],
          },
        ],
        [
          {
            type: "message",
            role: "assistant",
            status: "completed",
            content: [{ type: "output_text", text: "You asked to delete /tmp/x." }],
          },
        ],
      ]);
      const agent = new Agent({ name: "Ops", instructions: "Help.", model, tools: [deleteFile] });
      const id = randomUUID();

      const paused = await run(agent, "please delete /tmp/x", { session: session(id) });
      expect(paused.interruptions).toHaveLength(1);
      expect(deleted).toBe(0);
      const saved = paused.state.toString();

      // Later, with the session opened again.
      const state = await RunState.fromString(agent, saved);
      state.approve(state.getInterruptions()[0] as never);
      const done = await run(agent, state, { session: session(id) });
      expect(done.finalOutput).toBe("Done.");
      expect(deleted).toBe(1);
      const items = await session(id).getItems();
      expect(items.map((item) => (item as { type?: string }).type ?? "message")).toEqual([
        "message",
        "function_call",
        "function_call_result",
        "message",
      ]);

      // The conversation goes on: the model is given the whole history.
      const next = await run(agent, "what did I ask?", { session: session(id) });
      expect(next.finalOutput).toBe("You asked to delete /tmp/x.");
      const sent = model.requests.at(-1)?.input as AgentInputItem[];
      expect(sent.length).toBe(5);
      expect(await session(id).getItems()).toHaveLength(6);
    });
  });
});
