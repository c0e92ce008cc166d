/**
 * Reading and changing Mastra's messages: a page of a thread's (or a resource's) messages with the
 * context around messages asked for by id, as @mastra/pg and Mastra's in-memory store give them.
 */

import { type MastraDBMessage, MessageList } from "@mastra/core/agent";
import {
  normalizePerPage,
  type StorageListMessagesByResourceIdInput,
  type StorageListMessagesInput,
  type StorageListMessagesOutput,
  validateStorageMetadataFilter,
} from "@mastra/core/storage";
import { ValidationError } from "../../../core/errors.js";
import type { MastraSql } from "../tables.js";
import {
  checkDate,
  checkId,
  MESSAGE_COLUMNS,
  type MessageRow,
  messageColumnsOf,
  PREPARED,
  toMessage,
} from "./memory-rows.js";

type ListInput =
  | (Omit<StorageListMessagesInput, "threadId"> & { threadIds: string[] })
  | StorageListMessagesByResourceIdInput;

const DEFAULT_PER_PAGE = 40;

/** A page of messages of threads (or of a resource), with those `include` asks for around it. */
export async function listMessagesOf(sql: MastraSql, args: ListInput): Promise<StorageListMessagesOutput> {
  const { reads, q } = sql;
  const page = args.page ?? 0;
  if (!Number.isSafeInteger(page) || page < 0) {
    throw new ValidationError("Page number must be non-negative", { field: "page" });
  }
  const perPageInput = args.perPage === undefined ? DEFAULT_PER_PAGE : args.perPage;
  const perPage = normalizePerPage(perPageInput, DEFAULT_PER_PAGE);
  const direction = args.orderBy?.direction === "DESC" ? "desc" : "asc";
  const byThreads = "threadIds" in args;
  const resourceId = args.resourceId || null;
  const include = (args.include ?? []).map((item, i) => ({
    id: checkId(item.id, `include[${i}].id`),
    prev: count(item.withPreviousMessages, `include[${i}].withPreviousMessages`),
    next: count(item.withNextMessages, `include[${i}].withNextMessages`),
  }));
  const ordered = (messages: MastraDBMessage[]) => sortMessages(messages, direction);
  if (perPage === 0) {
    const included = include.length ? await includedMessages(sql, include, resourceId) : [];
    return { messages: ordered(asMastra(included)), total: 0, page, perPage: 0, hasMore: false };
  }

  const params: unknown[] = [];
  const add = (value: unknown) => `$${params.push(value)}`;
  const conditions = byThreads
    ? [
        // One thread (the usual read) as an equality, so the plan walks its index in order.
        args.threadIds.length === 1
          ? `thread_id = ${add(args.threadIds[0])}`
          : `thread_id = any(${add(args.threadIds)}::text[])`,
        ...(resourceId ? [`resource_id = ${add(resourceId)}`] : []),
      ]
    : [`resource_id = ${add(resourceId)}`];
  const range = args.filter?.dateRange;
  if (range?.start) {
    conditions.push(
      `created_at ${range.startExclusive ? ">" : ">="} ${add(checkDate(range.start, "start"))}`,
    );
  }
  if (range?.end)
    conditions.push(`created_at ${range.endExclusive ? "<" : "<="} ${add(checkDate(range.end, "end"))}`);
  const metadata = args.filter?.metadata;
  if (metadata) {
    validateStorageMetadataFilter(metadata);
    for (const [key, value] of Object.entries(metadata)) {
      conditions.push(`metadata -> ${add(key)}::text = ${add(JSON.stringify(value))}::jsonb`);
    }
  }
  const where = conditions.join(" and ");
  const all = perPageInput === false;
  const offset = all ? 0 : page * perPage;
  const peek = args.includeTotal === false && !all;
  const pageParams = all ? params : [...params, peek ? perPage + 1 : perPage, offset];
  const limit = all ? "" : ` limit $${params.length + 1} offset $${params.length + 2}`;
  // The text varies only with which filters are given, never with their values: each is prepared.
  const [listed, counted] = await Promise.all([
    reads.query<MessageRow>(
      `select ${MESSAGE_COLUMNS} from ${q}.mastra_messages where ${where}
        order by created_at ${direction}, id ${direction}${limit}`,
      pageParams,
      PREPARED,
    ),
    args.includeTotal === false
      ? undefined
      : reads.query<{ total: number }>(
          `select count(*)::int as total from ${q}.mastra_messages where ${where}`,
          params,
          PREPARED,
        ),
  ]);
  const peeked = peek ? listed.rows.length > perPage : undefined;
  const rows = peek ? listed.rows.slice(0, perPage) : listed.rows;
  const total = counted ? (counted.rows[0]?.total ?? 0) : offset + rows.length;
  const onPage = new Set(rows.map((row) => row.id));
  const included = include.length
    ? (await includedMessages(sql, include, resourceId)).filter((row) => !onPage.has(row.id))
    : [];
  const messages = ordered(asMastra([...rows, ...included]));
  let hasMore: boolean;
  if (peeked !== undefined) hasMore = peeked;
  else if (all) hasMore = false;
  else if (byThreads) {
    // Once what was included brought every message of the threads, there is nothing more to page to.
    const threads = new Set(args.threadIds);
    const ofThreads = messages.filter((m) => m.threadId && threads.has(m.threadId)).length;
    hasMore = ofThreads < total && offset + perPage < total;
  } else hasMore = offset + perPage < total;
  return { messages, total, page, perPage: perPageInput, hasMore };
}

function count(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new ValidationError(`${field} must be a whole number, 0 or more`, { field });
  }
  return value as number;
}

