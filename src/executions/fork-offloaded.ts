/**
 * A fork's copied steps and events may hold references to blobs under the source's key prefix
 * (offload/). Retention deletes those blobs with the source, so each is copied under the fork's own
 * prefix and its row made to name the copy: the fork stays whole whichever run is pruned first.
 */

import type { StoreContext } from "../core/context.js";
import {
  OFFLOADED,
  type OffloadedKind,
  offloadPrefix,
  putValue,
  readReferenced,
  referenceJson,
  referenceOf,
} from "../offload/index.js";

/** Each offloaded value's table, its key columns and the column that holds the reference. */
const PLACES: readonly { kind: OffloadedKind; table: string; key: string; column: string }[] = [
  { kind: "steps", table: "steps", key: "step_number", column: "output" },
  { kind: "events", table: "events", key: "seq", column: "payload" },
];

/** Copies the blobs the new run `id`'s rows name into its own prefix; one at a time, in its transaction. */
export async function copyOffloaded(context: StoreContext, id: string): Promise<void> {
  const { db, q } = context;
  for (const place of PLACES) {
    const { rows } = await db.query<{ key: number; value: unknown }>(
      `select ${place.key} as key, ${place.column} as value from ${q}.${place.table}
        where execution_id = $1 and ${place.column} ? $2`,
      [id, OFFLOADED],
    );
    for (const row of rows) {
      const reference = referenceOf(row.value);
      if (!reference) continue;
      const content = await readReferenced(context, reference.key);
      const value =
        reference.kind === "json"
          ? { json: content.toString("utf8"), bytes: null }
          : { json: null, bytes: content };
      const copy = await putValue(context, id, value, offloadPrefix(id, place.kind));
      await db.query(
        `update ${q}.${place.table} set ${place.column} = $3::jsonb where execution_id = $1 and ${place.key} = $2`,
        [id, row.key, referenceJson(copy)],
      );
    }
  }
}
