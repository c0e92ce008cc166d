/**
 * Mastra's memory domain (MemoryStorage) on flowstore's tables (migration 0029): threads, their
 * messages and resources; its observational memory is observational-memory.ts's. A message's
 * content is kept as the JSON it was given; every write is one statement or one transaction, so a
 * batch of messages is saved whole or not at all.
 */

import type { MastraDBMessage } from "@mastra/core/agent";
import type { StorageThreadType } from "@mastra/core/memory";
import type {
  PruneOptions,
  PruneResult,
  StorageCloneThreadInput,
  StorageCopyThreadOutput,
  StorageListMessagesByResourceIdInput,
  StorageListMessagesInput,
  StorageListMessagesOutput,
  StorageListThreadsInput,
  StorageListThreadsOutput,
  StorageResourceType,
  TableRetentionPolicy,
} from "@mastra/core/storage";
import { ConflictError, NotFoundError, ValidationError } from "../../../core/errors.js";
import { PROBE } from "../../../core/planned-few.js";
import { MEMORY_RETENTION, pruneDomain } from "../retention.js";
import { copyThread } from "./memory-copy.js";
import { listMessagesById, listMessagesOf, updateMessages } from "./memory-messages.js";
import {
  checkDate,
  checkId,
  checkTitle,
  messageColumns,
  metadataJson,
  PREPARED,
  RESOURCE_COLUMNS,
  type ResourceRow,
  THREAD_COLUMNS,
  type ThreadRow,
  toResource,
  toThread,
} from "./memory-rows.js";
import { changeThread, type ThreadChange, updateThreadMetadata } from "./memory-thread-updates.js";
import { ObservationalMemoryStorage } from "./observational-memory.js";

export class FlowstoreMastraMemory extends ObservationalMemoryStorage {
  override readonly supportsPartialThreadUpdate = true;

  override async init(): Promise<void> {
    await this.tables.store();
  }

  /** Mastra's retention: messages by age, resources and threads (with their messages) by last activity. */
  static override readonly retentionTables = MEMORY_RETENTION;

  override async prune(
    policies: Record<string, TableRetentionPolicy>,
    options?: PruneOptions,
  ): Promise<PruneResult[]> {
    const sql = await this.tables.sql();
    return pruneDomain(
      sql,
      "memory",
      MEMORY_RETENTION,
      ["messages", "resources", "threads"],
      policies,
      options,
    );
  }

  async dangerouslyClearAll(): Promise<void> {
    const { db, q } = await this.tables.sql();
    await db.query(
      `with m as (delete from ${q}.mastra_messages), t as (delete from ${q}.mastra_threads),
         o as (delete from ${q}.mastra_observational_memory)
       delete from ${q}.mastra_resources`,
    );
  }

  async getThreadById(args: { threadId: string; resourceId?: string }): Promise<StorageThreadType | null> {
    const { db, q } = await this.tables.sql();
    // An empty resourceId is a filter too, which no thread matches.
    if (args.resourceId === "") return null;
    const resourceId = args.resourceId === undefined ? null : checkId(args.resourceId, "resourceId");
    const { rows } = await db.query<ThreadRow>(
      `select ${THREAD_COLUMNS} from ${q}.mastra_threads where id = $1 and ($2::text is null or resource_id = $2)`,
      [checkId(args.threadId, "threadId"), resourceId],
      PREPARED,
    );
    return rows[0] ? toThread(rows[0]) : null;
  }

  /** Writes the thread whole, as given (an existing thread of that id is replaced). */
  async saveThread({ thread }: { thread: StorageThreadType }): Promise<StorageThreadType> {
    const { db, q, limits } = await this.tables.sql();
    const title =
      thread.title === undefined || thread.title === null ? null : checkTitle(thread.title, "title");
    await db.query(
      `insert into ${q}.mastra_threads as t (id, resource_id, title, metadata, created_at, updated_at)
       values ($1, $2, $3, $4::jsonb, $5, $6)
       on conflict (id) do update set resource_id = excluded.resource_id, title = excluded.title,
         metadata = excluded.metadata, created_at = excluded.created_at, updated_at = excluded.updated_at`,
      [
        checkId(thread.id, "thread.id"),
        checkId(thread.resourceId, "thread.resourceId"),
        title,
        metadataJson(thread.metadata, "thread.metadata", limits),
        checkDate(thread.createdAt, "thread.createdAt"),
        checkDate(thread.updatedAt, "thread.updatedAt"),
      ],
      PREPARED,
    );
    return { ...thread, ...(thread.metadata ? { metadata: structuredClone(thread.metadata) } : {}) };
  }