/**
 * Each message asked for by id (of the resource, when one is given), with up to `prev` messages before
 * it and `next` after it in its own thread (and of that resource), in one statement.
 */
async function includedMessages(
  { reads, q }: MastraSql,
  include: readonly { id: string; prev: number; next: number }[],
  resourceId: string | null,
): Promise<MessageRow[]> {
  const ofResource = (alias: string) => `($4::text is null or ${alias}.resource_id = $4)`;
  const { rows } = await reads.query<MessageRow>(
    `select distinct on (m.id) ${messageColumnsOf("m")}
       from unnest($1::text[], $2::int[], $3::int[]) as i(id, prev, next)
       join ${q}.mastra_messages t on t.id = i.id and ${ofResource("t")}
       cross join lateral (
         select * from ${q}.mastra_messages x where x.id = t.id
         union all
         (select * from ${q}.mastra_messages p
           where p.thread_id = t.thread_id and (p.created_at, p.id) < (t.created_at, t.id) and ${ofResource("p")}
           order by p.created_at desc, p.id desc limit i.prev)
         union all
         (select * from ${q}.mastra_messages n
           where n.thread_id = t.thread_id and (n.created_at, n.id) > (t.created_at, t.id) and ${ofResource("n")}
           order by n.created_at, n.id limit i.next)
       ) m
      order by m.id`,
    [include.map((i) => i.id), include.map((i) => i.prev), include.map((i) => i.next), resourceId],
  );
  return rows;
}

/** Rows as Mastra's messages, through Mastra's own MessageList as its stores return them. */
function asMastra(rows: readonly MessageRow[]): MastraDBMessage[] {
  return new MessageList().add(rows.map(toMessage), "memory").get.all.db();
}

/** By createdAt, then id, in the direction asked. */
function sortMessages(messages: MastraDBMessage[], direction: "asc" | "desc"): MastraDBMessage[] {
  const sign = direction === "asc" ? 1 : -1;
  return messages.sort((a, b) => {
    const byTime = new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime();
    if (byTime !== 0) return sign * byTime;
    return sign * (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  });
}

/** Messages by id, oldest first; ids not found are left out. */
export async function listMessagesById(
  { reads, q }: MastraSql,
  messageIds: readonly string[],
): Promise<MastraDBMessage[]> {
  if (!Array.isArray(messageIds) || messageIds.length === 0) return [];
  const { rows } = await reads.query<MessageRow>(
    `select ${MESSAGE_COLUMNS} from ${q}.mastra_messages where id = any($1::text[])`,
    [messageIds.map((id) => checkId(id, "messageIds"))],
  );
  return sortMessages(asMastra(rows), "asc");
}

type MessageUpdate = Partial<Omit<MastraDBMessage, "createdAt">> & { id: string };

/**
 * Changes messages by id, in one transaction: the content's fields given replace those stored (its
 * metadata merged key by key), a threadId moves the message; the threads touched are marked updated.
 * Ids not found are ignored. Returns the messages changed, as stored now.
 */
export async function updateMessages(
  { db, q }: MastraSql,
  updates: readonly MessageUpdate[],
): Promise<MastraDBMessage[]> {
  if (!Array.isArray(updates) || updates.length === 0) return [];
  const ids = updates.map((update, i) => checkId(update?.id, `messages[${i}].id`));
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<MessageRow>(
      `select ${MESSAGE_COLUMNS} from ${q}.mastra_messages where id = any($1::text[]) order by id for update`,
      [ids],
    );
    const stored = new Map(rows.map((row) => [row.id, row]));
    const changed = new Map<string, MessageRow & { metadata: string | null }>();
    const threads = new Set<string>();
    for (const update of updates) {
      const row = changed.get(update.id) ?? stored.get(update.id);
      if (!row || Object.keys(update).every((key) => key === "id")) continue;
      const message = toMessage(row);
      const content = { ...(message.content as object) } as Record<string, unknown>;
      if (update.content) {
        const given = update.content as Record<string, unknown>;
        const merged = { ...content, ...given };
        if (isObject(content.metadata) && isObject(given.metadata)) {
          merged.metadata = { ...content.metadata, ...given.metadata };
        }
        Object.assign(content, merged);
      }
      threads.add(row.threadId);
      const threadId = update.threadId === undefined ? row.threadId : checkId(update.threadId, "threadId");
      threads.add(threadId);
      const text = JSON.stringify(content);
      changed.set(update.id, {
        ...row,
        threadId,
        resourceId:
          update.resourceId === undefined ? row.resourceId : checkId(update.resourceId, "resourceId"),
        role: update.role ?? row.role,
        type: update.type ?? row.type,
        content: text,
        metadata: isObject(content.metadata) ? JSON.stringify(content.metadata) : null,
      });
    }
    if (changed.size === 0) return [];
    const list = [...changed.values()];
    const { rows: written } = await tx.query<MessageRow>(
      `update ${q}.mastra_messages m set thread_id = u.thread_id, resource_id = u.resource_id, role = u.role,
         type = u.type, content = u.content, metadata = u.metadata
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[])
           as u(id, thread_id, resource_id, role, type, content, metadata)
        where m.id = u.id
       returning ${messageColumnsOf("m")}`,
      [
        list.map((r) => r.id),
        list.map((r) => r.threadId),
        list.map((r) => r.resourceId),
        list.map((r) => r.role),
        list.map((r) => r.type),
        list.map((r) => r.content),
        list.map((r) => r.metadata),
      ],
    );
    await tx.query(`update ${q}.mastra_threads set updated_at = now() where id = any($1::text[])`, [
      [...threads],
    ]);
    return written.map(toMessage);
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
