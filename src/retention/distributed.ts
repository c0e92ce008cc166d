/**
 * Which executions retention may delete, on a schema distributed with Citus. The rule is the same as
 * executions.ts's (finished before the cut, no unfinished parent, no unfinished child), but there a
 * run's parent and children are on other shards, found by a column other than the distribution
 * column, and Citus locks rows with FOR UPDATE in one shard per statement. So the candidates are read
 * a page at a time (oldest first, every shard), their parents and children are read by id, and each
 * run that may go is locked alone (skipped when another transaction holds it), then its children are
 * read again: none can start under a run locked for update, as a child's start locks its parent.
 */

import type { SqlContext } from "../core/context.js";
import { liveRuns, runsWithLiveChildren } from "../executions/index.js";
import type { PrunableFilter } from "./executions.js";

interface Candidate {
  id: string;
  parent_execution_id: string | null;
  /** completed_at as the database's microsecond text: a Date's milliseconds would read a row again. */
  at: string;
}

/** The most candidates read in one statement. */
const PAGE = 1_000;

/**
 * The prunable runs of one prune, oldest first. Keeps its place between batches: a run read and left
 * (its parent or a child is still going, or another prune holds it) is not read again by this prune.
 */
export class PrunableOnCitus {
  private after: { at: string; id: string } | undefined;
  private done = false;

  constructor(private readonly filter: PrunableFilter) {}

  /** Up to `limit` runs that may go now, locked for the caller's transaction. */
  async lock({ db, q }: SqlContext, limit: number): Promise<string[]> {
    const locked: string[] = [];
    while (locked.length < limit && !this.done) {
      const ids = await this.nextPage({ db, q }, Math.min(PAGE, limit - locked.length));
      const mine: string[] = [];
      for (const id of ids) {
        const { rows } = await db.query(
          `select id from ${q}.executions
            where id = $1 and completed_at < $2 and status = any($3::text[]) for update skip locked`,
          [id, this.filter.finishedBefore, this.filter.statuses],
        );
        if (rows.length) mine.push(id);
      }
      const busy = await runsWithLiveChildren(db, q, mine);
      locked.push(...mine.filter((id) => !busy.has(id)));
    }
    return locked;
  }

  /** How many runs may go now (read, not locked). */
  async count(context: SqlContext): Promise<number> {
    let n = 0;
    while (!this.done) n += (await this.nextPage(context, PAGE)).length;
    return n;
  }

  /** The next page of candidates, less those whose parent or a child is still going. */
  private async nextPage({ db, q }: SqlContext, size: number): Promise<string[]> {
    const values: unknown[] = [this.filter.finishedBefore, this.filter.statuses, size];
    const after = this.after
      ? `and (completed_at, id) > ($${values.push(this.after.at)}::timestamptz, $${values.push(this.after.id)}::uuid)`
      : "";
    const { rows } = await db.query<Candidate>(
      `select id, parent_execution_id,
              to_char(completed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at
         from ${q}.executions
        where completed_at < $1 and status = any($2::text[]) ${after}
        order by completed_at, id limit $3`,
      values,
    );
    const last = rows[rows.length - 1];
    if (last) this.after = { at: last.at, id: last.id };
    if (rows.length < size) this.done = true;
    const parents = rows.flatMap((row) => (row.parent_execution_id ? [row.parent_execution_id] : []));
    const liveParents = await liveRuns(db, q, parents);
    const busy = await runsWithLiveChildren(
      db,
      q,
      rows.map((row) => row.id),
    );
    return rows
      .filter((row) => !(row.parent_execution_id && liveParents.has(row.parent_execution_id)))
      .filter((row) => !busy.has(row.id))
      .map((row) => row.id);
  }
}

/**
 * Rows of a table on the coordinator (completed-job history, dead jobs) older than the cut whose run is
 * none or gone, deleted up to `limit` at a time. Elsewhere one statement finds them by a correlated
 * NOT EXISTS on `executions`, a join of a local table with a distributed one that Citus does not run:
 * here a page of the table's rows is locked, the runs they name are read by id, and the rows whose run
 * is missing are deleted. Keeps its place like PrunableOnCitus: rows whose run is still there are not
 * read again by this prune.
 */
export class OrphansOnCitus {
  private after: { at: string; id: string } | undefined;
  private done = false;

  /** `where` selects the table's rows older than the cut ($1); `time` is the column they are ordered by. */
  constructor(
    private readonly table: "jobs_history" | "jobs",
    private readonly where: string,
    private readonly time: string,
  ) {}

  async delete({ db, q }: SqlContext, before: Date, limit: number): Promise<number> {
    let deleted = 0;
    while (deleted < limit && !this.done) {
      deleted += await db.transaction(async (tx) => {
        const size = limit - deleted;
        const values: unknown[] = [before, size];
        const after = this.after
          ? `and (${this.time}, id) > ($${values.push(this.after.at)}::timestamptz, $${values.push(this.after.id)}::uuid)`
          : "";
        const { rows } = await tx.query<{ id: string; execution_id: string | null; at: string }>(
          `select id, execution_id,
                  to_char(${this.time} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at
             from ${q}.${this.table} where ${this.where} ${after}
            order by ${this.time}, id limit $2 for update skip locked`,
          values,
        );
        const last = rows[rows.length - 1];
        if (last) this.after = { at: last.at, id: last.id };
        if (rows.length < size) this.done = true;
        const named = rows.flatMap((row) => (row.execution_id ? [row.execution_id] : []));
        const existing = named.length
          ? new Set(
              (
                await tx.query<{ id: string }>(`select id from ${q}.executions where id = any($1::uuid[])`, [
                  [...new Set(named)],
                ])
              ).rows.map((row) => row.id),
            )
          : new Set<string>();
        const orphans = rows.filter((row) => !row.execution_id || !existing.has(row.execution_id));
        if (orphans.length === 0) return 0;
        const { rowCount } = await tx.query(`delete from ${q}.${this.table} where id = any($1::uuid[])`, [
          orphans.map((row) => row.id),
        ]);
        return rowCount;
      });
    }
    return deleted;
  }
}
