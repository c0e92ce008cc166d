/** Copying a thread with its messages, inside the database. */

import type { StorageThreadType } from "@mastra/core/memory";
import type { StorageCloneThreadInput, StorageCopyThreadOutput } from "@mastra/core/storage";
import { ConflictError, NotFoundError, ValidationError } from "../../../core/errors.js";
import type { MastraSql } from "../tables.js";
import { checkDate, checkId, metadataJson, THREAD_COLUMNS, type ThreadRow } from "./memory-rows.js";

/**
 * A new thread with copies of the source's messages (new ids), in one transaction: the messages are
 * copied by one statement and never come to this process. The options choose the messages: a date
 * range, ids, the last N. The new thread's metadata says what it was cloned from.
 */
export async function copyThread(
  { db, q, limits }: MastraSql,
  args: StorageCloneThreadInput,
): Promise<StorageCopyThreadOutput> {
  const sourceId = checkId(args.sourceThreadId, "sourceThreadId");
  const newId =
    args.newThreadId === undefined ? crypto.randomUUID() : checkId(args.newThreadId, "newThreadId");
  const filter = args.options?.messageFilter;
  const limit = args.options?.messageLimit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new ValidationError("options.messageLimit must be a whole number, 0 or more", {
      field: "messageLimit",
    });
  }
  return db.transaction(async (tx) => {
    const source = (
      await tx.query<ThreadRow>(`select ${THREAD_COLUMNS} from ${q}.mastra_threads where id = $1`, [sourceId])
    ).rows[0];
    if (!source) throw new NotFoundError(`Source thread with id ${sourceId} not found`);
    const params: unknown[] = [sourceId];
    const conditions = ["thread_id = $1"];
    if (filter?.startDate)
      conditions.push(`created_at >= $${params.push(checkDate(filter.startDate, "startDate"))}`);
    if (filter?.endDate)
      conditions.push(`created_at <= $${params.push(checkDate(filter.endDate, "endDate"))}`);
    if (filter?.messageIds?.length) conditions.push(`id = any($${params.push(filter.messageIds)}::text[])`);
    const last = limit ? ` order by created_at desc, id desc limit ${limit}` : "";
    const { rows: chosen } = await tx.query<{ id: string }>(
      `select id from (select id, created_at from ${q}.mastra_messages where ${conditions.join(" and ")}${last}) m
        order by created_at, id`,
      params,
    );
    const now = new Date();
    const lastMessageId = chosen.at(-1)?.id;
    const thread: StorageThreadType = {
      id: newId,
      resourceId: args.resourceId ?? source.resourceId,
      title: args.title ?? (source.title ? `Clone of ${source.title}` : ""),
      metadata: {
        ...args.metadata,
        clone: { sourceThreadId: sourceId, clonedAt: now, ...(lastMessageId ? { lastMessageId } : {}) },
      },
      createdAt: now,
      updatedAt: now,
    };
    const made = await tx.query(
      `insert into ${q}.mastra_threads (id, resource_id, title, metadata, created_at, updated_at)
       values ($1, $2, $3, $4::jsonb, $5, $5) on conflict (id) do nothing`,
      [
        newId,
        checkId(thread.resourceId, "resourceId"),
        thread.title,
        metadataJson(thread.metadata, "metadata", limits),
        now,
      ],
    );
    if (made.rowCount === 0) throw new ConflictError(`Thread with id ${newId} already exists`);
    const messageIdMap: Record<string, string> = {};
    for (const { id } of chosen) messageIdMap[id] = crypto.randomUUID();
    await tx.query(
      `insert into ${q}.mastra_messages (id, thread_id, resource_id, role, type, content, metadata, created_at)
       select n.new_id, $3, $4, m.role, m.type, m.content, m.metadata, m.created_at
         from unnest($1::text[], $2::text[]) as n(old_id, new_id)
         join ${q}.mastra_messages m on m.id = n.old_id`,
      [Object.keys(messageIdMap), Object.values(messageIdMap), newId, thread.resourceId],
    );
    return { thread, messageIdMap };
  });
}
