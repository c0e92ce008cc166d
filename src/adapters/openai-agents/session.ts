/**
 * FlowstoreSession: the OpenAI Agents SDK's `Session` on a flowstore store. Sessions of the same id, in
 * any process, are one conversation. Each core call is one statement: an append takes its positions
 * under the session row's lock, so the items of one call stay together and concurrent calls never
 * share a position; a pop deletes the newest item under its row lock, so two pops never return one item.
 * The optional capabilities (history mutations, history transactions, compaction replacement) run in a
 * transaction that holds the session row, so they see and change the history whole.
 *
 * With the store's `limits.offloadAbove`, an item over it is kept in the blob store and its row holds
 * a reference (offloaded-items.ts): an append or a pop that meets one runs in a transaction, so that
 * the blob and its row are written, or removed, together; every removal of items removes their blobs.
 */

import { randomUUID } from "node:crypto";
import type {
  AgentInputItem,
  SessionHistoryRewriteArgs,
  SessionHistoryRewriteAwareSession,
  SessionHistoryTransactionArgs,
  SessionHistoryTransactionAwareSession,
} from "@openai/agents-core";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { checkText } from "../../core/payload.js";
import { quoteIdentifier } from "../../db/sql.js";
import {
  ConflictError,
  type Store,
  type StoreScope,
  type Transaction,
  ValidationError,
} from "../../index.js";
import { referencedKey, referencedKeySql } from "../../offload/index.js";
import { decodeItem, encodeItems, structurallyEqual } from "./items.js";
import {
  deleteItemsSql,
  itemTexts,
  offloadTexts,
  overLimit,
  readHistory,
  readItemTexts,
  removedItemsSql,
  rewriteSql,
  type StoredItem,
} from "./offloaded-items.js";
import { checkTransactionArgs, isRecorded, MESSAGES, transactionRecord } from "./transactions.js";

export interface FlowstoreSessionOptions {
  /** The store the session is kept in (or a promise of one). */
  store: Store | Promise<Store>;
  /** The session's id: any text up to 1,024 bytes (UTF-8) without NUL; a random UUID by default. */
  sessionId?: string;
}

const OPTION_KEYS = optionKeys<FlowstoreSessionOptions>({ store: true, sessionId: true });

/** The core calls' statements are of fixed text (the schema aside): parsed and planned once a connection. */
const PREPARED = { prepare: true };

