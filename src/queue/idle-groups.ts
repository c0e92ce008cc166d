/**
 * Deleting groups that have no jobs left and no concurrency limit of their own: job_groups kept a row
 * per group ever used (migration 0025), and a queue of short-lived groups (a group per customer, per
 * upload) grows it for good. A worker does it with its vacuum (vacuum.ts), a window of groups at a time.
 *
 * The race to mind is an enqueue into a group at the moment it is deleted: a claim serves a group only
 * through its row, so a job committed into a group whose row is gone would never run. An enqueue holds
 * the rows of its groups FOR KEY SHARE from before it looks for them until it commits (groups.ts,
 * groupsOf); this deletes only the rows it could lock FOR UPDATE (skipping those an enqueue or a claim
 * holds), and looks for their jobs in a second statement, whose snapshot is taken once the locks are
 * held: it sees every enqueue that committed before them, and an enqueue that comes after them waits
 * for this transaction, then finds the row gone and adds it again.
 */

import type { SqlContext } from "../core/context.js";
import type { Queryable } from "../db/driver.js";

/** A group's key: where a window of groups starts or ends. */
export interface GroupKey {
  queue: string;
  name: string;
}

/** Groups a window reads at most: a pass's work is bounded whatever the number of groups. */
export const IDLE_GROUPS_WINDOW = 1_000;

/** SQL: the group `g` has no job left, of any status (a probe of each of its three indexes). */
function noJobs(q: string): string {
  const job = (status: string) =>
    `not exists (select 1 from ${q}.jobs j where j.queue = g.queue and j.group_name = g.name and ${status})`;
  return `${job("j.status = 'waiting'")} and ${job("j.status = 'running'")}
          and ${job("j.status not in ('waiting', 'running')")}`;
}

/**
 * Deletes the idle groups (no jobs, no limit) of one window: the `window` groups after `after` in key
 * order, with their wake-ups. Returns how many it deleted, and where the next window starts (null
 * when this one reached the last group: the next starts from the first again).
 */
export async function deleteIdleGroups(
  context: SqlContext,
  after: GroupKey | null,
  window = IDLE_GROUPS_WINDOW,
): Promise<{ deleted: number; next: GroupKey | null }> {
  const { q } = context;
  // ('', '') comes before every group: a queue's name is never empty.
  const from = [after?.queue ?? "", after?.name ?? ""];
  return context.db.transaction(
    async (tx: Queryable) => {
      const { rows: ends } = await tx.query<GroupKey & { n: number }>(
        `select queue, name, n from (
         select queue, name, count(*) over () as n from ${q}.job_groups g
          where (g.queue, g.name) > ($1, $2) order by g.queue, g.name limit $3) w
        order by queue desc, name desc limit 1`,
        [...from, window],
      );
      const end = ends[0];
      if (!end) return { deleted: 0, next: null };
      const { rows: locked } = await tx.query<{ queues: string[] | null; names: string[] | null }>(
        `select array_agg(queue) as queues, array_agg(name) as names from (
         select g.queue, g.name from ${q}.job_groups g
          where (g.queue, g.name) > ($1, $2) and (g.queue, g.name) <= ($3, $4)
            and g.concurrency is null and ${noJobs(q)}
          order by g.queue, g.name for update skip locked) l`,
        [...from, end.queue, end.name],
      );
      const { queues, names } = locked[0] ?? { queues: null, names: null };
      let deleted = 0;
      if (queues?.length) {
        // A new statement, a new snapshot: every enqueue that committed before the locks were taken.
        const { rows } = await tx.query<{ n: number }>(
          `with gone as (
           delete from ${q}.job_groups g using unnest($1::text[], $2::text[]) as l(queue, name)
            where g.queue = l.queue and g.name = l.name and g.concurrency is null and ${noJobs(q)}
           returning g.queue, g.name),
         woken as (
           delete from ${q}.job_group_wakeups w using gone where w.queue = gone.queue and w.name = gone.name)
         select count(*)::int as n from gone`,
          [queues, names],
        );
        deleted = rows[0]?.n ?? 0;
      }
      const last = Number(end.n) < window;
      return { deleted, next: last ? null : { queue: end.queue, name: end.name } };
      // Read committed whatever the server's default: the second statement needs a snapshot of its own.
    },
    { isolation: "read committed" },
  );
}