  /** Changes what is given: the title, and the metadata's top-level keys (merged into what it has). */
  async updateThread(args: ThreadChange): Promise<StorageThreadType> {
    const sql = await this.tables.sql();
    return changeThread(sql, sql.db, args);
  }

  /** Reads, changes and writes the thread's metadata under its row's lock (across processes too). */
  override async updateThreadMetadata(args: {
    id: string;
    resourceId?: string;
    update: (thread: StorageThreadType) => Record<string, unknown> | undefined;
  }): Promise<StorageThreadType | null> {
    return updateThreadMetadata(await this.tables.sql(), args);
  }

  /** The thread, its messages and its observational memory. */
  async deleteThread({ threadId }: { threadId: string }): Promise<void> {
    const { db, q } = await this.tables.sql();
    await db.query(
      `with m as (delete from ${q}.mastra_messages where thread_id = $1),
         o as (delete from ${q}.mastra_observational_memory where lookup_key = 'thread:' || $1)
       delete from ${q}.mastra_threads where id = $1`,
      [checkId(threadId, "threadId")],
    );
  }

  async listThreads(args: StorageListThreadsInput = {}): Promise<StorageListThreadsOutput> {
    const { reads, q } = await this.tables.sql();
    const page = args.page ?? 0;
    const perPageInput = args.perPage ?? 100;
    this.validatePaginationInput(page, perPageInput);
    this.validateMetadataKeys(args.filter?.metadata);
    const { field, direction } = this.parseOrderBy(args.orderBy, "DESC");
    const params: unknown[] = [];
    const conditions: string[] = [];
    if (args.filter?.resourceId) conditions.push(`resource_id = $${params.push(args.filter.resourceId)}`);
    if (args.filter?.metadata && Object.keys(args.filter.metadata).length > 0) {
      conditions.push(`metadata @> $${params.push(JSON.stringify(args.filter.metadata))}::jsonb`);
    }
    const where = conditions.length ? `where ${conditions.join(" and ")}` : "";
    const column = field === "updatedAt" ? "updated_at" : "created_at";
    const dir = direction === "ASC" ? "asc" : "desc";
    const perPage = perPageInput === false ? null : perPageInput;
    const offset = perPage === null ? 0 : page * perPage;
    const pageSql = perPage === null ? "" : ` limit ${perPage} offset ${offset}`;
    const [counted, listed] = await Promise.all([
      reads.query<{ total: number }>(
        `select count(*)::int as total from ${q}.mastra_threads ${where}`,
        params,
      ),
      reads.query<ThreadRow>(
        `select ${THREAD_COLUMNS} from ${q}.mastra_threads ${where}
          order by ${column} ${dir}, id ${dir}${pageSql}`,
        params,
      ),
    ]);
    const total = counted.rows[0]?.total ?? 0;
    return {
      threads: listed.rows.map(toThread),
      total,
      page,
      perPage: perPageInput,
      hasMore: perPage === null ? false : offset + perPage < total,
    };
  }

