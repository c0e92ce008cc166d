/**
 * The ranges of a new embedded database made from the template (db/template/). The template holds the
 * ranges a store opened on the day it was made has: the first, and the range after it. Made into a new
 * database days or weeks later, those would be behind: the store's opening would make up to three ranges
 * (one for the days since, the week that holds today and the next), the longest part of a first start.
 *
 * The store is new, so its newest range holds nothing: rather than add ranges after it, it is stretched
 * to end where the first range of a store opened today ends, `days` after tomorrow, as a range made
 * after a long time with no range made covers the days missed. Its partitions are detached and attached
 * again with the new end, which costs catalog changes only (the tables are empty), in one transaction.
 */

import type { PGlite } from "@electric-sql/pglite";
import type { Queryable } from "../db/driver.js";
import { PgliteDriver } from "../db/pglite.js";
import { quoteIdentifier } from "../db/sql.js";
import type { TemplateRanges } from "../db/template/template.js";
import { addDays, startOfDay, uuidFloor } from "./bounds.js";
import { DEFAULT_DAYS, ensureRanges, listRanges, partitionOf } from "./ranges.js";
import { PARTITIONED_TABLES } from "./tables.js";

/**
 * The range work of a new embedded database, for a store whose ranges are `days` long: the template is
 * made with the default ranges (it serves every store), a database made from it fitted to `days`.
 */
export function templateRanges(days?: number): TemplateRanges {
  const queryable = (db: PGlite) => new PgliteDriver(db, { ownsDatabase: false });
  return {
    make: async (db, schema) => {
      await ensureRanges({ db: queryable(db), q: quoteIdentifier(schema) });
    },
    fit: (db, schema) => fitTemplateRanges(queryable(db), quoteIdentifier(schema), days),
  };
}

/**
 * Stretches (or shortens) the newest range of a database just made from the template to end `days`
 * after tomorrow; nothing when it already does, or when the ranges are not the template's two. Nothing
 * else may use the database meanwhile: it is called before the database is handed to anyone.
 */
export async function fitTemplateRanges(
  db: Queryable,
  q: string,
  days: number = DEFAULT_DAYS,
  now: Date = new Date(),
): Promise<void> {
  const ranges = await listRanges({ db, q });
  const newest = ranges[1];
  if (ranges.length !== 2 || !newest?.startsAt) return;
  const endsAt = addDays(startOfDay(now), 1 + days);
  if (endsAt <= newest.startsAt || endsAt.getTime() === newest.endsAt.getTime()) return;
  await db.transaction(async (tx) => {
    for (const table of PARTITIONED_TABLES) {
      await tx.query(`alter table ${q}.${table.name} detach partition ${partitionOf(q, table, newest.name)}`);
    }
    for (const table of PARTITIONED_TABLES) {
      await tx.query(
        `alter table ${q}.${table.name} attach partition ${partitionOf(q, table, newest.name)}
           for values from ('${uuidFloor(newest.startsAt as Date)}') to ('${uuidFloor(endsAt)}')`,
      );
    }
    await tx.query(`update ${q}.history_partitions set ends_at = $1, days = $2 where name = $3`, [
      endsAt,
      days,
      newest.name,
    ]);
  });
}
