/** Changing a thread's title and metadata: in one statement, or read, changed and written under its lock. */

import type { StorageThreadType } from "@mastra/core/memory";
import { NotFoundError } from "../../../core/errors.js";
import type { MastraSql } from "../tables.js";
import {
  checkId,
  checkTitle,
  metadataJson,
  THREAD_COLUMNS,
  type ThreadRow,
  toThread,
} from "./memory-rows.js";

export interface ThreadChange {
  id: string;
  title?: string;
  metadata?: Record<string, unknown>;
}

/** Changes what is given: the title, and the metadata's top-level keys (merged into what it has). */
export async function changeThread(
  { q, limits }: MastraSql,
  db: Pick<MastraSql["db"], "query">,
  change: ThreadChange,
): Promise<StorageThreadType> {
  const id = checkId(change.id, "id");
  const { rows } = await db.query<ThreadRow>(
    `update ${q}.mastra_threads set title = coalesce($2, title),
       metadata = case when $3::jsonb is null then metadata else coalesce(metadata, '{}') || $3::jsonb end,
       updated_at = now()
     where id = $1 returning ${THREAD_COLUMNS}`,
    [
      id,
      change.title === undefined ? null : checkTitle(change.title, "title"),
      metadataJson(change.metadata, "metadata", limits),
    ],
  );
  if (!rows[0]) throw new NotFoundError(`Thread ${id} not found`);
  return toThread(rows[0]);
}

/**
 * Mastra's read-modify-write of a thread's metadata (working memory kept in it, say) in one
 * transaction holding the thread's row: two processes updating one thread each see the other's change,
 * where Mastra's own default only orders the updates of one storage instance. Null when the thread (of
 * that resource, when one is given) is not there.
 */
export function updateThreadMetadata(
  sql: MastraSql,
  args: {
    id: string;
    resourceId?: string;
    update: (thread: StorageThreadType) => Record<string, unknown> | undefined;
  },
): Promise<StorageThreadType | null> {
  const id = checkId(args.id, "id");
  const resourceId = args.resourceId === undefined ? null : checkId(args.resourceId, "resourceId");
  return sql.db.transaction(async (tx) => {
    const { rows } = await tx.query<ThreadRow>(
      `select ${THREAD_COLUMNS} from ${sql.q}.mastra_threads
        where id = $1 and ($2::text is null or resource_id = $2) for update`,
      [id, resourceId],
    );
    if (!rows[0]) return null;
    const thread = toThread(rows[0]);
    const metadata = args.update(thread);
    return metadata ? changeThread(sql, tx, { id, metadata }) : thread;
  });
}