  /**
   * Moves the thread, all its messages and its observational memory to another resource; the thread's
   * createdAt is kept.
   */
  override async updateThreadResourceId(args: {
    threadId: string;
    resourceId: string;
  }): Promise<StorageThreadType> {
    const { db, q } = await this.tables.sql();
    const threadId = checkId(args.threadId, "threadId");
    const resourceId = checkId(args.resourceId, "resourceId");
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<ThreadRow>(
        `select ${THREAD_COLUMNS} from ${q}.mastra_threads where id = $1 for update`,
        [threadId],
      );
      const thread = rows[0];
      if (!thread) throw new NotFoundError(`Thread "${threadId}" not found`);
      if (thread.resourceId === resourceId) return toThread(thread);
      const moved = await tx.query<ThreadRow>(
        `update ${q}.mastra_threads set resource_id = $2, updated_at = now() where id = $1
         returning ${THREAD_COLUMNS}`,
        [threadId, resourceId],
      );
      await tx.query(
        `with o as (update ${q}.mastra_observational_memory set resource_id = $2 where lookup_key = 'thread:' || $1)
         update ${q}.mastra_messages set resource_id = $2 where thread_id = $1`,
        [threadId, resourceId],
      );
      return toThread(moved.rows[0] as ThreadRow);
    });
  }

  /**
   * A new thread with copies of the source's messages (new ids), copied inside the database: the
   * messages never come to this process. Options choose the messages: a date range, ids, the last N.
   */
  override async copyThread(args: StorageCloneThreadInput): Promise<StorageCopyThreadOutput> {
    return copyThread(await this.tables.sql(), args);
  }

  async listMessages(args: StorageListMessagesInput): Promise<StorageListMessagesOutput> {
    const threadIds = [args?.threadId].flat().filter((id) => typeof id === "string");
    if (threadIds.length === 0 || threadIds.some((id) => id.trim() === "")) {
      throw new ValidationError("threadId must be a non-empty string or array of non-empty strings", {
        field: "threadId",
      });
    }
    for (const id of threadIds) checkId(id, "threadId");
    return listMessagesOf(await this.tables.sql(), { ...args, threadIds });
  }

  override async listMessagesByResourceId(
    args: StorageListMessagesByResourceIdInput,
  ): Promise<StorageListMessagesOutput> {
    if (typeof args?.resourceId !== "string" || args.resourceId.trim() === "") {
      throw new ValidationError("resourceId is required", { field: "resourceId" });
    }
    checkId(args.resourceId, "resourceId");
    return listMessagesOf(await this.tables.sql(), args);
  }

  async listMessagesById({ messageIds }: { messageIds: string[] }): Promise<{ messages: MastraDBMessage[] }> {
    return { messages: await listMessagesById(await this.tables.sql(), messageIds) };
  }

  /**
   * Saves (or replaces, by id) the messages, all or none, and marks their threads updated. A message
   * saved again keeps its first createdAt; one saved under another thread moves there.
   */
  async saveMessages({
    messages,
  }: {
    messages: MastraDBMessage[];
  }): Promise<{ messages: MastraDBMessage[] }> {
    if (!Array.isArray(messages))
      throw new ValidationError("messages must be an array", { field: "messages" });
    if (messages.length === 0) return { messages: [] };
    const { db, q, limits } = await this.tables.sql();
    // The last of a batch's messages with one id wins, with the createdAt of the first.
    const byId = new Map<string, ReturnType<typeof messageColumns>>();
    messages.forEach((message, i) => {
      const row = messageColumns(message, i, limits);
      const first = byId.get(row.id);
      byId.set(row.id, first ? { ...row, createdAt: first.createdAt } : row);
    });
    const rows = [...byId.values()];
    const { rows: missing } = await db.query<{ threadId: string }>(
      `with input as (
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
           $8::timestamptz[]) as m(id, thread_id, resource_id, role, type, content, metadata, created_at)),
       missing as (
         select distinct i.thread_id from input i
          where not exists (select 1 from ${q}.mastra_threads t where t.id = i.thread_id ${PROBE})),
       saved as (
         insert into ${q}.mastra_messages as m (id, thread_id, resource_id, role, type, content, metadata, created_at)
         select * from input where not exists (select 1 from missing)
         on conflict (id) do update set thread_id = excluded.thread_id, resource_id = excluded.resource_id,
           role = excluded.role, type = excluded.type, content = excluded.content, metadata = excluded.metadata
         returning m.thread_id),
       touched as (
         update ${q}.mastra_threads t set updated_at = now()
          where t.id = any(array(select distinct thread_id from input)) and not exists (select 1 from missing))
       select thread_id as "threadId" from missing`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.threadId),
        rows.map((r) => r.resourceId),
        rows.map((r) => r.role),
        rows.map((r) => r.type),
        rows.map((r) => r.content),
        rows.map((r) => r.metadata),
        rows.map((r) => r.createdAt),
      ],
      PREPARED,
    );
    if (missing[0]) throw new NotFoundError(`Thread ${missing[0].threadId} not found; no message was saved`);
    return { messages };
  }

  async updateMessages(args: {
    messages: (Partial<Omit<MastraDBMessage, "createdAt">> & { id: string })[];
  }): Promise<MastraDBMessage[]> {
    return updateMessages(await this.tables.sql(), args.messages);
  }

  /** Deletes these messages (ids not found are ignored) and marks their threads updated. */
  override async deleteMessages(messageIds: string[]): Promise<void> {
    if (!messageIds?.length) return;
    const { db, q } = await this.tables.sql();
    await db.query(
      `with gone as (delete from ${q}.mastra_messages where id = any($1::text[]) returning thread_id)
       update ${q}.mastra_threads set updated_at = now() where id in (select thread_id from gone)`,
      [messageIds.map((id) => checkId(id, "messageIds"))],
    );
  }

  override async getResourceById({
    resourceId,
  }: {
    resourceId: string;
  }): Promise<StorageResourceType | null> {
    const { db, q } = await this.tables.sql();
    const { rows } = await db.query<ResourceRow>(
      `select ${RESOURCE_COLUMNS} from ${q}.mastra_resources where id = $1`,
      [checkId(resourceId, "resourceId")],
    );
    return rows[0] ? toResource(rows[0]) : null;
  }

  /** A new resource; one of that id already stored is a ConflictError. */
  override async saveResource({ resource }: { resource: StorageResourceType }): Promise<StorageResourceType> {
    const { db, q, limits } = await this.tables.sql();
    const id = checkId(resource.id, "resource.id");
    const made = await db.query(
      `insert into ${q}.mastra_resources (id, working_memory, metadata, created_at, updated_at)
       values ($1, $2, $3::jsonb, $4, $5) on conflict (id) do nothing`,
      [
        id,
        resource.workingMemory ?? null,
        metadataJson(resource.metadata, "resource.metadata", limits),
        checkDate(resource.createdAt, "resource.createdAt"),
        checkDate(resource.updatedAt, "resource.updatedAt"),
      ],
    );
    if (made.rowCount === 0) throw new ConflictError(`resource ${id} already exists; nothing was written`);
    return { ...resource, ...(resource.metadata ? { metadata: structuredClone(resource.metadata) } : {}) };
  }

  /**
   * Sets the working memory (when given) and merges the metadata's top-level keys (when given); a
   * resource not stored yet is made.
   */
  override async updateResource(args: {
    resourceId: string;
    workingMemory?: string;
    metadata?: Record<string, unknown>;
  }): Promise<StorageResourceType> {
    const { db, q, limits } = await this.tables.sql();
    const metadata = metadataJson(args.metadata, "metadata", limits);
    if (args.workingMemory !== undefined && typeof args.workingMemory !== "string") {
      throw new ValidationError("workingMemory must be a string", { field: "workingMemory" });
    }
    const { rows } = await db.query<ResourceRow>(
      `insert into ${q}.mastra_resources as r (id, working_memory, metadata, created_at, updated_at)
       values ($1, $2, coalesce($4::jsonb, '{}'), now(), now())
       on conflict (id) do update set
         working_memory = case when $3 then excluded.working_memory else r.working_memory end,
         metadata = case when $4::jsonb is null then r.metadata else coalesce(r.metadata, '{}') || $4::jsonb end,
         updated_at = excluded.updated_at
       returning ${RESOURCE_COLUMNS}`,
      [
        checkId(args.resourceId, "resourceId"),
        args.workingMemory ?? null,
        args.workingMemory !== undefined,
        metadata,
      ],
    );
    return toResource(rows[0] as ResourceRow);
  }
}