export class FlowstoreSession
  implements SessionHistoryRewriteAwareSession, SessionHistoryTransactionAwareSession
{
  private readonly sessionId: string;
  private readonly ready: Promise<Store>;

  constructor(options: FlowstoreSessionOptions) {
    if (!options || typeof options !== "object" || !options.store) {
      throw new ValidationError("FlowstoreSession needs { store }", { field: "store" });
    }
    refuseUnknownKeys(options, OPTION_KEYS);
    this.sessionId =
      options.sessionId === undefined ? randomUUID() : checkText(options.sessionId, "sessionId", 1024);
    this.ready = Promise.resolve(options.store);
    // Reported at the first call, not as an unhandled rejection.
    this.ready.catch(() => {});
  }

  async getSessionId(): Promise<string> {
    return this.sessionId;
  }

  /** All items in order; with `limit`, the newest `limit` of them, in order (none for 0 or less). */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit !== undefined && !Number.isInteger(limit)) {
      throw new ValidationError(`limit must be a whole number, not ${limit}`, { field: "limit" });
    }
    if (limit !== undefined && limit <= 0) return [];
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    const texts = await readItemTexts(store, async (db) => {
      const { rows } =
        limit === undefined
          ? await db.query<StoredItem>(
              `select item from ${q}.agent_session_items where session_id = $1 order by position`,
              [this.sessionId],
              PREPARED,
            )
          : await db.query<StoredItem>(newestItemsSql(q), [this.sessionId, limit], PREPARED);
      return rows;
    });
    return texts.map((text) => decodeItem<AgentInputItem>(text));
  }

  /** Appends `items` after every item added before, in one statement; nothing for none. */
  async addItems(items: AgentInputItem[]): Promise<void> {
    const store = await this.ready;
    const texts = encodeItems(items, "items", store.limits.jsonBytes);
    if (texts.length === 0) return;
    const q = quoteIdentifier(store.schema);
    const above = store.limits.offloadAbove;
    if (!overLimit(texts, above)) {
      await appendTexts(store, q, this.sessionId, texts);
      return;
    }
    // An item goes to the blob store: its blob and the row naming it commit together, in a transaction.
    await store.transaction(async (tx) =>
      appendTexts(tx, q, this.sessionId, await offloadTexts(tx, texts, above)),
    );
  }

  /** Removes the newest item and returns it; undefined when there is none. */
  async popItem(): Promise<AgentInputItem | undefined> {
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    const items = `${q}.agent_session_items`;
    // The newest row is locked before it is deleted: a pop that waited on another's sees it gone and
    // takes the next, so no two pops return one item. An offloaded newest item is left in place here
    // (its blob must be read before it goes) and popped by the transaction below.
    const { rows } = await store.query<{ item: string | null; offloaded: boolean | null }>(
      `with newest as (
         select position, (${referencedKeySql("item")}) is not null as offloaded from ${items}
          where session_id = $1 order by position desc limit 1 for update),
       gone as (
         delete from ${items} i using newest
          where i.session_id = $1 and i.position = newest.position and not newest.offloaded
         returning i.item)
       select (select item from gone) as item, (select offloaded from newest) as offloaded`,
      [this.sessionId],
      PREPARED,
    );
    const popped = rows[0];
    if (popped?.item != null) return decodeItem<AgentInputItem>(popped.item);
    if (!popped?.offloaded) return undefined;
    // The item, read from its blob under its row's lock, then its row and blob deleted together.
    return store.transaction(async (tx) => {
      const { rows: newest } = await tx.query<StoredItem & { position: string }>(
        `select position, item from ${items} where session_id = $1 order by position desc limit 1 for update`,
        [this.sessionId],
      );
      const row = newest[0];
      if (!row) return undefined;
      const [text] = await itemTexts(tx.blobs, [row]);
      await tx.query(deleteItemsSql(q), [this.sessionId, [row.position]]);
      return decodeItem<AgentInputItem>(text as string);
    });
  }

  /** Removes every item and the transactions recorded; the session keeps its id. */
  async clearSession(): Promise<void> {
    const store = await this.ready;
    const q = quoteIdentifier(store.schema);
    await store.query(
      `with session as (update ${q}.agent_sessions set updated_at = now() where id = $1 returning id),
            ${removedItemsSql(q, "items", "session_id = $1")},
            operations as (delete from ${q}.agent_session_operations where session_id = $1)
       select count(*) from session`,
      [this.sessionId],
    );
  }

  /** Replaces the whole history with `items` (a compaction and what it keeps), at once. */
  async replaceHistoryWithCompaction(items: AgentInputItem[]): Promise<void> {
    const store = await this.ready;
    const texts = encodeItems(items, "items", store.limits.jsonBytes);
    const q = quoteIdentifier(store.schema);
    await this.inSession(store, async (tx) => {
      await tx.query(`with ${removedItemsSql(q, "items", "session_id = $1")} select count(*) from items`, [
        this.sessionId,
      ]);
      if (texts.length > 0) {
        await appendTexts(tx, q, this.sessionId, await offloadTexts(tx, texts, store.limits.offloadAbove));
      }
    });
  }

  /**
   * Applies `mutations` in order. replace_function_call: the first function call of the call id is
   * replaced where it stands, and any later ones of that id removed.
   */
  async applyHistoryMutations(args: SessionHistoryRewriteArgs): Promise<void> {
    const mutations = args?.mutations;
    if (!Array.isArray(mutations))
      throw new ValidationError("mutations must be an array", { field: "mutations" });
    if (mutations.length === 0) return;
    const store = await this.ready;
    const replacements = mutations.map((mutation, index) => {
      if (mutation?.type !== "replace_function_call" || typeof mutation.callId !== "string") {
        throw new ValidationError(`mutations[${index}] is not a replace_function_call mutation`, {
          field: "mutations",
        });
      }
      const [text] = encodeItems(
        [mutation.replacement],
        `mutations[${index}].replacement`,
        store.limits.jsonBytes,
      );
      return { callId: mutation.callId, text: text as string };
    });
    const q = quoteIdentifier(store.schema);
    await this.inSession(store, async (tx) => {
      let history = (await readHistory(tx, q, this.sessionId)).map((entry) => ({ ...entry, changed: false }));
      const removed: string[] = [];
      // The blobs of items removed or replaced.
      const released: string[] = [];
      const release = (entry: { blobKey: string | null }) => {
        if (entry.blobKey !== null) released.push(entry.blobKey);
        entry.blobKey = null;
      };
      for (const { callId, text } of replacements) {
        let kept = false;
        history = history.filter((entry) => {
          const item = decodeItem<{ type?: unknown; callId?: unknown }>(entry.item);
          if (item.type !== "function_call" || item.callId !== callId) return true;
          release(entry);
          if (kept) {
            removed.push(entry.position);
            return false;
          }
          kept = true;
          entry.item = text;
          entry.changed = true;
          return true;
        });
      }
      const changed = history.filter((entry) => entry.changed);
      const written = await offloadTexts(
        tx,
        changed.map((entry) => entry.item),
        store.limits.offloadAbove,
      );
      await tx.query(rewriteSql(q), [
        this.sessionId,
        removed,
        changed.map((entry) => entry.position),
        written,
        released,
        written.map((text) => referencedKey(text) ?? null),
      ]);
    });
  }

  /**
   * Applies a history transaction once per operation id, with the change: a retry of the same one does
   * nothing, another under the same id is refused (ConflictError), and so is a replace_suffix whose
   * expected suffix is not the history's; a refusal changes nothing and records nothing.
   */
  async applyHistoryTransaction(args: SessionHistoryTransactionArgs): Promise<void> {
    const { operationId, transaction } = checkTransactionArgs(args);
    const store = await this.ready;
    const field = "transaction";
    const recorded = transactionRecord(transaction, store.limits.offloadAbove);
    const replacement = encodeItems(
      transaction.type === "append_items" ? transaction.items : transaction.replacement,
      field,
      store.limits.jsonBytes,
    );
    const q = quoteIdentifier(store.schema);
    await this.inSession(store, async (tx) => {
      const { rows: applied } = await tx.query<{ transaction: string }>(
        `select transaction from ${q}.agent_session_operations where session_id = $1 and operation_id = $2`,
        [this.sessionId, operationId],
      );
      if (applied[0]) {
        if (isRecorded(applied[0].transaction, transaction)) return;
        throw new ConflictError(MESSAGES.reused);
      }
      if (transaction.type === "replace_suffix") {
        const expected = transaction.expectedSuffix;
        // Locked, so that a pop waits rather than take a row (and its blob) this may replace.
        const { rows } = await tx.query<StoredItem & { position: string }>(
          `select position, item from ${q}.agent_session_items where session_id = $1
            order by position desc limit $2 for update`,
          [this.sessionId, expected.length],
        );
        const suffix = rows.reverse();
        // An offloaded item is compared by its content, read from its blob, never by its reference.
        const texts = suffix.length === expected.length ? await itemTexts(tx.blobs, suffix) : [];
        const matches =
          suffix.length === expected.length &&
          texts.every((text, index) => structurallyEqual(decodeItem(text), expected[index]));
        if (!matches) throw new ConflictError(MESSAGES.mismatch);
        await tx.query(deleteItemsSql(q), [this.sessionId, suffix.map((row) => row.position)]);
      }
      if (replacement.length > 0) {
        const texts = await offloadTexts(tx, replacement, store.limits.offloadAbove);
        await appendTexts(tx, q, this.sessionId, texts);
      }
      await tx.query(
        `insert into ${q}.agent_session_operations (session_id, operation_id, transaction) values ($1, $2, $3)`,
        [this.sessionId, operationId, recorded],
      );
    });
  }

  /** Runs `fn` in a transaction holding the session's row (made if the session has none yet). */
  private inSession(store: Store, fn: (tx: Transaction) => Promise<void>): Promise<void> {
    return store.transaction(async (tx) => {
      await tx.query(
        `insert into ${quoteIdentifier(store.schema)}.agent_sessions as s (id) values ($1)
         on conflict (id) do update set updated_at = now()`,
        [this.sessionId],
      );
      await fn(tx);
    });
  }
}

/**
 * Appends item texts (an item's JSON, or a reference to its blob) at the session's next positions, in
 * one statement: the session's row is made or locked and moved on by their number, so concurrent
 * appends take positions one after the other.
 */
async function appendTexts(
  db: Pick<StoreScope, "query">,
  q: string,
  sessionId: string,
  texts: string[],
): Promise<void> {
  await db.query(appendSql(q), [sessionId, texts.length, texts], PREPARED);
}

/** The append's statement ($1 the session, $2 the number of items, $3 their JSON texts). */
export function appendSql(q: string): string {
  return `with session as (
       insert into ${q}.agent_sessions as s (id, next_position) values ($1, $2::bigint)
       on conflict (id) do update set next_position = s.next_position + $2::bigint, updated_at = now()
       returning s.next_position - $2::bigint as first)
     insert into ${q}.agent_session_items (session_id, position, item)
     select $1, session.first + added.n - 1, added.item
       from session, unnest($3::text[]) with ordinality as added(item, n)`;
}

/** The read of a session's newest items, in order ($1 the session, $2 how many). */
export function newestItemsSql(q: string): string {
  return `select item from (select item, position from ${q}.agent_session_items where session_id = $1
           order by position desc limit $2) newest order by position`;
}
