/**
 * What the tests of FlowstoreSession's big items share: items over the limit (text that does not
 * compress, a NUL inside, keys in no usual order), and what a store holds of a session and its blobs.
 */
import { randomBytes } from "node:crypto";
import type { AgentInputItem } from "@openai/agents";
import type { FlowstoreSession } from "../../../src/adapters/openai-agents/index.js";
import type { Store } from "../../../src/index.js";

export const OFFLOADED = "$flowstore:offloaded";

/** Text of about `bytes` characters that does not compress. */
const noise = (bytes: number) => randomBytes(Math.ceil(bytes * 0.75)).toString("base64");
export const user = (text: string): AgentInputItem => ({
  role: "user",
  content: [{ type: "input_text", text }],
});
/** A tool's output over the limit, its keys in no usual order and a NUL inside. */
export const bigResult = (callId: string, bytes = 20_000): AgentInputItem =>
  ({
    status: "completed",
    output: { text: `head\u0000${noise(bytes)}\u0000tail`, type: "text" },
    type: "function_call_result",
    providerData: { z: 1, a: [1.5, null, { y: "\u0000", b: true }] },
    callId,
    name: "fetch",
  }) as AgentInputItem;
export const bigCall = (callId: string, id: string): AgentInputItem => ({
  type: "function_call",
  id,
  callId,
  name: "write",
  status: "completed",
  arguments: JSON.stringify({ body: noise(10_000) }),
});

/** Exactly as given: the same JSON text, so the same keys in the same order and every character. */
export const exact = (items: readonly unknown[]) => items.map((item) => JSON.stringify(item));

/** Reads of what `current()` (the test's store) holds. */
export function storedOf(current: () => Store) {
  /** A session's rows as stored: the row's text and the blob it names (null when it is the item). */
  async function rowsOf(s: FlowstoreSession) {
    const store = current();
    const { rows } = await store.query<{ item: string }>(
      `select item from "${store.schema}".agent_session_items where session_id = $1 order by position`,
      [await s.getSessionId()],
    );
    return rows.map(({ item }) => {
      const stored = JSON.parse(item);
      return { item, blob_key: Object.hasOwn(stored, OFFLOADED) ? (stored[OFFLOADED].key as string) : null };
    });
  }

  /** The store's blobs and their chunks: every test here removes what it made. */
  async function blobs(): Promise<{ blobs: number; chunks: number }> {
    const store = current();
    const { rows } = await store.query<{ blobs: number; chunks: number }>(
      `select (select count(*)::int from "${store.schema}".blobs) as blobs,
            (select count(*)::int from "${store.schema}".blob_chunks) as chunks`,
    );
    return rows[0] as { blobs: number; chunks: number };
  }

  return { rowsOf, blobs };
}
